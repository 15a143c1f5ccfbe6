/*
 * dl.c - shared libraries loaded at the point of use (dl.h).
 */
#include "common.h"

#include <dlfcn.h>
#include <pthread.h>

#include "util/dl.h"
#include "util/err.h"

/* One lock for every library: loads are rare (once per process). */
static pthread_mutex_t dl_lock = PTHREAD_MUTEX_INITIALIZER;

static int
dl_load_locked(struct dl_lib *lib, const char *needed_by, struct err *e)
{
	const char *why;
	void *h, *p;
	size_t i;

	(void)dlerror();
	if ((h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		why = dlerror();
		return err_set(e, ERR_INTERNAL, "%s needs %s: %s", needed_by,
		    lib->package, why != NULL ? why : lib->soname);
	}
	for (i = 0; i < lib->nsyms; i++) {
		(void)dlerror();
		p = dlsym(h, lib->syms[i].name);
		if (p == NULL) {
			why = dlerror();
			err_set(e, ERR_INTERNAL, "%s needs %s: %s", needed_by,
			    lib->package, why != NULL ? why :
			    lib->syms[i].name);
			goto fail;
		}
		*lib->syms[i].ptr = p;
	}
	lib->loaded = true;
	return 0;
fail:
	for (i = 0; i < lib->nsyms; i++)
		*lib->syms[i].ptr = NULL;
	(void)dlclose(h);
	return -1;
}

int
dl_load(struct dl_lib *lib, const char *needed_by, struct err *e)
{
	int rc = 0;

	(void)pthread_mutex_lock(&dl_lock);
	if (!lib->loaded)
		rc = dl_load_locked(lib, needed_by, e);
	(void)pthread_mutex_unlock(&dl_lock);
	return rc;
}
