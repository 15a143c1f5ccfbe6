#include "common.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/secret.h"
#include "util/err.h"
#include "util/xmalloc.h"

#include "tmpdir.h"

static int
setup(void **state)
{
	*state = tmpdir_make();
	return 0;
}

static int
teardown(void **state)
{
	char *t = *state;

	tmpdir_remove(&t);
	return 0;
}

static char *
key_path(const char *dir)
{
	return xasprintf("%s/%s", dir, SECRET_KEY_FILE);
}

static void
test_key_create_and_reload(void **state)
{
	const char *dir = *state;
	unsigned char k1[SECRET_KEY_LEN], k2[SECRET_KEY_LEN];
	unsigned char zero[SECRET_KEY_LEN] = { 0 };
	struct err e = { 0 };
	struct stat sb;
	char *path = key_path(dir);

	assert_int_equal(secret_key_load(dir, k1, &e), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_size, SECRET_KEY_LEN);
	assert_memory_not_equal(k1, zero, sizeof(k1));
	/* The second load reads the same key, it does not make a new one. */
	assert_int_equal(secret_key_load(dir, k2, &e), 0);
	assert_memory_equal(k1, k2, sizeof(k1));
	free(path);
	err_clear(&e);
}

static void
test_key_mode_refused(void **state)
{
	const char *dir = *state;
	unsigned char k[SECRET_KEY_LEN];
	struct err e = { 0 };
	char *path = key_path(dir);

	assert_int_equal(secret_key_load(dir, k, &e), 0);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(secret_key_load(dir, k, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_non_null(strstr(err_msg(&e), path));
	assert_non_null(strstr(err_msg(&e), "0644"));
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(secret_key_load(dir, k, &e), -1);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(secret_key_load(dir, k, &e), 0);
	free(path);
	err_clear(&e);
}

static void
test_key_size_refused(void **state)
{
	const char *dir = *state;
	unsigned char k[SECRET_KEY_LEN];
	struct err e = { 0 };
	char *path = key_path(dir);
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "short", 5), 5);
	close(fd);
	assert_int_equal(secret_key_load(dir, k, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_non_null(strstr(err_msg(&e), path));
	assert_non_null(strstr(err_msg(&e), "size"));
	free(path);
	err_clear(&e);
}

static void
test_seal_open(void **state)
{
	const char *dir = *state;
	unsigned char k[SECRET_KEY_LEN], other[SECRET_KEY_LEN];
	unsigned char pw[4096], *blob, *blob2;
	size_t blen, blen2, len, i;
	struct err e = { 0 };
	char *pt;

	/* Any byte but NUL and newline. */
	for (i = 0; i < sizeof(pw); i++) {
		pw[i] = (unsigned char)(1 + i % 255);
		if (pw[i] == '\n')
			pw[i] = 'x';
	}
	assert_int_equal(secret_key_load(dir, k, &e), 0);
	assert_int_equal(secret_seal(k, pw, sizeof(pw), &blob, &blen), 0);
	assert_true(blen > sizeof(pw));
	assert_int_equal(secret_open(k, blob, blen, &pt, &len, &e), 0);
	assert_int_equal(len, sizeof(pw));
	assert_memory_equal(pt, pw, sizeof(pw));
	assert_int_equal(pt[len], '\0');
	secret_free(&pt, len);
	assert_null(pt);

	/* A fresh nonce each time: same plaintext, different blobs. */
	assert_int_equal(secret_seal(k, pw, sizeof(pw), &blob2, &blen2), 0);
	assert_int_equal(blen, blen2);
	assert_memory_not_equal(blob, blob2, blen);
	free(blob2);

	/* Tampered: one bit in the ciphertext, in the nonce, truncated. */
	blob[blen - 1] ^= 1;
	assert_int_equal(secret_open(k, blob, blen, &pt, &len, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	blob[blen - 1] ^= 1;
	blob[0] ^= 0x80;
	assert_int_equal(secret_open(k, blob, blen, &pt, &len, &e), -1);
	blob[0] ^= 0x80;
	assert_int_equal(secret_open(k, blob, 10, &pt, &len, &e), -1);
	assert_int_equal(secret_open(k, blob, blen - 1, &pt, &len, &e), -1);
	/* Another key. */
	memset(other, 7, sizeof(other));
	assert_int_equal(secret_open(other, blob, blen, &pt, &len, &e), -1);
	/* Untouched it still opens. */
	assert_int_equal(secret_open(k, blob, blen, &pt, &len, &e), 0);
	secret_free(&pt, len);
	free(blob);

	/* Empty secret. */
	assert_int_equal(secret_seal(k, "", 0, &blob, &blen), 0);
	assert_int_equal(secret_open(k, blob, blen, &pt, &len, &e), 0);
	assert_int_equal(len, 0);
	assert_string_equal(pt, "");
	secret_free(&pt, len);
	free(blob);
	err_clear(&e);
}

/* The key from the environment: used instead of the key file, which is
 * neither read nor created; a bad value is refused without echoing it. */
static void
test_key_env(void **state)
{
	const char *dir = *state;
	unsigned char k[SECRET_KEY_LEN], want[SECRET_KEY_LEN];
	struct err e = { 0 };
	struct stat sb;
	char *path = key_path(dir);
	char *src;
	size_t i;
	static const char *const bad[] = {
		"0011", "zz00112233445566778899aabbccddeeff00112233445566778899"
		"aabbccddee",
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddee"
		"ff00",
		" 0112233445566778899aabbccddeeff"
		"00112233445566778899aabbccddeeff",
	};

	for (i = 0; i < SECRET_KEY_LEN; i++)
		want[i] = (unsigned char)(i % 16 * 0x11);
	assert_int_equal(setenv(SECRET_KEY_ENV, "00112233445566778899AABBCCDD"
	    "EEFF00112233445566778899aabbccddeeff", 1), 0);
	assert_int_equal(secret_key_load(dir, k, &e), 0);
	assert_memory_equal(k, want, sizeof(k));
	assert_int_equal(stat(path, &sb), -1);
	src = secret_key_source(dir);
	assert_string_equal(src, "$" SECRET_KEY_ENV);
	free(src);

	for (i = 0; i < MP_ARRAY_LEN(bad); i++) {
		assert_int_equal(setenv(SECRET_KEY_ENV, bad[i], 1), 0);
		assert_int_equal(secret_key_load(dir, k, &e), -1);
		assert_int_equal(e.cls, ERR_CONFIG);
		assert_non_null(strstr(err_msg(&e), SECRET_KEY_ENV));
		assert_null(strstr(err_msg(&e), "0011"));
		assert_int_equal(stat(path, &sb), -1);
	}

	/* Empty is unset: the key file again. */
	assert_int_equal(setenv(SECRET_KEY_ENV, "", 1), 0);
	assert_int_equal(secret_key_load(dir, k, &e), 0);
	assert_int_equal(stat(path, &sb), 0);
	src = secret_key_source(dir);
	assert_string_equal(src, path);
	free(src);
	assert_int_equal(unsetenv(SECRET_KEY_ENV), 0);
	free(path);
	err_clear(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_key_create_and_reload,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_mode_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_key_size_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_seal_open, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_key_env, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
