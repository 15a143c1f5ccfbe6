/* The disk floor for bench/run: copy every message file of the source
 * Maildirs into DST with the same durability mailpull promises (each file
 * written to tmp/, fsync'd, linked into new/, tmp name unlinked; new/
 * fsync'd once per batch of 64 and at the end). No network, no parsing:
 * what the same bytes and syncs cost on this disk.
 *
 *   floor DST SRC_MAILDIR...
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char buf[1 << 16];

static void die(const char *what, const char *path)
{
	perror(path ? path : what);
	exit(1);
}

static int newfd = -1;
static unsigned long seq, batch;

static void copy_one(const char *src, const char *dst)
{
	char tmp[4096], fin[4096];
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		die("open", src);
	seq++;
	snprintf(tmp, sizeof tmp, "%s/tmp/floor.%lu.%d", dst, seq, (int)getpid());
	snprintf(fin, sizeof fin, "%s/new/floor.%lu.%d", dst, seq, (int)getpid());
	int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		die("open", tmp);
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n < 0)
			die("read", src);
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0)
				die("write", tmp);
			off += w;
		}
	}
	close(in);
	if (fsync(out) != 0)
		die("fsync", tmp);
	close(out);
	if (link(tmp, fin) != 0)
		die("link", fin);
	unlink(tmp);
	if (++batch == 64) {
		if (fsync(newfd) != 0)
			die("fsync", "new/");
		batch = 0;
	}
}

int main(int argc, char **argv)
{
	char path[4096];
	if (argc < 3) {
		fprintf(stderr, "usage: floor DST SRC_MAILDIR...\n");
		return 2;
	}
	snprintf(path, sizeof path, "%s/new", argv[1]);
	newfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (newfd < 0)
		die("open", path);
	for (int i = 2; i < argc; i++) {
		static const char *subs[] = {"new", "cur"};
		for (int s = 0; s < 2; s++) {
			snprintf(path, sizeof path, "%s/%s", argv[i], subs[s]);
			DIR *d = opendir(path);
			if (!d)
				continue;
			struct dirent *e;
			while ((e = readdir(d)) != NULL) {
				char src[4096];
				if (e->d_name[0] == '.')
					continue;
				snprintf(src, sizeof src, "%s/%s", path, e->d_name);
				copy_one(src, argv[1]);
			}
			closedir(d);
		}
	}
	if (fsync(newfd) != 0)
		die("fsync", "new/");
	printf("%lu\n", seq);
	return 0;
}
