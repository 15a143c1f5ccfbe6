#include "common.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deliver/target.h"
#include "deliver/target_impl.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/spool.h"
#include "util/xmalloc.h"

/*
 * Maildir delivery (https://cr.yp.to/proto/maildir.html), with group
 * commit (docs/design.md, "Durability batches"): maildir_deliver() writes
 * tmp/NAME whole (O_CREAT|O_EXCL), starts its writeback and remembers it;
 * maildir_sync(), which the pass calls before its store commit and before
 * any deletion, then fsyncs every pending file, links each into new/NAME
 * and unlinks tmp/NAME, and fsyncs the directories touched (new/, tmp/,
 * any it made). So a file is in new/ only after its data was fsync'd, and
 * the first fsync's journal commit carries the others' blocks and data
 * (ext4 data=ordered; the writeback start got them allocated), which makes
 * the rest cheap. A failed sync removes the batch's tmp files and stays
 * failed for the rest of the pass: nothing of that batch may be recorded.
 *
 * Where the file system offers O_TMPFILE (Linux: ext4, xfs, btrfs, tmpfs),
 * the file is written as an unnamed inode in tmp/ instead, its descriptor
 * held until the sync, which fsyncs it and links it into new/NAME: no
 * tmp/ entry to create, unlink and sync, and nothing left in tmp/ by a
 * crash (the kernel frees an unnamed inode). Held descriptors are bounded
 * per batch and per process (maildir_hold); past that, or where O_TMPFILE
 * or /proc/self/fd is missing, the named tmp/NAME is used.
 *
 * The sync of a batch of held files is one syncfs() per file system
 * instead of one fsync per file: every fsync ends in a device cache flush
 * (on ext4 even when the journal commit it waits for is already done), so
 * 64 files cost 64 flushes; syncfs writes the file system's dirty data and
 * metadata and flushes once. It is used for batches of 8 files or more,
 * only where it reports writeback errors (Linux 5.8 and later) and while
 * the machine has little dirty data
 * (a syncfs also writes what other programs left dirty on that file
 * system, which could be gigabytes); otherwise each file is fsync'd.
 *
 * NAME is deterministic, "mp<hex key>.<host>,S=<size>": the key comes from
 * the account, the remote identity and the content, so a re-delivery after
 * a crash (between our link and the store's commit) finds new/NAME and
 * stops there instead of making a second copy. S= is the file's final size
 * (Dovecot and Courier read it instead of calling stat).
 */

#define MAILDIR_CHUNK		(64 * 1024)
#define MAILDIR_HOST_MAX	128

struct maildir_list {
	char **v;
	size_t n;
};

#define MAILDIR_HOLD_BATCH	128	/* O_TMPFILE fds held per batch */
#define MAILDIR_SYNCFS_MAX	8	/* file systems synced whole a batch */

/* A file written to tmp/ and not yet synced and linked into new/. */
struct maildir_pending {
	char *tmp;			/* ROOT/tmp/NAME (not made if fd >= 0) */
	char *dst;			/* ROOT/new/NAME */
	int fd;				/* O_TMPFILE inode held, or -1 */
	dev_t dev;			/* what we wrote: the reopen by path */
	ino_t ino;			/* must find the same file */
};

/*
 * Descriptors held for O_TMPFILE files, process-wide: at most half the
 * soft descriptor limit, so the passes' sockets and stores always find
 * one (the limit is not raised: descriptors past 1024 would break
 * select() in libraries). -1: not decided yet; 0: O_TMPFILE not used (no
 * /proc/self/fd to link through, or a limit too low).
 */
static atomic_long maildir_hold_budget = -1;
static atomic_long maildir_held;

/* syncfs for a batch: -1 not decided, 0 never, 1 when little is dirty,
 * 2 always (MAILDIR_SYNC_FS) */
static atomic_int maildir_syncfs_ok = -1;

#define MAILDIR_SYNCFS_DIRTY_MAX	(64 * 1024)	/* kB dirty + writeback */
/* Fewer files than this save few flushes; their fsyncs share journal
 * commits with the other passes' instead of writing all their data. */
#define MAILDIR_SYNCFS_MIN	8

