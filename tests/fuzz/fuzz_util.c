/* tests/fuzz/fuzz_util.c — see fuzz.h. */
#include "fuzz.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char folder[256];

/* The folder goes at exit: /dev/shm is memory. */
static void cleanup(void)
{
	DIR *d = opendir(folder);
	struct dirent *e;
	char p[600];
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(p, sizeof(p), "%s/%s", folder, e->d_name);
			unlink(p);
		}
	if (d)
		closedir(d);
	rmdir(folder);
}

const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
	static char path[512];
	if (!folder[0]) {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
		snprintf(folder, sizeof(folder), "%s/rbfuzz-%ld", base ? base : "/tmp", (long)getpid());
		mkdir(folder, 0700);
		atexit(cleanup);
	}
	snprintf(path, sizeof(path), "%s/%s", folder, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	for (size_t off = 0; off < size;) {
		ssize_t w = write(fd, data + off, size - off);
		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	close(fd);
	return path;
}
