#include "common.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deliver/target.h"
#include "deliver/target_impl.h"
#include "net/conn.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/spool.h"
#include "util/xmalloc.h"

/*
 * The mda: target: run a command per recipient with the message on its
 * standard input (LF line ends, as a local MDA expects), without a shell
 * unless the command asks for one ("sh -c ..."). The child gets a clean
 * environment, its own process group (so a time-out kills whatever it
 * started), default signal dispositions and no descriptor of ours: every
 * descriptor we open is close-on-exec, the three it gets are dup'd.
 *
 * Exit 0: delivered; 75 (EX_TEMPFAIL, sysexits.h): try later; any other
 * exit or a signal: refused (parked by the pass); the time limit: killed,
 * try later. Up to MDA_STDERR_MAX bytes of its standard error go into the
 * reason; standard output is discarded.
 */

#define MDA_TIMEOUT_S		300
#define MDA_STDERR_MAX		4096
#define MDA_CHUNK		(64 * 1024)
#define MDA_EX_TEMPFAIL		75
#define MDA_WORD_MAX		4096
#define MDA_PATH		"/usr/local/bin:/usr/bin:/bin"

struct mda {
	char **argv;		/* the split command, placeholders unexpanded */
	bool shell;
	int timeout_ms;
};

void
target_argv_free(char ***vp)
{
	char **v = *vp;
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
	*vp = NULL;
}

/* Split s into words: white space separates; '...' is literal; "..."
 * allows \" and \\; a backslash outside quotes escapes the next byte. */
static int
mda_words(const char *s, char ***v_r, size_t *n_r, struct err *err)
{
	struct buf w;
	char **v = NULL, q = 0;
	size_t n = 0;
	bool inword = false;
	const char *p;

	buf_init(&w, MDA_WORD_MAX);
	for (p = s;; p++) {
		if (q == 0 && (*p == '\0' || *p == ' ' || *p == '\t')) {
			if (inword) {
				if (n >= TARGET_ARGV_MAX) {
					err_set(err, ERR_CONFIG,
					    "command has too many words");
					goto fail;
				}
				v = xreallocarray(v, n + 2, sizeof(*v));
				v[n++] = buf_detach(&w);
				v[n] = NULL;
				inword = false;
			}
			if (*p == '\0')
				break;
			continue;
		}
		if (*p == '\0') {
			err_set(err, ERR_CONFIG, "command has an unterminated "
			    "%c quote", q);
			goto fail;
		}
		inword = true;
		if (q == 0 && (*p == '\'' || *p == '"')) {
			q = *p;
			/* An empty quoted word is a word. */
			if (buf_add(&w, "", 0) == -1)
				goto toolong;
			continue;
		}
		if (q != 0 && *p == q) {
			q = 0;
			continue;
		}
		if (*p == '\\' && q != '\'') {
			if (p[1] == '\0') {
				err_set(err, ERR_CONFIG,
				    "command ends with a backslash");
				goto fail;
			}
			if (q == 0 || p[1] == '"' || p[1] == '\\')
				p++;
		}
		if (buf_add(&w, p, 1) == -1)
			goto toolong;
	}
	buf_free(&w);
	*v_r = v;
	*n_r = n;
	return 0;
toolong:
	err_set(err, ERR_CONFIG, "command word too long");
fail:
	buf_free(&w);
	target_argv_free(&v);
	return -1;
}

int
target_argv_split(const char *cmd, char ***argv_r, bool *shell_r,
    struct err *err)
{
	char **v = NULL, **sv = NULL;
	const char *p, *script;
	size_t n, sn;

	*argv_r = NULL;
	*shell_r = false;
	for (p = cmd; *p == ' ' || *p == '\t'; p++)
		;
	if (strncmp(p, "sh -c ", 6) == 0 || strncmp(p, "/bin/sh -c ", 11) ==
	    0) {
		script = p + (p[0] == '/' ? 11 : 6);
		while (*script == ' ' || *script == '\t')
			script++;
		if (*script == '\0')
			return err_set(err, ERR_CONFIG,
			    "\"sh -c\" without a script");
		/* A script given as one quoted word loses its quotes;
		 * otherwise the rest of the command is the script. */
		if (mda_words(script, &sv, &sn, err) == -1)
			return -1;
		if (sn == 1)
			script = sv[0];
		/* Recipient data never goes into shell text. */
		if (strstr(script, "%u") != NULL ||
		    strstr(script, "%d") != NULL ||
		    strstr(script, "%a") != NULL) {
			target_argv_free(&sv);
			return err_set(err, ERR_CONFIG, "no %%u/%%d/%%a in an "
			    "\"sh -c\" script: use \"$1\" (local part), "
			    "\"$2\" (domain), \"$3\" (address)");
		}
		v = xcalloc(4, sizeof(*v));
		v[0] = xstrdup("/bin/sh");
		v[1] = xstrdup("-c");
		v[2] = xstrdup(script);
		target_argv_free(&sv);
		*argv_r = v;
		*shell_r = true;
		return 0;
	}
	if (mda_words(p, &v, &n, err) == -1)
		return -1;
	if (n == 0)
		return err_set(err, ERR_CONFIG, "empty command");
	*argv_r = v;
	return 0;
}

