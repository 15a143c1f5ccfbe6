/*
 * settings_keys.h - the registry of global settings: every key with its
 * validation and help. Shared by `mailpull config` (cli/config.c) and the
 * API (api/), so the same bad value gets the same error from both. Add a
 * line in settings_keys.c for a new setting.
 */
#ifndef MP_SETTINGS_KEYS_H
#define MP_SETTINGS_KEYS_H

#include "common.h"

/* Check and canonicalise v; return an allocated value or NULL with *why. */
typedef char *(*settings_check_fn)(const char *v, const char **why);

struct settings_key {
	const char *key;
	settings_check_fn check;
	const char *help;
};

extern const struct settings_key settings_keys[];
extern const size_t settings_keys_count;

/* The entry for key, or NULL. */
const struct settings_key *settings_key_find(const char *key);

#endif
