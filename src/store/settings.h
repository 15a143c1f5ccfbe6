/*
 * settings.h - global settings: a key/value table in the store
 * (`mailpull config set KEY VALUE`). Keys and their validation live in
 * cli/config.c's registry; the store keeps strings.
 */
#ifndef MP_SETTINGS_H
#define MP_SETTINGS_H

#include "common.h"
#include "store/store.h"
#include "util/err.h"

/* Value of key, allocated, or NULL in *value_r when unset (returns 0). */
int store_setting_get(struct store *, const char *key, char **value_r,
    struct err *);
/* Set (value NULL: unset). Bumps the change counter. */
int store_setting_set(struct store *, const char *key, const char *value,
    struct err *);
/* All settings as parallel arrays (sorted by key); free with
 * store_setting_list_free. */
int store_setting_list(struct store *, char ***keys_r, char ***values_r,
    size_t *n_r, struct err *);
void store_setting_list_free(char ***keys, char ***values, size_t n);

/*
 * The change counter: bumped by every change to accounts or settings made
 * through the store, so a running daemon notices without a restart.
 */
int store_change_bump(struct store *, struct err *);
int store_change_get(struct store *, int64_t *counter_r, struct err *);

#endif
