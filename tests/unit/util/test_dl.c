/*
 * test_dl.c - dl_load(): symbols resolved once, and the error that names
 * what needs a missing library and the package to install.
 */
#include "common.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "util/dl.h"
#include "util/err.h"

DL_SYM(cos);
DL_SYM(sqrt);

static const struct dl_sym libm_syms[] = {
	DL_ARG(cos),
	DL_ARG(sqrt),
};

static void
test_dl_load_resolves(void **state)
{
	struct dl_lib lib = {
		.soname = "libm.so.6", .package = "libc6",
		.syms = libm_syms, .nsyms = MP_ARRAY_LEN(libm_syms),
	};
	struct err e = { 0 };

	(void)state;
	assert_int_equal(dl_load(&lib, "a test", &e), 0);
	assert_true(lib.loaded);
	assert_non_null(sym_cos);
	assert_true(sym_sqrt(16.0) == 4.0);
	/* Once loaded, a second call does nothing. */
	assert_int_equal(dl_load(&lib, "a test", &e), 0);
	assert_int_equal(e.cls, ERR_NONE);
}

static void *sym_missing;

static void
test_dl_load_missing_symbol(void **state)
{
	static const struct dl_sym syms[] = {
		DL_ARG(cos),
		{ "mailpull_no_such_symbol", &sym_missing },
	};
	struct dl_lib lib = {
		.soname = "libm.so.6", .package = "libc6",
		.syms = syms, .nsyms = MP_ARRAY_LEN(syms),
	};
	struct err e = { 0 };

	(void)state;
	assert_int_equal(dl_load(&lib, "a test", &e), -1);
	assert_int_equal(e.cls, ERR_INTERNAL);
	assert_non_null(strstr(err_msg(&e), "a test needs libc6: "));
	assert_non_null(strstr(err_msg(&e), "mailpull_no_such_symbol"));
	/* Nothing stays half-loaded. */
	assert_false(lib.loaded);
	assert_null(sym_cos);
	assert_null(sym_missing);
	err_clear(&e);
}

static void
test_dl_load_missing_library(void **state)
{
	struct dl_lib lib = {
		.soname = "libmailpull-absent.so.7", .package = "libabsent7",
		.syms = libm_syms, .nsyms = MP_ARRAY_LEN(libm_syms),
	};
	struct err e = { 0 };

	(void)state;
	assert_int_equal(dl_load(&lib, "serve", &e), -1);
	assert_int_equal(e.cls, ERR_INTERNAL);
	assert_non_null(strstr(err_msg(&e), "serve needs libabsent7: "));
	assert_non_null(strstr(err_msg(&e), "libmailpull-absent.so.7"));
	assert_false(lib.loaded);
	/* Tried again, not remembered as failed. */
	err_clear(&e);
	assert_int_equal(dl_load(&lib, "serve", &e), -1);
	err_clear(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dl_load_resolves),
		cmocka_unit_test(test_dl_load_missing_symbol),
		cmocka_unit_test(test_dl_load_missing_library),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
