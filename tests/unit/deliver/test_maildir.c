#include "common.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "deliver/target.h"
#include "util/err.h"
#include "util/spool.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

/*
 * fsync and syncfs, wrapped (meson.build links this test with
 * --wrap=fsync,--wrap=syncfs): the countdown makes the Nth call of
 * either from now fail with EIO; 0: no failure.
 */
int __real_fsync(int);
int __wrap_fsync(int);
int __real_syncfs(int);
int __wrap_syncfs(int);
static int fsync_fail_in;
static int fsync_calls, syncfs_calls;

int
__wrap_fsync(int fd)
{
	fsync_calls++;
	if (fsync_fail_in > 0 && --fsync_fail_in == 0) {
		errno = EIO;
		return -1;
	}
	return __real_fsync(fd);
}

int
__wrap_syncfs(int fd)
{
	syncfs_calls++;
	if (fsync_fail_in > 0 && --fsync_fail_in == 0) {
		errno = EIO;
		return -1;
	}
	return __real_syncfs(fd);
}

/* The group being run: files as O_TMPFILE inodes, or named in tmp/;
 * with O_TMPFILE, a batch synced by syncfs or by an fsync per file. */
static bool tmpfile_mode, syncfs_mode;

struct fixture {
	char dir[64];
	struct spool *sp;
	struct target *t;
	struct delivery d;
};

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP)
		chmod(path, 0700);
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	memcpy(f->dir, "/tmp/mp-test-maildir-XXXXXX", 28);
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->sp = spool_create(f->dir, 1024, 64 * 1024 * 1024);
	f->d.account = "acct1";
	f->d.server = "pop.example.net";
	f->d.protocol = "POP3";
	f->d.remote_id = "UIDL-1";
	memset(f->d.key, 0xa5, sizeof(f->d.key));
	fsync_fail_in = 0;
	fsync_calls = syncfs_calls = 0;
	maildir_tmpfile_use(tmpfile_mode);
	maildir_sync_mode(syncfs_mode ? MAILDIR_SYNC_FS : MAILDIR_SYNC_FILES);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	target_close(&f->t);
	spool_free(&f->sp);
	chmod(f->dir, 0700);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
open_target(struct fixture *f, const char *tmpl)
{
	struct target_uri u;
	struct err e = { 0 };
	char *uri;

	uri = xasprintf("maildir:%s/%s", f->dir, tmpl);
	if (target_uri_parse(uri, &u, &e) != 0)
		fail_msg("%s: %s", uri, err_msg(&e));
	if (target_open(&f->t, &u, &e) != 0)
		fail_msg("open: %s", err_msg(&e));
	target_uri_clear(&u);
	free(uri);
}

static void
fill_spool(struct fixture *f, const void *p, size_t n)
{
	unsigned char digest[SPOOL_DIGEST_LEN];
	struct err e = { 0 };

	spool_reset(f->sp);
	if (spool_write(f->sp, p, n, &e) != 0)
		fail_msg("spool: %s", err_msg(&e));
	spool_finish(f->sp, digest);
}

static void
sync_ok(struct fixture *f)
{
	struct err e = { 0 };

	if (target_sync(f->t, &e) != 0)
		fail_msg("sync: %s", err_msg(&e));
}

static int
count_entries(const char *dir, char *name_r, size_t namesz)
{
	DIR *dp;
	struct dirent *de;
	int n = 0;

	dp = opendir(dir);
	assert_non_null(dp);
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (name_r != NULL)
			(void)snprintf(name_r, namesz, "%s", de->d_name);
		n++;
	}
	closedir(dp);
	return n;
}

static char *
slurp(const char *path, size_t *len_r)
{
	struct stat st;
	char *p;
	int fd;

	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = xmalloc((size_t)st.st_size + 1);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*len_r = (size_t)st.st_size;
	return p;
}

