#include "common.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "store/secret.h"
#include "util/xmalloc.h"

/* A blob larger than this is not one of ours (passwords are small). */
#define SECRET_BLOB_MAX (1024 * 1024)

int
secret_init(struct err *e)
{
	/* sodium_init() is thread-safe and returns 1 when already done. */
	if (sodium_init() < 0)
		return err_set(e, ERR_INTERNAL, "libsodium failed to initialise");
	return 0;
}

static int
read_full(int fd, unsigned char *p, size_t n, size_t *got_r)
{
	ssize_t r;
	size_t got = 0;

	while (got < n) {
		r = read(fd, p + got, n - got);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*got_r = got;
	return 0;
}

static int
write_full(int fd, const unsigned char *p, size_t n)
{
	ssize_t r;
	size_t done = 0;

	while (done < n) {
		r = write(fd, p + done, n - done);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)r;
	}
	return 0;
}

static int
fsync_dir(const char *dir)
{
	int fd, rc;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * Create a new key file; 0 created, 1 it already exists, -1 error. The key
 * is written and synced under a temporary name (mkstemp: O_CREAT|O_EXCL,
 * 0600) and then link()ed into place, so a concurrent first start never
 * reads a half-written key: link() fails with EEXIST for the loser, which
 * then uses the winner's complete file.
 */
static int
key_create(const char *dir, const char *path, struct err *e)
{
	unsigned char key[SECRET_KEY_LEN];
	char *tmp;
	int fd, rc = -1;

	if (access(path, F_OK) == 0)
		return 1;
	tmp = xasprintf("%s/.%s.XXXXXX", dir, SECRET_KEY_FILE);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		err_set(e, ERR_CONFIG, "cannot create key file %s: %s", path,
		    strerror(errno));
		free(tmp);
		return -1;
	}
	randombytes_buf(key, sizeof(key));
	/* The umask may have cleared bits, never added any; be explicit. */
	if (fchmod(fd, 0600) == -1 ||
	    write_full(fd, key, sizeof(key)) == -1 || fsync(fd) == -1) {
		err_set(e, ERR_CONFIG, "cannot write key file %s: %s", path,
		    strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd) == -1) {
		err_set(e, ERR_CONFIG, "cannot write key file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (link(tmp, path) == -1) {
		if (errno == EEXIST)
			rc = 1;
		else
			err_set(e, ERR_CONFIG, "cannot create key file %s: %s",
			    path, strerror(errno));
		goto out;
	}
	if (fsync_dir(dir) == -1) {
		err_set(e, ERR_CONFIG, "cannot sync directory %s: %s", dir,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(key, sizeof(key));
	unlink(tmp);
	free(tmp);
	return rc;
}

static const char *
key_env(void)
{
	const char *v = getenv(SECRET_KEY_ENV);

	return v != NULL && *v != '\0' ? v : NULL;
}

char *
secret_key_source(const char *state_dir)
{
	if (key_env() != NULL)
		return xasprintf("$%s", SECRET_KEY_ENV);
	return xasprintf("%s/%s", state_dir, SECRET_KEY_FILE);
}

/* The key as 64 hex digits (either case); the value is never echoed. */
static int
key_from_env(const char *hex, unsigned char key[SECRET_KEY_LEN],
    struct err *e)
{
	size_t n = strlen(hex), bin_len = 0;
	const char *end = NULL;

	if (n != SECRET_KEY_LEN * 2 || sodium_hex2bin(key, SECRET_KEY_LEN,
	    hex, n, NULL, &bin_len, &end) != 0 || bin_len != SECRET_KEY_LEN ||
	    end != hex + n) {
		sodium_memzero(key, SECRET_KEY_LEN);
		return err_set(e, ERR_CONFIG, "%s must be %d hexadecimal "
		    "digits (a %d-byte key), not %zu characters%s",
		    SECRET_KEY_ENV, SECRET_KEY_LEN * 2, SECRET_KEY_LEN, n,
		    n == SECRET_KEY_LEN * 2 ? " with a non-hex one" : "");
	}
	return 0;
}

int
secret_key_load(const char *state_dir, unsigned char key[SECRET_KEY_LEN],
    struct err *e)
{
	char *path;
	struct stat sb;
	size_t got;
	unsigned char extra;
	int fd = -1, rc = -1;

	if (secret_init(e) == -1)
		return -1;
	if (key_env() != NULL)
		return key_from_env(key_env(), key, e);
	path = xasprintf("%s/%s", state_dir, SECRET_KEY_FILE);
	if (key_create(state_dir, path, e) == -1)
		goto out;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		err_set(e, ERR_CONFIG, "cannot open key file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) == -1) {
		err_set(e, ERR_CONFIG, "cannot stat key file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		err_set(e, ERR_CONFIG, "key file %s is not a regular file",
		    path);
		goto out;
	}
	if ((sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		err_set(e, ERR_CONFIG, "key file %s is accessible by group or "
		    "others (mode %04o); it must be 0600", path,
		    (unsigned)(sb.st_mode & 07777));
		goto out;
	}
	if (sb.st_size != SECRET_KEY_LEN) {
		err_set(e, ERR_CONFIG, "key file %s has the wrong size "
		    "(%lld bytes, expected %d)", path, (long long)sb.st_size,
		    SECRET_KEY_LEN);
		goto out;
	}
	if (read_full(fd, key, SECRET_KEY_LEN, &got) == -1) {
		err_set(e, ERR_CONFIG, "cannot read key file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (got != SECRET_KEY_LEN || read_full(fd, &extra, 1, &got) == -1 ||
	    got != 0) {
		err_set(e, ERR_CONFIG, "key file %s has the wrong size "
		    "(expected %d bytes)", path, SECRET_KEY_LEN);
		goto out;
	}
	rc = 0;
out:
	if (rc == -1)
		sodium_memzero(key, SECRET_KEY_LEN);
	if (fd != -1)
		close(fd);
	free(path);
	return rc;
}

int
secret_seal(const unsigned char key[SECRET_KEY_LEN], const void *pt,
    size_t len, unsigned char **blob_r, size_t *blob_len_r)
{
	unsigned char *blob;
	size_t n;

	if (len > SIZE_MAX - crypto_secretbox_NONCEBYTES -
	    crypto_secretbox_MACBYTES)
		return -1;
	n = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
	blob = xmalloc(n);
	randombytes_buf(blob, crypto_secretbox_NONCEBYTES);
	if (crypto_secretbox_easy(blob + crypto_secretbox_NONCEBYTES, pt, len,
	    blob, key) != 0) {
		free(blob);
		return -1;
	}
	*blob_r = blob;
	*blob_len_r = n;
	return 0;
}

int
secret_open(const unsigned char key[SECRET_KEY_LEN],
    const unsigned char *blob, size_t len, char **pt_r, size_t *pt_len_r,
    struct err *e)
{
	size_t n;
	char *pt;

	if (len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES ||
	    len > SECRET_BLOB_MAX)
		return err_set(e, ERR_CONFIG, "stored secret is malformed");
	n = len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
	pt = xmalloc(n + 1);
	if (crypto_secretbox_open_easy((unsigned char *)pt,
	    blob + crypto_secretbox_NONCEBYTES,
	    len - crypto_secretbox_NONCEBYTES, blob, key) != 0) {
		sodium_memzero(pt, n + 1);
		free(pt);
		return err_set(e, ERR_CONFIG, "stored secret does not verify "
		    "(wrong key file or damaged data)");
	}
	pt[n] = '\0';
	*pt_r = pt;
	*pt_len_r = n;
	return 0;
}

void
secret_free(char **pt, size_t len)
{
	if (*pt == NULL)
		return;
	sodium_memzero(*pt, len + 1);
	free(*pt);
	*pt = NULL;
}
