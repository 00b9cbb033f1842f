/* remote.h — what a run keeps on its SSH hosts (DESIGN §3):
 *
 *   STATE/                  the host's `state_dir` (default /var/tmp/runbook,
 *                           which survives reboots), mode 1777 like /tmp
 *   STATE/lock/holder.json  the lock: mkdir is atomic, so two operators
 *                           cannot both take it; the holder's user,
 *                           machine, pid, run id, runbook and time
 *   STATE/runs/RUN_ID/      the mirror (0700): journal.jsonl appended
 *                           record by record, runbook.yml, modules/,
 *                           params.json — what `resume --from-target`
 *                           needs when the operator's machine is gone
 *
 * Every SSH host the run uses is connected before anything runs, locked
 * and mirrored.  The mirror is written after the local journal (which
 * stays the authority), on the host's one connection, so a record that
 * announces a step reaches the host before the step's command does.  A
 * host whose mirror cannot be written is warned about once and brought
 * up to date by the next resume. */
#ifndef RB_REMOTE_H
#define RB_REMOTE_H

#include "journal.h"
#include "lock.h"
#include "plan.h"

struct ssh_file;

struct remote_host {
	struct host *h;          /* not owned */
	bool locked;             /* we hold its lock */
	struct ssh_file *jf;     /* its mirror journal, open for appending */
	bool broken;             /* the mirror stopped (warned) */
	long long copied_seq;    /* after a resync: the records up to this seq
				  * are in the copy, not sent again */
};

struct remote {
	struct remote_host *v;
	size_t n;
	char *run_id;
	char *holder;            /* our lock's holder.json */
	char *run_dir;           /* the local run folder the mirror copies */
	char **q;                /* records not yet sent (see mirror_record) */
	size_t nq, qcap;
	size_t qbase, nsent;     /* records before q[0]; records sent */
	bool writing;
};

/* Opens the connection of every SSH host the plan uses (the target's,
 * then those of the preconditions, steps, undos and finally).  0, or -1 with
 * err naming each host that cannot be reached or trusted. */
int remote_connect(struct plan *p, struct rb_error *err);

/* Takes the lock on every SSH host the plan uses, waiting up to wait_ms
 * for each.  A lock of the same run (a resume, from anywhere) or of a
 * dead process of this machine is taken over with a warning in err.  0,
 * or -1 with err naming the holder (nothing stays locked). */
int remote_lock(struct remote *R, struct plan *p, const struct lock_holder *me, long long wait_ms,
		struct rb_error *err);

/* Copies the run folder's runbook, modules, params and journal to every
 * locked host, then follows jn (jn->mirror).  Failures are warnings. */
void remote_mirror_start(struct remote *R, const char *run_dir, struct journal *jn);

/* After h's lost connection was made again (ssh_reconnect): its lock is
 * checked and taken again (a lock of this run is ours), and its mirror
 * brought up to date from the local run folder.  Failures are warnings,
 * as at the start.  ctx is the struct remote (an engine_opts callback). */
void remote_reconnected(void *ctx, struct host *h);

/* Unlocks, closes the mirrors, frees R (connections stay open: they
 * belong to the plan's hosts). */
void remote_release(struct remote *R);

/* `resume --from-target`: copies the run (run_arg, else the newest
 * unfinished one) from h's mirror into STATE/runs/ID.  0 with *run_id
 * (malloc'ed), or -1 with err. */
int remote_fetch(struct host *h, const char *run_arg, const char *state_dir, char **run_id, struct rb_error *err);

/* `runbook lock HOST` on an SSH host: prints its remote lock, and with
 * brk removes it.  0, or -1 with err. */
int remote_lock_show(struct host *h, bool brk, struct rb_error *err);

#endif
