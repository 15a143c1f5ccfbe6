/*
 * xmalloc.h - allocation wrappers that abort when memory runs out.
 * Every size driven by input is capped elsewhere, so running out of memory
 * is not a peer's doing and aborting is the honest answer.
 */
#ifndef MP_XMALLOC_H
#define MP_XMALLOC_H

#include "common.h"

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
/* Formatted allocation; never returns NULL. */
char *xasprintf(const char *, ...) MP_PRINTF(1, 2);
/* free() that also NULLs the pointer: xfree(&p). */
#define xfree(pp) do { free(*(pp)); *(pp) = NULL; } while (0)

#endif