void
maildir_sync_mode(enum maildir_sync_mode m)
{
	atomic_store(&maildir_syncfs_ok, m == MAILDIR_SYNC_FILES ? 0 :
	    m == MAILDIR_SYNC_FS ? 2 : -1);
}

/* Linux 5.8: syncfs() returns the file system's writeback errors. */
static bool
maildir_syncfs_reports_errors(void)
{
	struct utsname u;
	unsigned long maj, min;
	char *end;

	if (uname(&u) == -1 || strcmp(u.sysname, "Linux") != 0)
		return false;
	errno = 0;
	maj = strtoul(u.release, &end, 10);
	if (errno != 0 || end == u.release || *end != '.')
		return false;
	min = strtoul(end + 1, &end, 10);
	if (errno != 0)
		return false;
	return maj > 5 || (maj == 5 && min >= 8);
}

/* Dirty and under-writeback page cache of the machine, in kB; -1 if
 * unknown. */
static long
maildir_dirty_kb(void)
{
	static const char *const keys[] = { "Dirty:", "Writeback:" };
	char line[128], *end;
	long total = 0, v;
	int seen = 0;
	size_t i, n;
	FILE *f;

	if ((f = fopen("/proc/meminfo", "re")) == NULL)
		return -1;
	while (seen < 2 && fgets(line, sizeof(line), f) != NULL) {
		for (i = 0; i < MP_ARRAY_LEN(keys); i++) {
			n = strlen(keys[i]);
			if (strncmp(line, keys[i], n) != 0)
				continue;
			errno = 0;
			v = strtol(line + n, &end, 10);
			if (errno == 0 && end != line + n && v >= 0 &&
			    v < LONG_MAX / 4) {
				total += v;
				seen++;
			}
		}
	}
	(void)fclose(f);
	return seen == 2 ? total : -1;
}

static bool
maildir_use_syncfs(size_t nfiles)
{
	int ok = atomic_load(&maildir_syncfs_ok);
	long dirty;

	if (ok < 0) {
		ok = maildir_syncfs_reports_errors() ? 1 : 0;
		atomic_store(&maildir_syncfs_ok, ok);
	}
	if (ok == 0)
		return false;
	if (ok == 2)
		return true;
	if (nfiles < MAILDIR_SYNCFS_MIN)
		return false;
	dirty = maildir_dirty_kb();
	return dirty >= 0 && dirty <= MAILDIR_SYNCFS_DIRTY_MAX;
}

static long
maildir_hold_init(void)
{
	struct rlimit rl;
	long b = 0;

	if (access("/proc/self/fd", X_OK) == 0 &&
	    getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= 256)
			b = (long)(rl.rlim_cur / 2);
		else if (rl.rlim_cur == RLIM_INFINITY)
			b = 32768;
	}
	atomic_store(&maildir_hold_budget, b);
	return b;
}

void
maildir_tmpfile_use(bool on)
{
	atomic_store(&maildir_hold_budget, on ? -1 : 0);
}

/* Take one held descriptor from the budget: false when none is left. */
static bool
maildir_hold(void)
{
	long b = atomic_load(&maildir_hold_budget);

	if (b < 0)
		b = maildir_hold_init();
	if (atomic_fetch_add(&maildir_held, 1) < b)
		return true;
	atomic_fetch_sub(&maildir_held, 1);
	return false;
}

static void
maildir_unhold(int *fd)
{
	if (*fd < 0)
		return;
	(void)close(*fd);
	*fd = -1;
	atomic_fetch_sub(&maildir_held, 1);
}

struct maildir {
	char *host;			/* host part of file names */
	struct maildir_list made;	/* roots with tmp/new/cur this pass */
	struct maildir_list dirty;	/* directories to fsync in sync */
	struct maildir_pending *pend;	/* this batch's files in tmp/ */
	size_t npend;
	size_t nheld;			/* of them with an O_TMPFILE fd */
	/* syncfs mode: one descriptor per file system of the batch */
	int sfd[MAILDIR_SYNCFS_MAX];
	dev_t sdev[MAILDIR_SYNCFS_MAX];
	size_t nsfs;
	bool no_tmpfile;		/* O_TMPFILE refused here: named tmp */
	char *failed;			/* a sync failed: why (sticky) */
};

