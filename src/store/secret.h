/*
 * secret.h - secrets at rest: the key file and libsodium secretbox.
 *
 * The key is 32 random bytes in STATE/secret.key, created 0600 on first
 * use (written and fsync'd under a temporary name, then linked into place,
 * so concurrent first starts agree on one key). A key file that is group or world accessible, or not exactly 32
 * bytes, is refused (ERR_CONFIG naming the path). A sealed secret is one
 * blob: nonce (24 bytes) || secretbox ciphertext (MAC + message).
 *
 * The key may come from the environment instead (SECRET_KEY_ENV, 64 hex
 * digits): nodes sharing a PostgreSQL store need one key, and a secret
 * store can hand it over that way. Then no key file is read or created.
 */
#ifndef MP_SECRET_H
#define MP_SECRET_H

#include "common.h"
#include "util/err.h"

#define SECRET_KEY_LEN 32
#define SECRET_KEY_FILE "secret.key"
#define SECRET_KEY_ENV "MAILPULL_STORE_KEY"

/* Initialise libsodium (idempotent). 0, or -1 with ERR_INTERNAL. */
int secret_init(struct err *);
/* Load the key from SECRET_KEY_ENV when it is set and not empty (ERR_CONFIG
 * when it is not 64 hex digits), else from STATE/secret.key, creating it
 * when missing. The state directory must exist. On error key is wiped. */
int secret_key_load(const char *state_dir, unsigned char key[SECRET_KEY_LEN],
    struct err *);
/* Where secret_key_load() takes the key from, for messages: the variable's
 * name or the key file's path. Allocated. */
char *secret_key_source(const char *state_dir);
/* Seal len bytes of pt; *blob_r is allocated (free()), never fails short of
 * running out of memory, which aborts. */
int secret_seal(const unsigned char key[SECRET_KEY_LEN], const void *pt,
    size_t len, unsigned char **blob_r, size_t *blob_len_r);
/* Open a blob; *pt_r is allocated and NUL-terminated after *pt_len_r bytes;
 * wipe and free it with secret_free(). A short, tampered or foreign blob
 * fails with ERR_CONFIG. */
int secret_open(const unsigned char key[SECRET_KEY_LEN],
    const unsigned char *blob, size_t len, char **pt_r, size_t *pt_len_r,
    struct err *);
/* Wipe len bytes (plus the NUL) and free; *pt = NULL. */
void secret_free(char **pt, size_t len);

#endif
