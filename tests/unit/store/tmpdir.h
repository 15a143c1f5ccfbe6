/*
 * tmpdir.h - a temporary directory per test, removed afterwards.
 * Test-only helper shared by the store tests.
 */
#ifndef MP_TEST_TMPDIR_H
#define MP_TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *
tmpdir_make(void)
{
	const char *base = getenv("TMPDIR");
	char *t;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	t = xasprintf("%s/mp-store-test.XXXXXX", base);
	if (mkdtemp(t) == NULL) {
		perror("mkdtemp");
		abort();
	}
	return t;
}

static int
tmpdir_rm_one(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
tmpdir_remove(char **t)
{
	if (*t == NULL)
		return;
	nftw(*t, tmpdir_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(*t);
	*t = NULL;
}

#endif