static int
mda_open(struct target *t, struct err *err)
{
	struct mda *m;

	m = xcalloc(1, sizeof(*m));
	if (target_argv_split(t->uri.path, &m->argv, &m->shell, err) == -1) {
		free(m);
		return -1;
	}
	m->timeout_ms = (t->uri.timeout_s > 0 ? t->uri.timeout_s :
	    MDA_TIMEOUT_S) * 1000;
	t->priv = m;
	return 0;
}

/* The argv for one recipient. */
static int
mda_argv(const struct mda *m, const char *rcpt, char ***argv_r,
    struct err *err)
{
	static const char *const ph[] = { "%u", "%d", "%a" };
	char **v;
	size_t i, n;

	for (n = 0; m->argv[n] != NULL; n++)
		;
	if (m->shell) {
		/* /bin/sh -c SCRIPT mailpull LOCAL DOMAIN ADDRESS */
		v = xcalloc(8, sizeof(*v));
		for (i = 0; i < 3; i++)
			v[i] = xstrdup(m->argv[i]);
		v[3] = xstrdup(MAILPULL_NAME);
		for (i = 0; i < 3; i++)
			if (target_expand(ph[i], rcpt, &v[4 + i], err) == -1)
				goto fail;
		*argv_r = v;
		return 0;
	}
	v = xcalloc(n + 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		if (target_expand(m->argv[i], rcpt, &v[i], err) == -1)
			goto fail;
		/* A recipient must not turn into an option. */
		if (v[i][0] == '-' && m->argv[i][0] != '-') {
			err_set(err, ERR_PERM, "recipient \"%s\" would make "
			    "argument %zu an option", rcpt, i);
			goto fail;
		}
	}
	*argv_r = v;
	return 0;
fail:
	target_argv_free(&v);
	return -1;
}

/* argv[0] without a '/': searched in MDA_PATH, as the child's PATH. */
static char *
mda_resolve(const char *cmd)
{
	const char *p, *e;
	char *cand;

	if (strchr(cmd, '/') != NULL)
		return access(cmd, X_OK) == 0 ? xstrdup(cmd) : NULL;
	for (p = MDA_PATH; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		if ((e = strchr(p, ':')) == NULL)
			e = p + strlen(p);
		cand = xasprintf("%.*s/%s", (int)(e - p), p, cmd);
		if (access(cand, X_OK) == 0)
			return cand;
		free(cand);
	}
	return NULL;
}

/* PATH, HOME, USER, LOGNAME: nothing else of ours leaks to the child.
 * getpwuid_r: passes deliver from several threads (serve, fetch), and
 * getpwuid's static result would be shared between them. */
static char **
mda_env(void)
{
	struct passwd pwbuf, *pw = NULL;
	const char *home = NULL, *user = NULL;
	char **env, *buf;
	long max = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t cap = max > 16384 ? (size_t)max : 16384, n = 0;

	buf = xmalloc(cap);
	if (getpwuid_r(getuid(), &pwbuf, buf, cap, &pw) == 0 && pw != NULL) {
		home = pw->pw_dir;
		user = pw->pw_name;
	}
	env = xcalloc(5, sizeof(*env));
	env[n++] = xstrdup("PATH=" MDA_PATH);
	env[n++] = xasprintf("HOME=%s", home != NULL ? home : "/");
	if (user != NULL) {
		env[n++] = xasprintf("USER=%s", user);
		env[n++] = xasprintf("LOGNAME=%s", user);
	}
	free(buf);
	return env;
}

/* Stderr as one printable line. */
static void
mda_stderr_clean(struct buf *b)
{
	size_t i;

	for (i = 0; i < b->len; i++)
		if ((unsigned char)b->data[i] < 0x20 ||
		    (unsigned char)b->data[i] == 0x7f)
			b->data[i] = ' ';
	while (b->len > 0 && b->data[b->len - 1] == ' ')
		b->len--;
	if (b->data != NULL)
		b->data[b->len] = '\0';
}

/*
 * Feed the child and drain its stderr until both are done or the time
 * limit passes. Returns 0, or -1 on the time limit (timed_out set) or a
 * local error (err set).
 */