static bool
maildir_list_has(const struct maildir_list *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

static void
maildir_list_add(struct maildir_list *l, const char *s)
{
	if (maildir_list_has(l, s))
		return;
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = xstrdup(s);
}

static void
maildir_list_remove(struct maildir_list *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (strcmp(l->v[i], s) != 0)
			continue;
		free(l->v[i]);
		l->v[i] = l->v[--l->n];
		return;
	}
}

static void
maildir_list_clear(struct maildir_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/*
 * The host name as the Maildir spec wants it in a file name: '/' and ':'
 * written as \057 and \072; ',' as \054 too, because Dovecot splits the
 * base name at ',' to find S=. Control, space and 8-bit bytes dropped.
 */
static char *
maildir_host_clean(const char *h)
{
	struct buf b;
	const unsigned char *p;
	int r = 0;

	buf_init(&b, MAILDIR_HOST_MAX);
	for (p = (const unsigned char *)h; *p != '\0' && r == 0; p++) {
		if (*p <= 0x20 || *p >= 0x7f)
			continue;
		if (*p == '/')
			r = buf_adds(&b, "\\057");
		else if (*p == ':')
			r = buf_adds(&b, "\\072");
		else if (*p == ',')
			r = buf_adds(&b, "\\054");
		else
			r = buf_add(&b, p, 1);
	}
	if (b.len == 0)
		(void)buf_adds(&b, "localhost");
	return buf_detach(&b);
}

/* The directory holding path (for fsync after creating path in it). */
static char *
maildir_parent(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/* mkdir one directory (0700); a new one marks its parent dirty. */
static int
maildir_mkdir(struct maildir *md, const char *path, struct err *err)
{
	char *parent;

	if (mkdir(path, 0700) == 0) {
		parent = maildir_parent(path);
		maildir_list_add(&md->dirty, parent);
		free(parent);
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	return err_set(err, ERR_LOCAL, "maildir: mkdir %s: %s", path,
	    strerror(errno));
}

/* mkdir -p */
static int
maildir_mkdirs(struct maildir *md, const char *path, struct err *err)
{
	char *p, *s, save;
	int r = 0;

	p = xstrdup(path);
	for (s = p + 1; r == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		save = *s;
		*s = '\0';
		r = maildir_mkdir(md, p, err);
		*s = save;
		if (save == '\0')
			break;
	}
	free(p);
	return r;
}

/* Make root/{tmp,new,cur}, once per pass per maildir. */
static int
maildir_prepare(struct maildir *md, const char *root, struct err *err)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char *sub;
	size_t i;
	int r;

	if (maildir_list_has(&md->made, root))
		return 0;
	if (maildir_mkdirs(md, root, err) == -1)
		return -1;
	for (i = 0; i < MP_ARRAY_LEN(subs); i++) {
		sub = xasprintf("%s/%s", root, subs[i]);
		r = maildir_mkdir(md, sub, err);
		free(sub);
		if (r == -1)
			return -1;
	}
	maildir_list_add(&md->made, root);
	return 0;
}

/* Maildir++ marks a subfolder with an empty "maildirfolder" file
 * (Courier needs it; Dovecot writes it too). */
static int
maildir_folder_mark(struct maildir *md, const char *root, struct err *err)
{
	char *path = xasprintf("%s/maildirfolder", root);
	int fd;

	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd == -1) {
		err_set(err, ERR_LOCAL, "maildir: open %s: %s", path,
		    strerror(errno));
		free(path);
		return -1;
	}
	(void)close(fd);
	free(path);
	maildir_list_add(&md->dirty, root);
	return 0;
}

static int
maildir_write_all(int fd, const char *path, const void *p, size_t n,
    struct err *err)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, c, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return err_set(err, ERR_LOCAL, "maildir: write %s: %s",
			    path, strerror(errno));
		}
		if (w == 0)
			return err_set(err, ERR_LOCAL,
			    "maildir: write %s: wrote nothing", path);
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Write the header then the spooled message into fd (maildir_sync()
 * fsyncs it later, with the rest of the batch). */
static int
maildir_write_file(int fd, const char *path, const struct buf *hdr,
    struct spool *sp, uint64_t size, struct err *err)
{
	char *chunk;
	uint64_t total;
	ssize_t n;
	int r = -1;