/* Check one file: a Received: field first, then exactly msg. */
static void
check_file(const char *path, const char *name, const void *msg, size_t n)
{
	const char *sz, *errstr, *p;
	char *data;
	size_t len, hlen;
	long long s;

	data = slurp(path, &len);
	assert_true(strncmp(name, "mp", 2) == 0);
	assert_non_null(sz = strstr(name, ",S="));
	s = strnum(sz + 3, 0, INT64_MAX, &errstr);
	assert_null(errstr);
	assert_int_equal(s, (long long)len);
	assert_true(strncmp(data, "Received: from pop.example.net by ", 34)
	    == 0);
	/* The field ends at the first LF not followed by a tab. */
	for (p = data; ; p++) {
		p = memchr(p, '\n', len - (size_t)(p - data));
		assert_non_null(p);
		if (p[1] != '\t')
			break;
	}
	hlen = (size_t)(p + 1 - data);
	assert_non_null(memmem(data, hlen, "(account acct1, id UIDL-1);",
	    27));
	assert_int_equal(len - hlen, n);
	assert_memory_equal(data + hlen, msg, n);
	free(data);
}

static const char msg1[] =
    "From: a@example.net\nTo: joe@example.org\nSubject: caf\xc3\xa9\n"
    "\nbody with a NUL \0 here\nand 8-bit \xff\xfe\nno final newline";

static void
test_deliver_basic(void **state)
{
	struct fixture *f = *state;
	struct err e = { 0 };
	char newdir[128], tmpdir[128], path[512], name[256], want[40];
	struct stat st;

	open_target(f, "%d/%u");
	fill_spool(f, msg1, sizeof(msg1) - 1);
	if (target_deliver(f->t, f->sp, "Joe@Example.ORG", &f->d, &e) != 0)
		fail_msg("deliver: %s", err_msg(&e));
	(void)snprintf(newdir, sizeof(newdir), "%s/example.org/Joe/new",
	    f->dir);
	(void)snprintf(tmpdir, sizeof(tmpdir), "%s/example.org/Joe/tmp",
	    f->dir);
	/* Group commit: in tmp/ (unnamed with O_TMPFILE) until the sync,
	 * then only in new/. */
	assert_int_equal(count_entries(newdir, NULL, 0), 0);
	assert_int_equal(count_entries(tmpdir, NULL, 0), tmpfile_mode ? 0 : 1);
	sync_ok(f);
	assert_int_equal(count_entries(newdir, name, sizeof(name)), 1);
	assert_int_equal(count_entries(tmpdir, NULL, 0), 0);
	memset(want, 0, sizeof(want));
	memcpy(want, "mp", 2);
	memset(want + 2, 0, 32);
	for (int i = 0; i < 16; i++)
		memcpy(want + 2 + i * 2, "a5", 2);
	assert_true(strncmp(name, want, 34) == 0);
	assert_int_equal(name[34], '.');
	(void)snprintf(path, sizeof(path), "%s/%s", newdir, name);
	check_file(path, name, msg1, sizeof(msg1) - 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	(void)snprintf(path, sizeof(path), "%s/example.org/Joe", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	(void)snprintf(path, sizeof(path), "%s/example.org/Joe/cur", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));

	/* Same key again: already there, no second file, success. */
	if (target_deliver(f->t, f->sp, "Joe@Example.ORG", &f->d, &e) != 0)
		fail_msg("redeliver: %s", err_msg(&e));
	assert_int_equal(count_entries(newdir, NULL, 0), 1);
	/* Another target (a later pass), same key: still one file. */
	target_close(&f->t);
	open_target(f, "%d/%u");
	assert_int_equal(target_deliver(f->t, f->sp, "Joe@Example.ORG",
	    &f->d, &e), 0);
	assert_int_equal(count_entries(newdir, NULL, 0), 1);
	assert_int_equal(count_entries(tmpdir, NULL, 0), 0);

	/* A different key: a second file. */
	f->d.key[0] = 0x01;
	assert_int_equal(target_deliver(f->t, f->sp, "Joe@Example.ORG",
	    &f->d, &e), 0);
	sync_ok(f);
	assert_int_equal(count_entries(newdir, NULL, 0), 2);
	assert_int_equal(count_entries(tmpdir, NULL, 0), 0);
	if (target_sync(f->t, &e) != 0)
		fail_msg("sync: %s", err_msg(&e));
	/* Nothing to sync is fine too. */
	assert_int_equal(target_sync(f->t, &e), 0);
}

static void
test_deliver_large(void **state)
{
	struct fixture *f = *state;
	struct err e = { 0 };
	char newdir[128], path[512], name[256];
	unsigned char *big;
	size_t n = 300 * 1024 + 17, i;

	big = xmalloc(n);
	for (i = 0; i < n; i++)
		big[i] = (unsigned char)(i * 7 + (i >> 9));
	open_target(f, "box");
	fill_spool(f, big, n);
	if (target_deliver(f->t, f->sp, "u@d", &f->d, &e) != 0)
		fail_msg("deliver: %s", err_msg(&e));
	sync_ok(f);
	(void)snprintf(newdir, sizeof(newdir), "%s/box/new", f->dir);
	assert_int_equal(count_entries(newdir, name, sizeof(name)), 1);
	(void)snprintf(path, sizeof(path), "%s/%s", newdir, name);
	check_file(path, name, big, n);
	free(big);
}

static void
test_deliver_empty_message(void **state)
{
	struct fixture *f = *state;
	struct err e = { 0 };
	char newdir[128], path[512], name[256];

	open_target(f, "box");
	fill_spool(f, "", 0);
	assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e), 0);
	sync_ok(f);
	(void)snprintf(newdir, sizeof(newdir), "%s/box/new", f->dir);
	assert_int_equal(count_entries(newdir, name, sizeof(name)), 1);
	(void)snprintf(path, sizeof(path), "%s/%s", newdir, name);
	check_file(path, name, "", 0);
}

