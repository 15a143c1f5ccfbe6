/*
 * dl.h - a shared library loaded at the point of use (dlopen).
 *
 * The mailpull binary links only what every command needs: libc, OpenSSL,
 * SQLite, libsodium, jansson. A library that only some commands or some
 * accounts use is loaded the first time it is needed, so that `fetch`
 * never maps it (each mapped library costs start-up relocations and
 * resident pages; bench/README.md, "Peak RSS"). Each such library has
 * exactly one file that knows it is loaded this way:
 *
 *   GMime          route/route.c   catch-all (multidrop) address parsing
 *   libcurl        oauth/token.c   OAuth2 token endpoint
 *   libmicrohttpd  api/api.c       serve's admin API
 *   libpq          store/db_pg.c   a PostgreSQL store
 *
 * That file includes the library's header as usual (types, constants),
 * declares a pointer per function it calls with DL_SYM() - the pointer has
 * the header's own prototype, so every call is still type-checked - lists
 * them with DL_ARG() in a struct dl_lib, and calls dl_load() before the
 * first use. Calls then go through sym_NAME(...).
 *
 * dl_load() is thread-safe. The first successful call opens the library
 * (RTLD_NOW | RTLD_LOCAL) and resolves every listed symbol; later calls
 * return 0 at once. A loaded library is never unloaded. When the library
 * or one of its symbols is missing, dl_load() returns -1 with ERR_INTERNAL
 * and a message naming what needs it and the package to install, e.g.
 * "serve needs libmicrohttpd12: libmicrohttpd.so.12: cannot open shared
 * object file: No such file or directory"; nothing stays half-loaded, and
 * the next call tries again (the package may have been installed since).
 */
#ifndef MP_DL_H
#define MP_DL_H

#include "common.h"
#include "util/err.h"

/* static <prototype of f> *sym_f; */
#define DL_SYM(f)	static __typeof__(f) *sym_##f
/* The struct dl_sym entry for a DL_SYM(f). */
#define DL_ARG(f)	{ #f, (void **)&sym_##f }

struct dl_sym {
	const char *name;
	void **ptr;
};

struct dl_lib {
	const char *soname;		/* "libcurl.so.4" */
	const char *package;		/* what provides it: "libcurl4" */
	const struct dl_sym *syms;
	size_t nsyms;
	bool loaded;			/* under dl.c's lock */
};

/*
 * Load lib (once) for needed_by ("serve", "OAuth2", ...), the subject of
 * the error message. 0 when every symbol is resolved.
 */
int dl_load(struct dl_lib *lib, const char *needed_by, struct err *);

#endif