	chunk = xmalloc(MAILDIR_CHUNK);
	if (maildir_write_all(fd, path, hdr->data, hdr->len, err) == -1)
		goto out;
	total = hdr->len;
	if (spool_rewind(sp, err) == -1) {
		err_prefix(err, "maildir: %s", path);
		goto out;
	}
	for (;;) {
		n = spool_read(sp, chunk, MAILDIR_CHUNK, err);
		if (n == -1) {
			err_prefix(err, "maildir: %s", path);
			goto out;
		}
		if (n == 0)
			break;
		if (maildir_write_all(fd, path, chunk, (size_t)n, err) == -1)
			goto out;
		total += (uint64_t)n;
	}
	/* The name carries S=, so the spool must give what it said. */
	if (total != size) {
		err_set(err, ERR_INTERNAL, "maildir: %s: wrote %" PRIu64
		    " bytes, expected %" PRIu64, path, total, size);
		goto out;
	}
	r = 0;
out:
	free(chunk);
	return r;
}

static bool
maildir_pending_has(const struct maildir *md, const char *tmp)
{
	size_t i;

	for (i = 0; i < md->npend; i++)
		if (strcmp(md->pend[i].tmp, tmp) == 0)
			return true;
	return false;
}

/* Forget the pending files; those from index "from" on are still in tmp/
 * and are removed there (never linked into new/, so nothing can have
 * recorded them). */
static void
maildir_pending_drop(struct maildir *md, size_t from)
{
	size_t i;

	for (i = from; i < md->npend; i++)
		if (md->pend[i].fd < 0)
			(void)unlink(md->pend[i].tmp);
	for (i = 0; i < md->npend; i++) {
		maildir_unhold(&md->pend[i].fd);
		free(md->pend[i].tmp);
		free(md->pend[i].dst);
	}
	free(md->pend);
	md->pend = NULL;
	md->npend = 0;
	md->nheld = 0;
}

/*
 * An unnamed file in ROOT/tmp (O_TMPFILE), its descriptor taken from the
 * budget. False, with nothing held, when it cannot be had: the caller
 * writes the named tmp/NAME instead (and reports that open's errors).
 */
static bool
maildir_open_tmpfile(struct maildir *md, const char *root, int *fd_r)
{
#ifdef O_TMPFILE
	char *dir;
	int fd, e;

	if (md->no_tmpfile || md->nheld >= MAILDIR_HOLD_BATCH ||
	    !maildir_hold())
		return false;
	dir = xasprintf("%s/tmp", root);
	fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	e = errno;
	free(dir);
	if (fd != -1) {
		*fd_r = fd;
		return true;
	}
	atomic_fetch_sub(&maildir_held, 1);
	/* Not offered by this kernel or file system (NFS, some FUSE). */
	if (e == EOPNOTSUPP || e == EISDIR || e == EINVAL)
		md->no_tmpfile = true;
#else
	(void)md;
	(void)root;
	(void)fd_r;
#endif
	return false;
}

static int
maildir_open(struct target *t, struct err *err)
{
	struct maildir *md;

	md = xcalloc(1, sizeof(*md));
	md->host = maildir_host_clean(t->hostname);
	t->priv = md;
	return 0;
}