static int
mda_feed(int *in_fd, int *err_fd, const struct buf *hdr, struct spool *sp,
    int64_t end_ms, struct buf *ebuf, bool *timed_out, struct err *err)
{
	struct pollfd pfd[2];
	char *chunk, rb[1024];
	const char *wp = hdr->data;
	size_t wn = hdr->len;
	bool spool_done = false;
	ssize_t n;
	int64_t now;
	int np, r = -1;

	chunk = xmalloc(MDA_CHUNK);
	if (spool_rewind(sp, err) == -1)
		goto out;
	while (*in_fd != -1 || *err_fd != -1) {
		if (*in_fd != -1 && wn == 0 && !spool_done) {
			n = spool_read(sp, chunk, MDA_CHUNK, err);
			if (n == -1)
				goto out;
			if (n == 0) {
				spool_done = true;
				(void)close(*in_fd);
				*in_fd = -1;
				continue;
			}
			wp = chunk;
			wn = (size_t)n;
		}
		np = 0;
		if (*in_fd != -1) {
			pfd[np].fd = *in_fd;
			pfd[np++].events = POLLOUT;
		}
		if (*err_fd != -1) {
			pfd[np].fd = *err_fd;
			pfd[np++].events = POLLIN;
		}
		now = conn_now_ms();
		if (now >= end_ms) {
			*timed_out = true;
			goto out;
		}
		if (poll(pfd, (nfds_t)np, (int)MP_MIN(end_ms - now,
		    60000)) == -1) {
			if (errno == EINTR)
				continue;
			err_set(err, ERR_LOCAL, "mda: poll: %s",
			    strerror(errno));
			goto out;
		}
		for (np--; np >= 0; np--) {
			if (pfd[np].revents == 0)
				continue;
			if (pfd[np].fd == *err_fd) {
				n = read(*err_fd, rb, sizeof(rb));
				if (n == -1 && (errno == EINTR ||
				    errno == EAGAIN))
					continue;
				if (n <= 0) {
					(void)close(*err_fd);
					*err_fd = -1;
					continue;
				}
				/* Beyond the cap: read and drop. */
				(void)buf_add(ebuf, rb, MP_MIN((size_t)n,
				    ebuf->max - ebuf->len));
				continue;
			}
			n = write(*in_fd, wp, wn);
			if (n == -1 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				/* The command stopped reading (EPIPE): its
				 * exit status decides. */
				(void)close(*in_fd);
				*in_fd = -1;
				continue;
			}
			wp += n;
			wn -= (size_t)n;
		}
	}
	r = 0;
out:
	free(chunk);
	return r;
}

/* Wait for pid until end_ms (polling: the child may hold no pipe). */
static int
mda_wait(pid_t pid, int64_t end_ms, int *status_r)
{
	struct timespec ts;
	long delay_ms = 1;
	pid_t w;

	for (;;) {
		w = waitpid(pid, status_r, WNOHANG);
		if (w == pid)
			return 0;
		if (w == -1 && errno != EINTR)
			return -1;
		if (conn_now_ms() >= end_ms)
			return -1;
		ts.tv_sec = 0;
		ts.tv_nsec = delay_ms * 1000000;
		(void)nanosleep(&ts, NULL);
		if (delay_ms < 50)
			delay_ms *= 2;
	}
}

