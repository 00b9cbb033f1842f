/* rundir.c — see rundir.h. */
#include "rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *state_dir_path(const char *option)
{
	if (option && *option)
		return xstrdup(option);
	const char *e = getenv("RUNBOOK_STATE_DIR");
	if (e && *e)
		return xstrdup(e);
	e = getenv("XDG_STATE_HOME");
	if (e && *e)
		return xasprintf("%s/runbook", e);
	e = getenv("HOME");
	return xasprintf("%s/.local/state/runbook", e && *e ? e : ".");
}

char *run_id_new(const char *name, char *started, size_t n)
{
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	char stamp[32];
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	if (started)
		strftime(started, n, "%Y-%m-%dT%H:%M:%S%z", &tm);
	unsigned char rnd[4];
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		unsigned v = (unsigned)getpid() ^ (unsigned)now;
		memcpy(rnd, &v, 4);
	}
	static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	char suffix[5];
	for (int i = 0; i < 4; i++)
		suffix[i] = alphabet[rnd[i] % 36];
	suffix[4] = '\0';
	return xasprintf("%s-%s-%s", name, stamp, suffix);
}

int mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			int e = errno;
			free(p);
			errno = e;
			return -1;
		}
		*s = '/';
	}
	int rc = mkdir(p, mode);
	int e = errno;
	free(p);
	if (rc < 0 && e != EEXIST) {
		errno = e;
		return -1;
	}
	return 0;
}

char *run_dir_create(const char *state, const char *id, struct rb_error *err)
{
	char *dir = xasprintf("%s/runs/%s", state, id);
	char *logs = xasprintf("%s/logs", dir);
	if (mkdir_p(logs, 0700) < 0) {
		rb_error_add(err, "cannot create the run folder '%s': %s", dir, strerror(errno));
		free(dir);
		free(logs);
		return NULL;
	}
	/* The state folder may predate us with looser modes: runs hold output
	 * that may be sensitive, so tighten what we own. */
	chmod(dir, 0700);
	chmod(logs, 0700);
	free(logs);
	return dir;
}

int step_log_open(const char *run_dir, int number, const char *id, const char *host, char **path)
{
	char *p = host ? xasprintf("%s/logs/%02d-%s@%s.log", run_dir, number, id, host)
		       : xasprintf("%s/logs/%02d-%s.log", run_dir, number, id);
	int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (path)
		*path = p;
	else
		free(p);
	return fd;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path); /* best effort: what stays is said by the caller's error */
	return 0;
}

void remove_tree(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
