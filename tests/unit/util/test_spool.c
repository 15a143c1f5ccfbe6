#include "common.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "util/err.h"
#include "util/spool.h"

struct fixture {
	char dir[64];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/mp-spool-test.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	(void)rmdir(f->dir);
	free(f);
	return 0;
}

static size_t
dir_entries(const char *dir)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 131 + seed * 7 + (i >> 8)) & 0xff);
}

/* Read everything back through spool_read in chunks of step bytes. */
static unsigned char *
read_all(struct spool *s, size_t step, size_t *len_r)
{
	unsigned char *out, tmp[1000];
	struct err e = { 0 };
	size_t len = 0, cap = 1024;
	ssize_t r;

	assert_true(step <= sizeof(tmp));
	out = malloc(cap);
	assert_non_null(out);
	assert_int_equal(spool_rewind(s, &e), 0);
	while ((r = spool_read(s, tmp, step, &e)) > 0) {
		assert_true((size_t)r <= step);
		if (len + (size_t)r > cap) {
			cap = (len + (size_t)r) * 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		memcpy(out + len, tmp, (size_t)r);
		len += (size_t)r;
	}
	assert_int_equal(r, 0);
	err_clear(&e);
	*len_r = len;
	return out;
}

static void
assert_digest(struct spool *s, const unsigned char *p, size_t n)
{
	unsigned char want[SPOOL_DIGEST_LEN], got[SPOOL_DIGEST_LEN];

	crypto_generichash(want, sizeof(want), p, n, NULL, 0);
	spool_finish(s, got);
	assert_memory_equal(got, want, sizeof(want));
	/* Asking again gives the same digest. */
	memset(got, 0, sizeof(got));
	spool_finish(s, got);
	assert_memory_equal(got, want, sizeof(want));
}

static void
test_memory(void **state)
{
	struct fixture *f = *state;
	static const char msg[] = "From: a@example.org\nSubject: hi\n\nbody\n";
	struct err e = { 0 };
	struct spool *s;
	unsigned char *back;
	const char *mem;
	char head[8];
	size_t len;

	s = spool_create(f->dir, 1024, 1 << 20);
	assert_non_null(s);
	assert_int_equal(spool_write(s, msg, 10, &e), 0);
	assert_int_equal(spool_write(s, msg + 10, sizeof(msg) - 11, &e), 0);
	assert_int_equal(spool_write(s, "", 0, &e), 0);
	assert_true(spool_size(s) == sizeof(msg) - 1);
	assert_int_equal(dir_entries(f->dir), 0);
	assert_digest(s, (const unsigned char *)msg, sizeof(msg) - 1);

	mem = spool_mem(s, &len);
	assert_non_null(mem);
	assert_int_equal(len, sizeof(msg) - 1);
	assert_memory_equal(mem, msg, len);

	assert_int_equal(spool_head(s, head, sizeof(head)), sizeof(head));
	assert_memory_equal(head, "From: a@", 8);

	back = read_all(s, 7, &len);
	assert_int_equal(len, sizeof(msg) - 1);
	assert_memory_equal(back, msg, len);
	free(back);
	/* Reading again after a rewind gives the same bytes. */
	back = read_all(s, 1000, &len);
	assert_int_equal(len, sizeof(msg) - 1);
	free(back);
	spool_free(&s);
	assert_null(s);
	spool_free(&s);
}

static void
test_empty(void **state)
{
	struct fixture *f = *state;
	struct err e = { 0 };
	struct spool *s;
	const char *mem;
	char tmp[4];
	size_t len = 99;

	s = spool_create(f->dir, 16, 0);
	assert_true(spool_size(s) == 0);
	mem = spool_mem(s, &len);
	assert_non_null(mem);
	assert_int_equal(len, 0);
	assert_int_equal(spool_head(s, tmp, sizeof(tmp)), 0);
	assert_int_equal(spool_rewind(s, &e), 0);
	assert_int_equal(spool_read(s, tmp, sizeof(tmp), &e), 0);
	assert_digest(s, (const unsigned char *)"", 0);
	spool_free(&s);
}

static void
test_file(void **state)
{
	struct fixture *f = *state;
	enum { MEM = 100, TOTAL = 100000 };
	unsigned char *data, *back;
	struct err e = { 0 };
	struct spool *s;
	char head[300];
	size_t off, n, len;

	data = malloc(TOTAL);
	assert_non_null(data);
	fill(data, TOTAL, 1);
	s = spool_create(f->dir, MEM, TOTAL);
	/* Odd chunk sizes so the spill happens mid-chunk. */
	for (off = 0; off < TOTAL; off += n) {
		n = MP_MIN((size_t)37 + off % 301, TOTAL - off);
		assert_int_equal(spool_write(s, data + off, n, &e), 0);
		/* The temporary file is never visible in tmpdir. */
		assert_int_equal(dir_entries(f->dir), 0);
	}
	assert_true(spool_size(s) == TOTAL);
	assert_null(spool_mem(s, &len));
	assert_int_equal(len, 0);
	assert_digest(s, data, TOTAL);

	assert_int_equal(spool_head(s, head, sizeof(head)), sizeof(head));
	assert_memory_equal(head, data, sizeof(head));

	back = read_all(s, 999, &len);
	assert_int_equal(len, TOTAL);
	assert_memory_equal(back, data, TOTAL);
	free(back);
	back = read_all(s, 1, &len);
	assert_int_equal(len, TOTAL);
	assert_memory_equal(back, data, TOTAL);
	free(back);
	spool_free(&s);
	assert_int_equal(dir_entries(f->dir), 0);
	free(data);
}

/* On file, writes are staged in memory: many tiny writes, a peek and a
 * read-back before the end, more writes, a write larger than the staging
 * buffer; the bytes and the digest are those of one plain stream. */
static void
test_file_staged(void **state)
{
	struct fixture *f = *state;
	enum { MEM = 64, TOTAL = 5000, PEEK = 1000 };
	unsigned char *data, *back;
	struct err e = { 0 };
	struct spool *s;
	char head[100];
	size_t off, n, len;

	data = malloc(TOTAL);
	assert_non_null(data);
	fill(data, TOTAL, 6);
	s = spool_create(f->dir, MEM, 0);
	for (off = 0; off < PEEK; off++)
		assert_int_equal(spool_write(s, data + off, 1, &e), 0);
	assert_null(spool_mem(s, &len));
	/* Peek and read while bytes are still staged. */
	assert_int_equal(spool_head(s, head, sizeof(head)), sizeof(head));
	assert_memory_equal(head, data, sizeof(head));
	back = read_all(s, 333, &len);
	assert_int_equal(len, PEEK);
	assert_memory_equal(back, data, PEEK);
	free(back);
	/* More after reading: small, then one larger than the buffer. */
	for (off = PEEK; off < TOTAL - 3 * MEM; off += n) {
		n = MP_MIN((size_t)1 + off % 7, TOTAL - 3 * MEM - off);
		assert_int_equal(spool_write(s, data + off, n, &e), 0);
	}
	assert_int_equal(spool_write(s, data + off, 3 * MEM, &e), 0);
	assert_true(spool_size(s) == TOTAL);
	assert_digest(s, data, TOTAL);
	back = read_all(s, 1000, &len);
	assert_int_equal(len, TOTAL);
	assert_memory_equal(back, data, TOTAL);
	free(back);
	spool_free(&s);
	assert_int_equal(dir_entries(f->dir), 0);
	free(data);
}

/* Exactly mem_max stays in memory; one byte more moves to the file. */
static void
test_mem_boundary(void **state)
{
	struct fixture *f = *state;
	unsigned char data[65], *back;
	struct err e = { 0 };
	struct spool *s;
	size_t len;

	fill(data, sizeof(data), 2);
	s = spool_create(f->dir, 64, 0);
	assert_int_equal(spool_write(s, data, 64, &e), 0);
	assert_non_null(spool_mem(s, &len));
	assert_int_equal(len, 64);
	assert_int_equal(spool_write(s, data + 64, 1, &e), 0);
	assert_null(spool_mem(s, &len));
	back = read_all(s, 10, &len);
	assert_int_equal(len, 65);
	assert_memory_equal(back, data, 65);
	free(back);
	assert_digest(s, data, 65);
	spool_free(&s);
}

static void
test_mem_zero(void **state)
{
	struct fixture *f = *state;
	unsigned char *back;
	struct err e = { 0 };
	struct spool *s;
	size_t len;

	s = spool_create(f->dir, 0, 0);
	assert_int_equal(spool_write(s, "abc", 3, &e), 0);
	assert_null(spool_mem(s, &len));
	back = read_all(s, 2, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(back, "abc", 3);
	free(back);
	spool_free(&s);
}

static void
test_size_max(void **state)
{
	struct fixture *f = *state;
	unsigned char data[200];
	struct err e = { 0 };
	struct spool *s;

	fill(data, sizeof(data), 3);
	/* In memory. */
	s = spool_create(f->dir, 1000, 150);
	assert_int_equal(spool_write(s, data, 100, &e), 0);
	assert_int_equal(spool_write(s, data, 50, &e), 0);
	assert_int_equal(spool_write(s, data, 1, &e), -1);
	assert_int_equal(e.cls, ERR_PROTOCOL);
	assert_string_equal(err_msg(&e),
	    "message larger than the maximum size of 150 bytes");
	err_clear(&e);
	/* Reset makes it usable again. */
	spool_reset(s);
	assert_int_equal(spool_write(s, data, 150, &e), 0);
	spool_free(&s);

	/* On file, with one write that jumps past the limit. */
	s = spool_create(f->dir, 10, 150);
	assert_int_equal(spool_write(s, data, 100, &e), 0);
	assert_int_equal(spool_write(s, data, 100, &e), -1);
	assert_int_equal(e.cls, ERR_PROTOCOL);
	err_clear(&e);
	spool_free(&s);

	/* A single write larger than everything. */
	s = spool_create(f->dir, 10, 5);
	assert_int_equal(spool_write(s, data, SIZE_MAX, &e), -1);
	assert_int_equal(e.cls, ERR_PROTOCOL);
	err_clear(&e);
	spool_free(&s);
	assert_int_equal(dir_entries(f->dir), 0);
}

static void
test_reset_reuse(void **state)
{
	struct fixture *f = *state;
	unsigned char big[5000], *back;
	static const char small[] = "small message\n";
	struct err e = { 0 };
	struct spool *s;
	const char *mem;
	size_t len;
	int round;

	fill(big, sizeof(big), 4);
	s = spool_create(f->dir, 1000, 10000);
	for (round = 0; round < 3; round++) {
		/* Large: on file. */
		assert_int_equal(spool_write(s, big, sizeof(big), &e), 0);
		assert_null(spool_mem(s, &len));
		assert_digest(s, big, sizeof(big));
		back = read_all(s, 512, &len);
		assert_int_equal(len, sizeof(big));
		assert_memory_equal(back, big, len);
		free(back);
		spool_reset(s);
		assert_true(spool_size(s) == 0);

		/* Small after large: back in memory, nothing of the old. */
		assert_int_equal(spool_write(s, small, sizeof(small) - 1, &e),
		    0);
		mem = spool_mem(s, &len);
		assert_non_null(mem);
		assert_int_equal(len, sizeof(small) - 1);
		assert_memory_equal(mem, small, len);
		assert_digest(s, (const unsigned char *)small,
		    sizeof(small) - 1);
		back = read_all(s, 3, &len);
		assert_int_equal(len, sizeof(small) - 1);
		free(back);
		spool_reset(s);
	}
	spool_free(&s);
	assert_int_equal(dir_entries(f->dir), 0);
}

static void
test_bad_tmpdir(void **state)
{
	unsigned char data[100];
	struct err e = { 0 };
	struct spool *s;

	fill(data, sizeof(data), 5);
	s = spool_create("/nonexistent/mailpull-spool-dir", 10, 0);
	assert_int_equal(spool_write(s, data, 5, &e), 0);
	assert_int_equal(spool_write(s, data, 50, &e), -1);
	assert_int_equal(e.cls, ERR_LOCAL);
	assert_non_null(strstr(err_msg(&e), "/nonexistent/mailpull-spool-dir"));
	/* The spool refuses further use until reset. */
	assert_int_equal(spool_write(s, data, 1, &e), -1);
	assert_int_equal(spool_rewind(s, &e), -1);
	err_clear(&e);
	spool_reset(s);
	assert_int_equal(spool_write(s, data, 5, &e), 0);
	spool_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_staged, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mem_boundary, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mem_zero, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_size_max, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reset_reuse, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_tmpdir, setup,
		    teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