/* A tmp/NAME left by a crash is replaced. */
static void
test_stale_tmp(void **state)
{
	struct fixture *f = *state;
	struct err e = { 0 };
	char dir[128], path[512], name[256];
	int fd;

	open_target(f, "a/%u");
	fill_spool(f, msg1, sizeof(msg1) - 1);
	assert_int_equal(target_deliver(f->t, f->sp, "x@d", &f->d, &e), 0);
	sync_ok(f);
	(void)snprintf(dir, sizeof(dir), "%s/a/x/new", f->dir);
	assert_int_equal(count_entries(dir, name, sizeof(name)), 1);

	/* Same name (same rcpt length and host) under another maildir. */
	(void)snprintf(path, sizeof(path), "%s/a/y", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	(void)snprintf(path, sizeof(path), "%s/a/y/tmp", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	(void)snprintf(path, sizeof(path), "%s/a/y/tmp/%s", f->dir, name);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "junk", 4), 4);
	close(fd);
	if (target_deliver(f->t, f->sp, "y@d", &f->d, &e) != 0)
		fail_msg("deliver: %s", err_msg(&e));
	sync_ok(f);
	/* O_TMPFILE never looks at tmp/NAME: the stale file stays for the
	 * readers' tmp/ cleaning (36 hours, Maildir spec). */
	(void)snprintf(dir, sizeof(dir), "%s/a/y/tmp", f->dir);
	assert_int_equal(count_entries(dir, NULL, 0), tmpfile_mode ? 1 : 0);
	(void)snprintf(path, sizeof(path), "%s/a/y/new/%s", f->dir, name);
	check_file(path, name, msg1, sizeof(msg1) - 1);
}

static void
test_bad_rcpt(void **state)
{
	struct fixture *f = *state;
	struct err e = { 0 };

	open_target(f, "%u");
	fill_spool(f, "x\n", 2);
	assert_int_equal(target_deliver(f->t, f->sp, "../etc@d", &f->d, &e),
	    -1);
	assert_int_equal(e.cls, ERR_PERM);
	err_clear(&e);
	assert_int_equal(target_deliver(f->t, f->sp, "..@d", &f->d, &e), -1);
	assert_int_equal(e.cls, ERR_PERM);
	err_clear(&e);
	assert_int_equal(target_deliver(f->t, f->sp, "bare", &f->d, &e), -1);
	assert_int_equal(e.cls, ERR_PERM);
	err_clear(&e);
	assert_int_equal(count_entries(f->dir, NULL, 0), 0);
}

static void
test_unwritable(void **state)
{
	struct fixture *f = *state;
	struct err e = { 0 };
	char path[256];
	int fd;

	/* A regular file where a directory should be: fails even as root. */
	(void)snprintf(path, sizeof(path), "%s/file", f->dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	open_target(f, "file/%u");
	fill_spool(f, "x\n", 2);
	assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e), -1);
	assert_int_equal(e.cls, ERR_LOCAL);
	if (strstr(err_msg(&e), path) == NULL)
		fail_msg("no path in \"%s\"", err_msg(&e));
	err_clear(&e);
	target_close(&f->t);

	if (geteuid() == 0)
		return;	/* root ignores directory modes */
	(void)snprintf(path, sizeof(path), "%s/ro", f->dir);
	assert_int_equal(mkdir(path, 0500), 0);
	open_target(f, "ro/%u");
	assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e), -1);
	assert_int_equal(e.cls, ERR_LOCAL);
	if (strstr(err_msg(&e), path) == NULL)
		fail_msg("no path in \"%s\"", err_msg(&e));
	err_clear(&e);
}

