/* lock.c — see lock.h. */
#include "lock.h"

#include "json.h"
#include "rundir.h"
#include "sig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* Host names come from inventories: keep the file name tame. */
static char *lock_path(const char *state_dir, const char *host)
{
	struct sbuf sb = {0};
	sbuf_addf(&sb, "%s/locks/", state_dir);
	for (const unsigned char *p = (const unsigned char *)host; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		    *p == '_' || (*p == '.' && p != (const unsigned char *)host))
			sbuf_addc(&sb, (char)*p);
		else
			sbuf_addf(&sb, "%%%02X", *p);
	}
	sbuf_adds(&sb, ".lock");
	return sbuf_detach(&sb);
}

static char *read_fd(int fd)
{
	struct sbuf sb = {0};
	char buf[4096];
	ssize_t n;
	off_t off = 0;
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0 && sb.len < 65536) {
		sbuf_add(&sb, buf, (size_t)n);
		off += n;
	}
	return sbuf_detach(&sb);
}

char *lock_holder_describe(const char *text, char **run)
{
	char *perr = NULL;
	struct jv *v = json_parse(text, strlen(text), &perr);
	free(perr);
	if (!v)
		return xstrdup("an unreadable holder record");
	char *d = xasprintf("%s@%s pid %lld, run %s (%s), since %s", jv_str(v, "user") ? jv_str(v, "user") : "?",
			    jv_str(v, "machine") ? jv_str(v, "machine") : "?", jv_int(v, "pid", 0),
			    jv_str(v, "run") ? jv_str(v, "run") : "?",
			    jv_str(v, "runbook") ? jv_str(v, "runbook") : "?",
			    jv_str(v, "started") ? jv_str(v, "started") : "?");
	if (run)
		*run = jv_str(v, "run") ? xstrdup(jv_str(v, "run")) : NULL;
	jv_free(v);
	return d;
}

static bool blank(const char *s)
{
	return s[strspn(s, " \t\r\n")] == '\0';
}

/* Waits up to ms, waking on signals: -1 when interrupted. */
static int nap(long long ms)
{
	struct pollfd pf = {sig_fd(), POLLIN, 0};
	if (poll(&pf, 1, (int)ms) > 0)
		sig_drain();
	return sig_interrupted() ? -1 : 0;
}