static int
maildir_deliver(struct target *t, struct spool *sp, const char *rcpt,
    const struct delivery *d, struct err *err)
{
	static const char hexdig[] = "0123456789abcdef";
	struct maildir *md = t->priv;
	struct buf hdr;
	struct stat st;
	char hex[DELIVERY_KEY_LEN * 2 + 1];
	char *root = NULL, *name = NULL, *tmp = NULL, *newdir = NULL;
	char *dst = NULL;
	const char *acct = d->account != NULL ? d->account : "?";
	struct maildir_pending *p;
	uint64_t size;
	bool retried_tmp = false, retried_dirs = false, held = false;
	int fd = -1, r = -1;
	size_t i;

	buf_init(&hdr, TARGET_HEADER_MAX);
	if (md->failed != NULL) {
		err_set(err, ERR_LOCAL, "maildir: an earlier sync failed in "
		    "this pass: %s", md->failed);
		goto out;
	}
	if (target_expand(t->uri.path, rcpt, &root, err) == -1) {
		err_prefix(err, "maildir");
		goto out;
	}
	/* A folder (target.h): the Maildir++ subfolder ROOT/.NAME. */
	if (d->folder != NULL) {
		char *sub;

		if (d->folder[0] == '\0' || d->folder[0] == '.' ||
		    strchr(d->folder, '/') != NULL || strlen(d->folder) > 200) {
			err_set(err, ERR_INTERNAL, "maildir: bad folder name "
			    "'%s'", d->folder);
			goto out;
		}
		sub = xasprintf("%s/.%s", root, d->folder);
		free(root);
		root = sub;
	}
	/* Received: and then the extra header lines (target.h). */
	if (target_header_format(&hdr, t->hostname, rcpt, d, time(NULL),
	    err) == -1) {
		err_prefix(err, "maildir: %s", root);
		goto out;
	}
	for (i = 0; i < DELIVERY_KEY_LEN; i++) {
		hex[i * 2] = hexdig[d->key[i] >> 4];
		hex[i * 2 + 1] = hexdig[d->key[i] & 0xf];
	}
	hex[sizeof(hex) - 1] = '\0';
	size = (uint64_t)hdr.len + spool_size(sp);
	name = xasprintf("mp%s.%s,S=%" PRIu64, hex, md->host, size);
	tmp = xasprintf("%s/tmp/%s", root, name);
	newdir = xasprintf("%s/new", root);
	dst = xasprintf("%s/%s", newdir, name);

	if (maildir_prepare(md, root, err) == -1)
		goto out;
	if (d->folder != NULL && maildir_folder_mark(md, root, err) == -1)
		goto out;
	/* Delivered by an earlier pass that crashed before its commit. */
	if (lstat(dst, &st) == 0) {
		log_debug("account %s: maildir: %s already delivered", acct,
		    dst);
		maildir_list_add(&md->dirty, newdir);
		r = 0;
		goto out;
	}
	/* The same name earlier in this batch: the same key and size, so the
	 * same message; the sync makes that one file durable. */
	if (maildir_pending_has(md, tmp)) {
		log_debug("account %s: maildir: %s already in this batch",
		    acct, tmp);
		r = 0;
		goto out;
	}
	held = maildir_open_tmpfile(md, root, &fd);
	for (; !held;) {
		fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd != -1)
			break;
		if (errno == EEXIST && !retried_tmp) {
			/* Left over from a crash: same key, same message. */
			retried_tmp = true;
			if (unlink(tmp) == -1 && errno != ENOENT) {
				err_set(err, ERR_LOCAL, "maildir: unlink %s: "
				    "%s", tmp, strerror(errno));
				goto out;
			}
			continue;
		}
		if (errno == ENOENT && !retried_dirs) {
			/* Removed under us since we made it this pass. */
			retried_dirs = true;
			maildir_list_remove(&md->made, root);
			if (maildir_prepare(md, root, err) == -1)
				goto out;
			continue;
		}
		err_set(err, ERR_LOCAL, "maildir: open %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	if (maildir_write_file(fd, tmp, &hdr, sp, size, err) == -1)
		goto out;
#ifdef SYNC_FILE_RANGE_WRITE
	/* Start the writeback now, without waiting: it allocates the blocks
	 * (ext4 delays allocation until writeback), so they join the running
	 * journal transaction and the batch's first fsync commits them all;
	 * without it each later fsync allocated, and committed, on its own.
	 * Only a hint: the fsync in maildir_sync() is what counts (and what
	 * reports an error). */
	(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
	if (fstat(fd, &st) == -1) {
		err_set(err, ERR_LOCAL, "maildir: fstat %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	/* A held file stays open: maildir_sync() syncs it and links it. */
	if (!held && close(fd) == -1) {
		fd = -1;
		err_set(err, ERR_LOCAL, "maildir: close %s: %s", tmp,
		    strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	/* In new/ only after maildir_sync() has fsync'd it. */
	md->pend = xreallocarray(md->pend, md->npend + 1, sizeof(*md->pend));
	p = &md->pend[md->npend++];
	p->tmp = tmp;
	p->dst = dst;
	p->fd = held ? fd : -1;
	fd = -1;
	p->dev = st.st_dev;
	p->ino = st.st_ino;
	if (held)
		md->nheld++;
	held = false;
	tmp = NULL;
	dst = NULL;
	r = 0;
out:
	if (held)
		maildir_unhold(&fd);
	else if (fd != -1) {
		(void)close(fd);
		(void)unlink(tmp);
	}
	buf_free(&hdr);
	free(dst);
	free(newdir);
	free(tmp);
	free(name);
	free(root);
	return r;
}

/* fsync one pending file, reopened by path: it must be the file we wrote
 * (not a link or another file put there since). */
static int
maildir_fsync_pending(const struct maildir_pending *p, struct err *err)
{
	struct stat st;
	int fd, r = 0;

	/* A held O_TMPFILE descriptor: no path, no reopen. */
	if (p->fd >= 0) {
		if (fsync(p->fd) == -1)
			return err_set(err, ERR_LOCAL, "maildir: fsync (new "
			    "file for %s): %s", p->dst, strerror(errno));
		return 0;
	}
	fd = open(p->tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return err_set(err, ERR_LOCAL, "maildir: open %s: %s", p->tmp,
		    strerror(errno));
	if (fstat(fd, &st) == -1)
		r = err_set(err, ERR_LOCAL, "maildir: fstat %s: %s", p->tmp,
		    strerror(errno));
	else if (st.st_dev != p->dev || st.st_ino != p->ino)
		r = err_set(err, ERR_LOCAL, "maildir: %s was replaced before "
		    "it was synced", p->tmp);
	/* A failed fsync is a failed delivery, never retried on this file:
	 * the kernel may already have dropped the dirty pages. */
	else if (fsync(fd) == -1)
		r = err_set(err, ERR_LOCAL, "maildir: fsync %s: %s", p->tmp,
		    strerror(errno));
	(void)close(fd);
	return r;
}

/* syncfs every file system in md->sfd (after step 1, or step 2). */
static int
maildir_syncfs_all(struct maildir *md, const char *what, struct err *err)
{
	size_t j;

	for (j = 0; j < md->nsfs; j++)
		if (syncfs(md->sfd[j]) == -1)
			return err_set(err, ERR_LOCAL, "maildir: syncfs (%s): "
			    "%s", what, strerror(errno));
	return 0;
}

static void
maildir_syncfs_close(struct maildir *md)
{
	size_t j;

	for (j = 0; j < md->nsfs; j++)
		(void)close(md->sfd[j]);
	md->nsfs = 0;
}

/*
 * Step 1 in syncfs mode: one descriptor per file system of the batch
 * (a dup of a held file's, so the writeback errors reported are those
 * since that file was opened), each synced whole; a file on a file
 * system past the first MAILDIR_SYNCFS_MAX is fsync'd on its own.
 */
static int
maildir_syncfs_pending(struct maildir *md, struct err *err)
{
	size_t i, j;
	int fd;

	for (i = 0; i < md->npend; i++) {
		struct maildir_pending *p = &md->pend[i];

		for (j = 0; j < md->nsfs; j++)
			if (md->sdev[j] == p->dev)
				break;
		if (j < md->nsfs)
			continue;
		if (md->nsfs == MAILDIR_SYNCFS_MAX ||
		    (fd = fcntl(p->fd, F_DUPFD_CLOEXEC, 0)) == -1) {
			if (maildir_fsync_pending(p, err) == -1)
				return -1;
			continue;
		}
		md->sdev[md->nsfs] = p->dev;
		md->sfd[md->nsfs++] = fd;
	}
	return maildir_syncfs_all(md, "the batch's files", err);
}

/* Is dir on a file system that step 3 syncs whole? */
static bool
maildir_syncfs_covers(const struct maildir *md, int dirfd)
{
	struct stat st;
	size_t j;

	if (md->nsfs == 0 || fstat(dirfd, &st) == -1)
		return false;
	for (j = 0; j < md->nsfs; j++)
		if (md->sdev[j] == st.st_dev)
			return true;
	return false;
}

static int
maildir_sync(struct target *t, struct err *err)
{
	struct maildir *md = t->priv;
	size_t i;
	int fd, r = 0;
	bool fs;

	if (md->failed != NULL)
		return err_set(err, ERR_LOCAL, "maildir: an earlier sync "
		    "failed in this pass: %s", md->failed);
	/* 1. Every file of the batch to disk: syncfs, or one fsync each
	 * (the first commits the journal with the others' data, ext4
	 * data=ordered, and the rest cost a cache flush each). */
	fs = md->npend > 1 && md->nheld == md->npend &&
	    maildir_use_syncfs(md->npend);
	if (fs)
		r = maildir_syncfs_pending(md, err);
	for (i = 0; !fs && i < md->npend && r == 0; i++)
		r = maildir_fsync_pending(&md->pend[i], err);
	if (r == -1) {
		maildir_pending_drop(md, 0);
		maildir_syncfs_close(md);
		goto fail;
	}
	/* 2. Only then into new/. EEXIST: delivered by an earlier pass
	 * that crashed before its commit (or made since the deliver). */
	for (i = 0; i < md->npend; i++) {
		struct maildir_pending *p = &md->pend[i];
		char *dir, proc[40];
		int lr;

		if (p->fd >= 0) {
			/* The unnamed inode gets its one name (open(2),
			 * O_TMPFILE: linkat through /proc/self/fd). */
			(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d",
			    p->fd);
			lr = linkat(AT_FDCWD, proc, AT_FDCWD, p->dst,
			    AT_SYMLINK_FOLLOW);
		} else
			lr = link(p->tmp, p->dst);
		if (lr == -1) {
			if (errno != EEXIST) {
				r = err_set(err, ERR_LOCAL, "maildir: link %s "
				    "to %s: %s", p->tmp, p->dst,
				    strerror(errno));
				maildir_pending_drop(md, i);
				maildir_syncfs_close(md);
				goto fail;
			}
			log_debug("maildir: %s already delivered", p->dst);
		}
		dir = maildir_parent(p->dst);
		maildir_list_add(&md->dirty, dir);
		free(dir);
		if (p->fd >= 0) {
			maildir_unhold(&p->fd);
			continue;
		}
		if (unlink(p->tmp) == -1)
			log_warn("maildir: unlink %s", p->tmp);
		dir = maildir_parent(p->tmp);
		maildir_list_add(&md->dirty, dir);
		free(dir);
	}
	maildir_pending_drop(md, md->npend);
	/* 3. Each directory once (new/: the links; tmp/: the unlinks; and
	 * what was made), or in syncfs mode each file system whole (and a
	 * directory on another one on its own). The list is cleared even on
	 * failure, since a failed fsync is not retried (the next pass
	 * re-delivers, finds the file and syncs again). */
	for (i = 0; i < md->dirty.n; i++) {
		const char *dir = md->dirty.v[i];

		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd == -1) {
			if (r == 0)
				r = err_set(err, ERR_LOCAL, "maildir: open %s: "
				    "%s", dir, strerror(errno));
			continue;
		}
		if (!maildir_syncfs_covers(md, fd) && fsync(fd) == -1 &&
		    r == 0)
			r = err_set(err, ERR_LOCAL, "maildir: fsync %s: %s",
			    dir, strerror(errno));
		(void)close(fd);
	}
	if (r == 0 && md->nsfs > 0)
		r = maildir_syncfs_all(md, "the batch's new/ entries", err);
	maildir_syncfs_close(md);
	maildir_list_clear(&md->dirty);
	if (r == 0)
		return 0;
fail:
	maildir_list_clear(&md->dirty);
	md->failed = xstrdup(err != NULL ? err_msg(err) : "sync failed");
	return -1;
}

static void
maildir_close(struct target *t)
{
	struct maildir *md = t->priv;

	if (md == NULL)
		return;
	/* Never synced: not delivered, and nothing recorded them. */
	maildir_pending_drop(md, 0);
	maildir_list_clear(&md->made);
	maildir_list_clear(&md->dirty);
	free(md->failed);
	free(md->host);
	free(md);
	t->priv = NULL;
}

const struct target_ops target_maildir_ops = {
	.name = "maildir",
	.open = maildir_open,
	.deliver = maildir_deliver,
	.sync = maildir_sync,
	.close = maildir_close,
};