/* A maildir removed during the pass is made again. */
static void
test_removed_midpass(void **state)
{
	struct fixture *f = *state;
	struct err e = { 0 };
	char path[256];

	open_target(f, "box");
	fill_spool(f, "x\n", 2);
	assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e), 0);
	sync_ok(f);
	(void)snprintf(path, sizeof(path), "%s/box", f->dir);
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	f->d.key[1] ^= 0xff;
	if (target_deliver(f->t, f->sp, "u@d", &f->d, &e) != 0)
		fail_msg("deliver: %s", err_msg(&e));
	sync_ok(f);
	(void)snprintf(path, sizeof(path), "%s/box/new", f->dir);
	assert_int_equal(count_entries(path, NULL, 0), 1);
}

/* Removed between the deliver and the sync: the file written is gone, so
 * the sync fails (the message must not count as delivered). */
static void
test_removed_before_sync(void **state)
{
	struct fixture *f = *state;
	struct err e = { 0 };
	char path[256];

	open_target(f, "box");
	fill_spool(f, "x\n", 2);
	assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e), 0);
	(void)snprintf(path, sizeof(path), "%s/box", f->dir);
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	assert_int_equal(target_sync(f->t, &e), -1);
	assert_int_equal(e.cls, ERR_LOCAL);
	err_clear(&e);
	assert_int_equal(target_sync(f->t, &e), -1);
	err_clear(&e);
}

/* A batch: nothing in new/ before the sync, everything after; one fsync
 * per file, then the directories (new/, tmp/) once each. */
static void
test_batch(void **state)
{
	struct fixture *f = *state;
	struct err e = { 0 };
	char newdir[128], tmpdir[128], path[512], name[256];
	int i;

	open_target(f, "box");
	(void)snprintf(newdir, sizeof(newdir), "%s/box/new", f->dir);
	(void)snprintf(tmpdir, sizeof(tmpdir), "%s/box/tmp", f->dir);
	fill_spool(f, msg1, sizeof(msg1) - 1);
	for (i = 0; i < 10; i++) {
		f->d.key[0] = (unsigned char)i;
		if (target_deliver(f->t, f->sp, "u@d", &f->d, &e) != 0)
			fail_msg("deliver %d: %s", i, err_msg(&e));
	}
	assert_int_equal(fsync_calls, 0);
	assert_int_equal(count_entries(newdir, NULL, 0), 0);
	assert_int_equal(count_entries(tmpdir, NULL, 0),
	    tmpfile_mode ? 0 : 10);
	sync_ok(f);
	/* 10 files, new/, tmp/ (not with O_TMPFILE: no entry was made or
	 * removed there) and what was made (the fixture dir, box); with
	 * syncfs, the file system twice (the files, then the links) */
	if (syncfs_mode) {
		assert_int_equal(fsync_calls, 0);
		assert_int_equal(syncfs_calls, 2);
	} else {
		assert_int_equal(fsync_calls, 10 + (tmpfile_mode ? 3 : 4));
		assert_int_equal(syncfs_calls, 0);
	}
	assert_int_equal(count_entries(newdir, name, sizeof(name)), 10);
	assert_int_equal(count_entries(tmpdir, NULL, 0), 0);
	(void)snprintf(path, sizeof(path), "%s/%s", newdir, name);
	check_file(path, name, msg1, sizeof(msg1) - 1);
	/* An empty batch syncs nothing. */
	fsync_calls = 0;
	sync_ok(f);
	assert_int_equal(fsync_calls, 0);
}

/* A failed fsync of the Nth file fails the sync: no file of the batch in
 * new/, none left in tmp/, and the target stays failed (a later sync or
 * delivery fails: the pass cannot record the batch after all). */
