/*
 * spool.h - one message between retrieval and delivery.
 *
 * Bytes go to memory up to mem_max, then the whole message moves to an
 * unlinked temporary file in tmpdir; it is never held whole in memory
 * beyond mem_max. On file, the same memory (up to mem_max) stages the
 * writes, so callers may write a line at a time: the file gets large
 * blocks. size_max bounds the message (a write beyond it fails).
 * The spool keeps a BLAKE2b digest of what was written, so a message's
 * identity can include its content. Reading rewinds to the start.
 * Content is the message in LF form (retrieval converts CRLF to LF).
 */
#ifndef MP_SPOOL_H
#define MP_SPOOL_H

#include "common.h"
#include "util/err.h"

#define SPOOL_DIGEST_LEN 32

struct spool;

struct spool *spool_create(const char *tmpdir, size_t mem_max,
    uint64_t size_max);
void spool_free(struct spool **);
/* Empty it for the next message (keeps the buffers). */
void spool_reset(struct spool *);
/* -1 with ERR_LOCAL on write failure, ERR_PROTOCOL when over size_max. */
int spool_write(struct spool *, const void *, size_t, struct err *);
uint64_t spool_size(const struct spool *);
/* Finish writing: computes the digest. The last staged bytes go to the
 * file here; if that fails, reading reports it (ERR_LOCAL). */
void spool_finish(struct spool *, unsigned char digest[SPOOL_DIGEST_LEN]);
/* Reading: rewind, then read until 0 (end) or -1. */
int spool_rewind(struct spool *, struct err *);
ssize_t spool_read(struct spool *, void *, size_t, struct err *);
/* When the whole message is in memory, its bytes (else NULL). */
const char *spool_mem(const struct spool *, size_t *len_r);
/* First up to n bytes of the message (headers peek), without rewinding. */
size_t spool_head(struct spool *, char *, size_t n);

#endif
