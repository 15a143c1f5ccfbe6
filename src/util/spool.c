/*
 * spool.c - one message between retrieval and delivery: memory up to
 * mem_max, then an unlinked temporary file.
 *
 * The temporary file is unlinked as soon as it exists (O_TMPFILE where the
 * file system has it, else mkstemp + unlink), so it disappears on every
 * path, a crash included. File I/O uses pread/pwrite at explicit offsets,
 * so reading back and appending never disturb each other.
 *
 * A size_max of 0 means no limit; a mem_max of 0 sends every byte to the
 * file. tmpdir NULL means $TMPDIR, then /tmp.
 *
 * Once on file, the memory buffer (already allocated up to mem_max) stages
 * writes: retrieval hands over one line at a time (IMAP's CRLF runs), and
 * a pwrite per line was 668,000 system calls for a 50 MB message, most of
 * that message's CPU time. The digest is likewise computed over whole
 * buffers, when bytes leave memory or at spool_finish(), never per write;
 * BLAKE2b is a stream hash, so the value does not depend on the chunking.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/spool.h"
#include "util/xmalloc.h"

struct spool {
	char *tmpdir;
	size_t mem_max;
	uint64_t size_max;

	/* The message while it fits in mem_max; once on file, the bytes
	 * after `flushed` not yet written to it. */
	struct buf mem;
	int fd;			/* the unlinked file, once it does not fit */
	uint64_t size;		/* bytes written so far */
	uint64_t flushed;	/* of which on file (and hashed) */
	bool failed;		/* a write failed: content unusable */
	char *why;		/* that failure, for later calls */

	crypto_generichash_state hs;
	bool finished;
	unsigned char digest[SPOOL_DIGEST_LEN];

	uint64_t rpos;		/* read position */
};

static const char *
spool_strerror(int errnum, char *buf, size_t len)
{
	/* GNU strerror_r: returns a pointer, thread-safe. */
	return strerror_r(errnum, buf, len);
}

static void
spool_hash_init(struct spool *s)
{
	if (crypto_generichash_init(&s->hs, NULL, 0, SPOOL_DIGEST_LEN) != 0)
		fatalx("spool: crypto_generichash_init failed");
	s->finished = false;
}

struct spool *
spool_create(const char *tmpdir, size_t mem_max, uint64_t size_max)
{
	struct spool *s;
	const char *env;

	if (sodium_init() < 0)
		fatalx("spool: sodium_init failed");
	if (tmpdir == NULL || *tmpdir == '\0') {
		env = getenv("TMPDIR");
		tmpdir = env != NULL && *env != '\0' ? env : "/tmp";
	}
	s = xcalloc(1, sizeof(*s));
	s->tmpdir = xstrdup(tmpdir);
	s->mem_max = mem_max;
	s->size_max = size_max;
	buf_init(&s->mem, mem_max);
	s->fd = -1;
	spool_hash_init(s);
	return s;
}

void
spool_free(struct spool **sp)
{
	struct spool *s = *sp;

	if (s == NULL)
		return;
	if (s->fd != -1)
		(void)close(s->fd);
	buf_free(&s->mem);
	free(s->tmpdir);
	free(s->why);
	sodium_memzero(&s->hs, sizeof(s->hs));
	free(s);
	*sp = NULL;
}

void
spool_reset(struct spool *s)
{
	/* Drop the file: the next message may well fit in memory. */
	if (s->fd != -1) {
		(void)close(s->fd);
		s->fd = -1;
	}
	buf_reset(&s->mem);
	s->size = 0;
	s->flushed = 0;
	s->rpos = 0;
	s->failed = false;
	free(s->why);
	s->why = NULL;
	spool_hash_init(s);
}

/* An unlinked, private temporary file in the spool's directory. */
static int
spool_file_open(struct spool *s, struct err *e)
{
	char ebuf[128], *path;
	int fd, saved;

#ifdef O_TMPFILE
	fd = open(s->tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1)
		return fd;
	/* EISDIR/EOPNOTSUPP: the file system lacks it; fall back. */
#endif
	path = xasprintf("%s/mailpull-spool.XXXXXX", s->tmpdir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd == -1) {
		saved = errno;
		err_set(e, ERR_LOCAL, "cannot create a temporary file in %s: %s",
		    s->tmpdir, spool_strerror(saved, ebuf, sizeof(ebuf)));
		free(path);
		return -1;
	}
	if (unlink(path) == -1) {
		saved = errno;
		(void)close(fd);
		err_set(e, ERR_LOCAL, "cannot unlink temporary file %s: %s",
		    path, spool_strerror(saved, ebuf, sizeof(ebuf)));
		free(path);
		return -1;
	}
	free(path);
	return fd;
}

static int
spool_file_write(struct spool *s, const void *p, size_t n, uint64_t off,
    struct err *e)
{
	const char *cp = p;
	char ebuf[128];
	ssize_t w;

