/* lock.h — one lock per target host on the operator's machine:
 * STATE/locks/HOST.lock, held with flock(2) for as long as the run's
 * process lives, and holding the holder's details as JSON (user, machine,
 * pid, run id, runbook, start time).
 *
 * Why flock and not O_EXCL files: the kernel drops a flock when its
 * process dies, however it dies, so "is the holder gone?" never depends
 * on a pid that may have been reused.  A file that still names a holder
 * but is not locked is stale: it is taken over with a warning.  The file
 * is emptied, never unlinked, on release: unlinking would let two
 * processes lock two different inodes under one name. */
#ifndef RB_LOCK_H
#define RB_LOCK_H

#include "util.h"

struct lock_holder {
	const char *run, *runbook, *user, *machine, *started; /* started: when the lock was taken */
	long long pid;
};

struct lock {
	int fd;
	char *path, *host;
};

struct locks {
	struct lock *v;
	size_t n, cap;
};

/* Locks every host in hosts (sorted by name, so two waiting runs cannot
 * deadlock), waiting up to wait_ms for each (0: not at all; interrupted by
 * SIGINT/SIGTERM).  0, or -1 with err set naming the holder; on failure
 * nothing stays locked.  A stale lock taken over adds a warning to err. */
int locks_take(struct locks *ls, const char *state_dir, const char *const *hosts, size_t n,
	       const struct lock_holder *me, long long wait_ms, struct rb_error *err);
void locks_release(struct locks *ls);

/* The holder of host's lock as "user@machine pid N, run ID (runbook), since T".
 * Returns a malloc'ed description, or NULL when the lock is free.
 * *live tells whether a process holds it now (else it is stale). *run
 * receives the holder's run id when non-NULL (malloc'ed). */
char *lock_describe(const char *state_dir, const char *host, bool *live, char **run);

/* The holder's details as one JSON line (malloc'ed), and back: "user@machine
 * pid N, run ID (runbook), since T" (*run: the run id, malloc'ed, when
 * run is not NULL).  Shared with the remote locks (remote.c). */
char *lock_holder_json(const struct lock_holder *me);
char *lock_holder_describe(const char *json, char **run);

/* Clears a stale lock's holder record (runbook lock --break).  0, or -1
 * with errno: EBUSY when a live process holds it (end that process). */
int lock_break(const char *state_dir, const char *host);

#endif