static int
mda_deliver(struct target *t, struct spool *sp, const char *rcpt,
    const struct delivery *d, struct err *err)
{
	struct mda *m = t->priv;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t sigs;
	struct buf hdr, ebuf;
	char **argv = NULL, **env = NULL, *path = NULL;
	int in[2] = { -1, -1 }, errp[2] = { -1, -1 }, devnull = -1;
	int status = 0, rc = -1, e;
	bool fa_ok = false, attr_ok = false, timed_out = false;
	pid_t pid = -1;
	int64_t end_ms;

	buf_init(&hdr, TARGET_HEADER_MAX);
	buf_init(&ebuf, MDA_STDERR_MAX);
	if (mda_argv(m, rcpt, &argv, err) == -1) {
		err_prefix(err, "mda");
		goto out;
	}
	if ((path = mda_resolve(argv[0])) == NULL) {
		err_set(err, ERR_LOCAL, "mda: %s: command not found or not "
		    "executable", argv[0]);
		goto out;
	}
	if (target_header_format(&hdr, t->hostname, rcpt, d, time(NULL),
	    err) == -1) {
		err_prefix(err, "mda");
		goto out;
	}
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(errp, O_CLOEXEC) == -1 ||
	    (devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1) {
		err_set(err, ERR_LOCAL, "mda: pipe: %s", strerror(errno));
		goto out;
	}
	env = mda_env();
	if (posix_spawn_file_actions_init(&fa) != 0 ||
	    posix_spawnattr_init(&attr) != 0)
		fatalx("mda: posix_spawn setup");
	fa_ok = attr_ok = true;
	/* dup2 clears close-on-exec on the three the child gets. */
	if (posix_spawn_file_actions_adddup2(&fa, in[0], 0) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, devnull, 1) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, errp[1], 2) != 0)
		fatalx("mda: posix_spawn file actions");
	/* Its own process group; default dispositions (we ignore
	 * SIGPIPE), nothing blocked. */
	sigemptyset(&sigs);
	(void)posix_spawnattr_setsigmask(&attr, &sigs);
	sigfillset(&sigs);
	sigdelset(&sigs, SIGKILL);
	sigdelset(&sigs, SIGSTOP);
	(void)posix_spawnattr_setsigdefault(&attr, &sigs);
	(void)posix_spawnattr_setpgroup(&attr, 0);
	(void)posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if ((e = posix_spawn(&pid, path, &fa, &attr, argv, env)) != 0) {
		pid = -1;
		err_set(err, ERR_LOCAL, "mda: cannot run %s: %s", path,
		    strerror(e));
		goto out;
	}
	(void)close(in[0]);
	(void)close(errp[1]);
	(void)close(devnull);
	in[0] = errp[1] = devnull = -1;
	(void)fcntl(in[1], F_SETFL, O_NONBLOCK);
	(void)fcntl(errp[0], F_SETFL, O_NONBLOCK);

	end_ms = conn_now_ms() + m->timeout_ms;
	if (mda_feed(&in[1], &errp[0], &hdr, sp, end_ms, &ebuf, &timed_out,
	    err) == -1 && !timed_out)
		goto out;	/* pid is killed and reaped below */
	if (!timed_out && mda_wait(pid, end_ms, &status) == -1)
		timed_out = true;
	if (timed_out) {
		err_set(err, ERR_TEMP, "mda: %s: no exit within %d s: "
		    "killed", argv[0], m->timeout_ms / 1000);
		goto out;
	}
	pid = -1;
	mda_stderr_clean(&ebuf);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		rc = 0;
	else if (WIFEXITED(status) && WEXITSTATUS(status) == MDA_EX_TEMPFAIL)
		err_set(err, ERR_TEMP, "mda: %s: exit %d (try later)%s%s",
		    argv[0], MDA_EX_TEMPFAIL, ebuf.len > 0 ? ": " : "",
		    ebuf.len > 0 ? ebuf.data : "");
	else if (WIFEXITED(status))
		err_set(err, ERR_PERM, "mda: %s: exit %d%s%s", argv[0],
		    WEXITSTATUS(status), ebuf.len > 0 ? ": " : "",
		    ebuf.len > 0 ? ebuf.data : "");
	else
		err_set(err, ERR_PERM, "mda: %s: killed by signal %d%s%s",
		    argv[0], WIFSIGNALED(status) ? WTERMSIG(status) : 0,
		    ebuf.len > 0 ? ": " : "", ebuf.len > 0 ? ebuf.data : "");
out:
	if (pid != -1) {
		/* The whole group: whatever the command started. */
		(void)kill(-pid, SIGKILL);
		(void)kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
	}
	if (in[0] != -1)
		(void)close(in[0]);
	if (in[1] != -1)
		(void)close(in[1]);
	if (errp[0] != -1)
		(void)close(errp[0]);
	if (errp[1] != -1)
		(void)close(errp[1]);
	if (devnull != -1)
		(void)close(devnull);
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	target_argv_free(&env);
	target_argv_free(&argv);
	free(path);
	buf_free(&ebuf);
	buf_free(&hdr);
	return rc;
}

static int
mda_sync(struct target *t, struct err *err)
{
	/* Exit 0 is the command's promise that the message is safe. */
	return 0;
}

/* The program the delivery would run for rcpt is executable. */
static int
mda_probe(struct target *t, const char *rcpt, struct err *err)
{
	struct mda *m = t->priv;
	char **argv = NULL, *path;
	int rc = 0;

	if (mda_argv(m, rcpt, &argv, err) == -1) {
		err_prefix(err, "mda");
		return -1;
	}
	if ((path = mda_resolve(argv[0])) == NULL)
		rc = err_set(err, ERR_PERM, "mda: %s: command not found or "
		    "not executable", argv[0]);
	free(path);
	target_argv_free(&argv);
	return rc;
}

static void
mda_close(struct target *t)
{
	struct mda *m = t->priv;

	if (m == NULL)
		return;
	target_argv_free(&m->argv);
	free(m);
	t->priv = NULL;
}

const struct target_ops target_mda_ops = {
	.name = "mda",
	.open = mda_open,
	.deliver = mda_deliver,
	.probe = mda_probe,
	.sync = mda_sync,
	.close = mda_close,
};