static void
fail_at(struct fixture *f, int nth, bool before_links)
{
	struct err e = { 0 };
	char newdir[128], tmpdir[128];
	int i;

	open_target(f, "box");
	(void)snprintf(newdir, sizeof(newdir), "%s/box/new", f->dir);
	(void)snprintf(tmpdir, sizeof(tmpdir), "%s/box/tmp", f->dir);
	fill_spool(f, msg1, sizeof(msg1) - 1);
	for (i = 0; i < 5; i++) {
		f->d.key[0] = (unsigned char)i;
		assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e),
		    0);
	}
	fsync_fail_in = nth;
	assert_int_equal(target_sync(f->t, &e), -1);
	assert_int_equal(e.cls, ERR_LOCAL);
	if (strstr(err_msg(&e), syncfs_mode ? "syncfs" : "fsync") == NULL)
		fail_msg("no fsync or syncfs in \"%s\"", err_msg(&e));
	err_clear(&e);
	assert_int_equal(count_entries(tmpdir, NULL, 0), 0);
	if (before_links)
		assert_int_equal(count_entries(newdir, NULL, 0), 0);
	assert_int_equal(target_sync(f->t, &e), -1);
	err_clear(&e);
	f->d.key[0] = 0x77;
	assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e), -1);
	err_clear(&e);
	assert_int_equal(count_entries(tmpdir, NULL, 0), 0);
	target_close(&f->t);

	/* The next pass delivers again and succeeds. */
	open_target(f, "box");
	for (i = 0; i < 5; i++) {
		f->d.key[0] = (unsigned char)i;
		assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e),
		    0);
	}
	sync_ok(f);
	assert_int_equal(count_entries(newdir, NULL, 0), 5);
	assert_int_equal(count_entries(tmpdir, NULL, 0), 0);
}

static void
test_fsync_fails_first(void **state)
{
	fail_at(*state, 1, true);
}

/* syncfs mode: one sync for the files, so the first is the only one */
static void
test_fsync_fails_third(void **state)
{
	fail_at(*state, syncfs_mode ? 1 : 3, true);
}

/* the files are fine, a directory's fsync (the second syncfs) fails:
 * still a failed sync */
static void
test_fsync_fails_dir(void **state)
{
	fail_at(*state, syncfs_mode ? 2 : 6, false);
}

/* Closed without a sync (the pass failed): the tmp/ files go, nothing is
 * in new/. */
static void
test_close_unsynced(void **state)
{
	struct fixture *f = *state;
	struct err e = { 0 };
	char path[256];

	open_target(f, "box");
	fill_spool(f, "x\n", 2);
	assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e), 0);
	target_close(&f->t);
	(void)snprintf(path, sizeof(path), "%s/box/tmp", f->dir);
	assert_int_equal(count_entries(path, NULL, 0), 0);
	(void)snprintf(path, sizeof(path), "%s/box/new", f->dir);
	assert_int_equal(count_entries(path, NULL, 0), 0);
}

/* The same name twice in one batch (same key, same size): one file. And
 * a name already in new/ (an earlier pass crashed before its commit):
 * nothing written, success. */
static void
test_duplicate_in_batch(void **state)
{
	struct fixture *f = *state;
	struct err e = { 0 };
	char newdir[128], tmpdir[128], path[512], name[256];

	open_target(f, "box");
	(void)snprintf(newdir, sizeof(newdir), "%s/box/new", f->dir);
	(void)snprintf(tmpdir, sizeof(tmpdir), "%s/box/tmp", f->dir);
	fill_spool(f, msg1, sizeof(msg1) - 1);
	assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e), 0);
	assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e), 0);
	assert_int_equal(count_entries(tmpdir, NULL, 0), tmpfile_mode ? 0 : 1);
	sync_ok(f);
	assert_int_equal(count_entries(newdir, name, sizeof(name)), 1);
	assert_int_equal(count_entries(tmpdir, NULL, 0), 0);
	(void)snprintf(path, sizeof(path), "%s/%s", newdir, name);
	check_file(path, name, msg1, sizeof(msg1) - 1);

	/* re-delivery by a later pass: found in new/, nothing written */
	target_close(&f->t);
	open_target(f, "box");
	fsync_calls = 0;
	assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e), 0);
	assert_int_equal(count_entries(tmpdir, NULL, 0), 0);
	sync_ok(f);
	assert_int_equal(fsync_calls, 1);	/* new/ only */
	assert_int_equal(count_entries(newdir, NULL, 0), 1);
	check_file(path, name, msg1, sizeof(msg1) - 1);
}

/* tmp/NAME replaced between the deliver and the sync: not ours, so the
 * sync fails rather than link someone else's file into new/. */