static int take_one(struct lock *l, const char *state_dir, const char *host, const char *mine,
		    const char *my_run, long long wait_ms, struct rb_error *err)
{
	char *dir = xasprintf("%s/locks", state_dir);
	if (mkdir_p(dir, 0700) < 0) {
		rb_error_add(err, "cannot create %s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	free(dir);
	l->path = lock_path(state_dir, host);
	l->host = xstrdup(host);
	l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (l->fd < 0) {
		rb_error_add(err, "cannot open the lock %s: %s", l->path, strerror(errno));
		return -1;
	}
	/* `status` and `lock` look at a lock by taking it shared for an
	 * instant: a short grace keeps such a look from refusing a run */
	long long deadline = now_ms() + (wait_ms > 250 ? wait_ms : 250);
	bool told = false;
	while (flock(l->fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			rb_error_add(err, "cannot lock %s: %s", l->path, strerror(errno));
			return -1;
		}
		char *text = read_fd(l->fd);
		char *who = blank(text) ? xstrdup("another runbook process") : lock_holder_describe(text, NULL);
		free(text);
		long long left = deadline - now_ms();
		if (left <= 0 || sig_interrupted()) {
			rb_error_add(err, "target '%s' is locked by %s%s", host, who,
				     sig_interrupted() ? " (interrupted while waiting)" : wait_ms ? " (gave up waiting)"
					     : "; wait with --lock-wait DURATION, or see 'runbook lock' if it is stuck");
			free(who);
			return -1;
		}
		if (!told && wait_ms) {
			fprintf(stderr, "runbook: waiting for the lock on '%s', held by %s\n", host, who);
			told = true;
		}
		free(who);
		if (nap(left < 200 ? left : 200) < 0) {
			rb_error_add(err, "interrupted while waiting for the lock on '%s'", host);
			return -1;
		}
	}
	/* Locked.  A holder record left in the file belongs to a process that
	 * died without releasing: say whose lock is being taken over. */
	char *old = read_fd(l->fd);
	if (!blank(old)) {
		char *run = NULL;
		char *who = lock_holder_describe(old, &run);
		if (run && !strcmp(run, my_run))
			fprintf(stderr, "runbook: the earlier process of this run is gone (%s): its lock on '%s' is taken over\n",
				who, host);
		else
			rb_warn_at(err, (struct pos){0}, "took over the stale lock on '%s' left by %s (that process is gone)",
				   host, who);
		free(run);
		free(who);
	}
	free(old);
	if (ftruncate(l->fd, 0) < 0 || pwrite(l->fd, mine, strlen(mine), 0) != (ssize_t)strlen(mine) ||
	    fdatasync(l->fd) < 0) {
		rb_error_add(err, "cannot write the lock %s: %s", l->path, strerror(errno));
		return -1;
	}
	return 0;
}

char *lock_holder_json(const struct lock_holder *me)
{
	struct json j = {0};
	json_begin(&j);
	json_kstr(&j, "run", me->run);
	json_kstr(&j, "runbook", me->runbook);
	json_kstr(&j, "user", me->user);
	json_kstr(&j, "machine", me->machine);
	json_kint(&j, "pid", me->pid);
	json_kstr(&j, "started", me->started);
	char *mine = xasprintf("%s\n", json_end(&j));
	json_release(&j);
	return mine;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int locks_take(struct locks *ls, const char *state_dir, const char *const *hosts, size_t n,
	       const struct lock_holder *me, long long wait_ms, struct rb_error *err)
{
	const char **sorted = xcalloc(n + 1, sizeof(char *));
	memcpy(sorted, hosts, n * sizeof(char *));
	qsort(sorted, n, sizeof(char *), cmp_str);
	char *mine = lock_holder_json(me);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (i && !strcmp(sorted[i], sorted[i - 1]))
			continue;
		struct lock l = {.fd = -1};
		rc = take_one(&l, state_dir, sorted[i], mine, me->run, wait_ms, err);
		VEC_PUSH(ls->v, ls->n, ls->cap, l);
		if (rc < 0) {
			/* this one is not ours: do not empty it on release */
			if (l.fd >= 0)
				close(l.fd);
			ls->v[ls->n - 1].fd = -1;
		}
	}
	free(mine);
	free(sorted);
	if (rc < 0)
		locks_release(ls);
	return rc;
}

void locks_release(struct locks *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		struct lock *l = &ls->v[i];
		if (l->fd >= 0) {
			/* empty while still locked: released means no holder */
			if (ftruncate(l->fd, 0) == 0)
				fdatasync(l->fd);
			close(l->fd);
		}
		free(l->path);
		free(l->host);
	}
	free(ls->v);
	memset(ls, 0, sizeof(*ls));
}

char *lock_describe(const char *state_dir, const char *host, bool *live, char **run)
{
	char *path = lock_path(state_dir, host);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	*live = false;
	if (run)
		*run = NULL;
	if (fd < 0)
		return NULL;
	char *text = read_fd(fd);
	/* held for an instant only: take_one allows for such a look */
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		*live = true;
	else
		flock(fd, LOCK_UN);
	close(fd);
	char *d = NULL;
	if (*live)
		d = blank(text) ? xstrdup("a runbook process that has not written its details yet") : lock_holder_describe(text, run);
	else if (!blank(text))
		d = lock_holder_describe(text, run);
	free(text);
	return d;
}

int lock_break(const char *state_dir, const char *host)
{
	char *path = lock_path(state_dir, host);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	/* a live holder keeps its flock whatever happens to the file: only
	 * ending that process frees the target */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno == EWOULDBLOCK ? EBUSY : errno;
		close(fd);
		errno = e;
		return -1;
	}
	int rc = ftruncate(fd, 0) == 0 && fdatasync(fd) == 0 ? 0 : -1;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}