	while (n > 0) {
		if (off > (uint64_t)INT64_MAX) {
			return err_set(e, ERR_LOCAL,
			    "temporary file offset too large");
		}
		w = pwrite(s->fd, cp, n, (off_t)off);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return err_set(e, ERR_LOCAL,
			    "cannot write temporary file in %s: %s", s->tmpdir,
			    spool_strerror(errno, ebuf, sizeof(ebuf)));
		}
		if (w == 0) {
			return err_set(e, ERR_LOCAL,
			    "cannot write temporary file in %s: short write",
			    s->tmpdir);
		}
		cp += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Mark the spool unusable: e's message is what later calls report. */
static int
spool_fail(struct spool *s, struct err *e)
{
	s->failed = true;
	free(s->why);
	s->why = xstrdup(e != NULL && e->msg != NULL ? e->msg :
	    "spool write failed");
	return -1;
}

static int
spool_unusable(const struct spool *s, struct err *e)
{
	return err_set(e, ERR_LOCAL, "spool is unusable after an error%s%s",
	    s->why != NULL ? ": " : "", s->why != NULL ? s->why : "");
}

/* Hash the buffered bytes and write them to the file at `flushed`. */
static int
spool_flush(struct spool *s, struct err *e)
{
	if (s->mem.len == 0)
		return 0;
	crypto_generichash_update(&s->hs, (const unsigned char *)s->mem.data,
	    s->mem.len);
	if (spool_file_write(s, s->mem.data, s->mem.len, s->flushed, e) == -1)
		return -1;
	s->flushed += s->mem.len;
	/* Keep the allocation (at most mem_max) for the next bytes. */
	buf_reset(&s->mem);
	return 0;
}

int
spool_write(struct spool *s, const void *p, size_t n, struct err *e)
{
	if (s->failed)
		return spool_unusable(s, e);
	if (s->finished)
		fatalx("spool_write after spool_finish");
	if (n == 0)
		return 0;
	if (s->size_max != 0 &&
	    ((uint64_t)n > s->size_max || s->size > s->size_max - n)) {
		s->failed = true;
		return err_set(e, ERR_PROTOCOL,
		    "message larger than the maximum size of %ju bytes",
		    (uintmax_t)s->size_max);
	}
	/* In memory, or staged for the file, while it fits in mem_max. */
	if (buf_add(&s->mem, p, n) == 0)
		goto done;
	if (s->fd == -1 && (s->fd = spool_file_open(s, e)) == -1)
		return spool_fail(s, e);
	if (spool_flush(s, e) == -1)
		return spool_fail(s, e);
	if (buf_add(&s->mem, p, n) == 0)
		goto done;
	/* Larger than the whole buffer: straight to the file. */
	crypto_generichash_update(&s->hs, p, n);
	if (spool_file_write(s, p, n, s->flushed, e) == -1)
		return spool_fail(s, e);
	s->flushed += n;
done:
	s->size += n;
	return 0;
}

uint64_t
spool_size(const struct spool *s)
{
	return s->size;
}

/* Everything written is on file (file mode): before reading it back. */
static int
spool_settle(struct spool *s, struct err *e)
{
	if (s->failed)
		return spool_unusable(s, e);
	if (s->fd != -1 && spool_flush(s, e) == -1)
		return spool_fail(s, e);
	return 0;
}

void
spool_finish(struct spool *s, unsigned char digest[SPOOL_DIGEST_LEN])
{
	struct err e = { 0 };

	if (!s->finished) {
		/* In memory: the whole message in one call. A failed flush
		 * marks the spool unusable, which reading reports. */
		if (s->fd == -1 && s->mem.len > 0)
			crypto_generichash_update(&s->hs,
			    (const unsigned char *)s->mem.data, s->mem.len);
		else if (s->fd != -1)
			(void)spool_settle(s, &e);
		err_clear(&e);
		crypto_generichash_final(&s->hs, s->digest, SPOOL_DIGEST_LEN);
		s->finished = true;
	}
	if (digest != NULL)
		memcpy(digest, s->digest, SPOOL_DIGEST_LEN);
}

int
spool_rewind(struct spool *s, struct err *e)
{
	if (spool_settle(s, e) == -1)
		return -1;
	s->rpos = 0;
	return 0;
}

ssize_t
spool_read(struct spool *s, void *p, size_t n, struct err *e)
{
	char ebuf[128];
	uint64_t left;
	ssize_t r;

	if (spool_settle(s, e) == -1)
		return -1;
	left = s->size - s->rpos;
	if ((uint64_t)n > left)
		n = (size_t)left;
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	if (n == 0)
		return 0;
	if (s->fd == -1) {
		memcpy(p, s->mem.data + s->rpos, n);
		s->rpos += n;
		return (ssize_t)n;
	}
	for (;;) {
		r = pread(s->fd, p, n, (off_t)s->rpos);
		if (r == -1 && errno == EINTR)
			continue;
		break;
	}
	if (r == -1) {
		return err_set(e, ERR_LOCAL,
		    "cannot read temporary file in %s: %s", s->tmpdir,
		    spool_strerror(errno, ebuf, sizeof(ebuf)));
	}
	if (r == 0) {
		return err_set(e, ERR_LOCAL,
		    "temporary file in %s shorter than written", s->tmpdir);
	}
	s->rpos += (uint64_t)r;
	return r;
}

const char *
spool_mem(const struct spool *s, size_t *len_r)
{
	if (s->fd != -1 || s->failed) {
		*len_r = 0;
		return NULL;
	}
	*len_r = s->mem.len;
	return s->mem.data != NULL ? s->mem.data : "";
}

size_t
spool_head(struct spool *s, char *p, size_t n)
{
	struct err e = { 0 };
	size_t got = 0;
	ssize_t r;

	if (spool_settle(s, &e) == -1) {
		err_clear(&e);
		return 0;
	}
	if ((uint64_t)n > s->size)
		n = (size_t)s->size;
	if (s->fd == -1) {
		if (n > 0)
			memcpy(p, s->mem.data, n);
		return n;
	}
	while (got < n) {
		r = pread(s->fd, p + got, n - got, (off_t)got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}