static void
test_replaced_before_sync(void **state)
{
	struct fixture *f = *state;
	struct err e = { 0 };
	char tmpdir[128], newdir[128], name[256], path[512], tmp2[512];
	int fd;

	if (tmpfile_mode)
		skip();	/* no name in tmp/ to replace */
	open_target(f, "box");
	(void)snprintf(newdir, sizeof(newdir), "%s/box/new", f->dir);
	(void)snprintf(tmpdir, sizeof(tmpdir), "%s/box/tmp", f->dir);
	fill_spool(f, msg1, sizeof(msg1) - 1);
	assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e), 0);
	assert_int_equal(count_entries(tmpdir, name, sizeof(name)), 1);
	/* made while ours exists (another inode), then renamed over it */
	(void)snprintf(path, sizeof(path), "%s/other", tmpdir);
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	(void)snprintf(tmp2, sizeof(tmp2), "%s/%s", tmpdir, name);
	assert_int_equal(rename(path, tmp2), 0);
	assert_int_equal(target_sync(f->t, &e), -1);
	if (strstr(err_msg(&e), "replaced") == NULL)
		fail_msg("\"%s\"", err_msg(&e));
	err_clear(&e);
	assert_int_equal(count_entries(newdir, NULL, 0), 0);
	assert_int_equal(count_entries(tmpdir, NULL, 0), 0);
}

static int
count_fds(void)
{
	char dir[] = "/proc/self/fd";

	return count_entries(dir, NULL, 0);
}

/* Every descriptor held for a batch is given back: after a sync, after a
 * failed sync, and at a close without a sync; and a batch larger than the
 * per-batch hold falls back to named files and still syncs whole. */
static void
test_descriptors_released(void **state)
{
	struct fixture *f = *state;
	struct err e = { 0 };
	char newdir[128];
	int base, i;

	base = count_fds();
	open_target(f, "box");
	(void)snprintf(newdir, sizeof(newdir), "%s/box/new", f->dir);
	fill_spool(f, msg1, sizeof(msg1) - 1);
	for (i = 0; i < 200; i++) {
		f->d.key[0] = (unsigned char)i;
		assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e),
		    0);
	}
	if (tmpfile_mode)
		assert_true(count_fds() > base + 100);
	sync_ok(f);
	assert_int_equal(count_fds(), base);
	assert_int_equal(count_entries(newdir, NULL, 0), 200);
	for (i = 0; i < 10; i++) {
		f->d.key[0] = (unsigned char)i;
		f->d.key[1] = 1;
		assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e),
		    0);
	}
	fsync_fail_in = syncfs_mode ? 1 : 2;
	assert_int_equal(target_sync(f->t, &e), -1);
	err_clear(&e);
	assert_int_equal(count_fds(), base);
	assert_int_equal(count_entries(newdir, NULL, 0), 200);
	target_close(&f->t);

	open_target(f, "box");
	f->d.key[1] = 2;
	assert_int_equal(target_deliver(f->t, f->sp, "u@d", &f->d, &e), 0);
	target_close(&f->t);
	assert_int_equal(count_fds(), base);
	assert_int_equal(count_entries(newdir, NULL, 0), 200);
}

static int
group_named(void **state)
{
	(void)state;
	tmpfile_mode = syncfs_mode = false;
	return 0;
}

static int
group_tmpfile(void **state)
{
	(void)state;
	tmpfile_mode = true;
	syncfs_mode = false;
	return 0;
}

static int
group_syncfs(void **state)
{
	(void)state;
	tmpfile_mode = syncfs_mode = true;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deliver_basic, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deliver_large, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deliver_empty_message,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_tmp, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_rcpt, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unwritable, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_removed_midpass, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_removed_before_sync,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_fails_first, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fsync_fails_third, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fsync_fails_dir, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close_unsynced, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_in_batch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_replaced_before_sync,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_descriptors_released,
		    setup, teardown),
	};
	int failed;

	failed = cmocka_run_group_tests_name("named tmp/ files", tests,
	    group_named, NULL);
	failed += cmocka_run_group_tests_name("O_TMPFILE, fsync per file",
	    tests, group_tmpfile, NULL);
	failed += cmocka_run_group_tests_name("O_TMPFILE, syncfs", tests,
	    group_syncfs, NULL);
	return failed;
}
