/* journal.h — the run journal, STATE/runs/RUN_ID/journal.jsonl: one JSON
 * record per line, each with "seq", "time", "event" and a CRC-32 seeded
 * by the run's nonce (so a line pasted from another run does not pass).
 *
 * Durability rule (DESIGN §3): a record is written and fdatasync'ed
 * BEFORE the effect it announces goes on — step_start before the command
 * starts, step_end before the next step starts.  The one exception is
 * step_pid, written after the command started and not synced: it only
 * matters while the machine stays up (to wait for a command that outlived
 * a killed runbook), and the page cache keeps it for exactly that long.
 *
 * Replay reads the records back and folds them into a struct run_state:
 * what every step on every host last did.  A torn or short last line is
 * ignored (the write that made it never finished); any other damage is
 * refused, naming file and line.
 *
 * Record events and their fields:
 *   run_start   nonce run runbook path target user machine pid boot_id
 *               epoch_ms params[] files[] plan[] inventory params_file
 *   resume      pid user machine boot_id use_current [files[] plan[]]
 *   precondition step host status
 *   phase       phase ("steps" | "finally")
 *   step_start  step host attempt number
 *   step_pid    step host pgid
 *   step_end    step host status rc attempts duration_ms [reason]
 *               [captures{} masked[] stdout stderr settled]
 *   step_skip   step [host] reason [group]
 *   confirm_ask / confirm_answer   step host [text | answer]
 *   run_end     status exit duration_ms
 * and for a rollback (phase "rollback" begins one, or continues it):
 *   phase       phase "rollback" trigger ("failure" | "operator") [step host continued]
 *   undo_start / undo_pid / undo_end / undo_skip
 *               as step_*, plus of (the step or group compensated) and
 *               for (the host it is compensated on)
 *   rollback_end status ("done" | "failed") undone failed not_undone
 * A step_end of a step with an undo carries undo_values: the values its
 * undo reads, as they were then (secrets left out). */
#ifndef RB_JOURNAL_H
#define RB_JOURNAL_H

#include "json.h"
#include "plan.h"

#include <stdint.h>
#include <sys/types.h>

struct journal {
	int fd;
	char *path;
	long long seq;        /* of the last record written */
	uint32_t seed;        /* CRC seed, from the nonce */
	char nonce[17];
	struct json rec;      /* the record being built */
	int error;            /* errno of the first failed write, else 0 */
	bool off;             /* `plan --check`: records are built and dropped
			       * (nothing is changed, so nothing to resume) */
	/* told every record once it is written (and synced when asked):
	 * the mirror on the SSH hosts (remote.c), or NULL */
	void (*mirror)(void *ctx, const char *line, size_t n);
	void *mirror_ctx;
};

/* Creates RUN_DIR/journal.jsonl (0600, must not exist) with a fresh
 * nonce.  0, or -1 with err set. */
int journal_create(struct journal *jn, const char *run_dir, struct rb_error *err);

/* Starts a record: seq, time and event are set; add fields to the
 * returned object, then journal_commit.  run_start also carries the
 * nonce. */
struct json *journal_begin(struct journal *jn, const char *event);
/* Appends the record with its CRC; with sync, fdatasync before
 * returning.  0, or -1 (jn->error set; later commits fail too, so a
 * journal never gets a hole). */
int journal_commit(struct journal *jn, bool sync);
void journal_close(struct journal *jn);

/* Fsyncs a directory so that a new entry in it survives a crash. */
int fsync_dir(const char *path);
/* The same for the folder that holds path (after a rename into it). */
int fsync_parent(const char *path);

/* --- replay ---------------------------------------------------------- */

struct jrec {
	long long seq;
	const char *event;    /* points into v */
	struct jv *v;         /* the whole record (owned) */
	int line;
};

/* What was recorded about one step on one host (the latest records). */
struct step_state {
	char *id, *host;      /* host "" for group headers */
	const char *status;   /* "started" (no end), "ok", "failed", "failed (allowed)",
			       * "interrupted", "paused", "skipped" */
	int phase;            /* 0 preconditions, 1 steps, 2 finally */
	int attempts, rc;
	long long ms;
	long long pgid;       /* of the last command started, or 0 */
	const struct jv *end; /* the step_end record, or NULL */
	const char *settled;  /* how an interrupted step was settled, or NULL */
	bool group;           /* a skipped group or module call header */
	/* undos: the step or group compensated, and on which host */
	const char *of, *for_host;
};

enum rollback_state { RB_NONE, RB_OPEN, RB_DONE };

/* A file a run depends on, as recorded: its role, path and hash. */
struct jfile {
	const char *role;     /* "runbook", "module", "inventory", "params" */
	const char *name, *path, *sha256, *copy;
};

/* A leaf of the plan, as recorded at the start (or at a resume with
 * --use-current): for status and for naming added/removed steps. */
struct jplan {
	const char *id, *title, *kind;
	int number, phase;
	bool check;
	const struct jv *hosts; /* array of host names */
	const char *undo;       /* the unit whose undo compensates it, or NULL */
};

struct run_state {
	char *path;            /* the journal's path */
	struct jrec *recs;
	size_t nrecs;
	off_t good_len;        /* bytes up to the end of the last good record */
	int torn_line;         /* a torn last line was dropped (its number), else 0 */
	size_t torn_bytes;
	char nonce[17];
	const struct jv *start;     /* run_start */
	const char *run_id, *runbook, *target, *user, *machine, *boot_id;
	long long pid, epoch_ms;
	long long last_ms;          /* epoch ms of the last record */
	struct jfile *files;        /* the latest accepted set */
	size_t nfiles;
	struct jplan *plan;         /* the latest recorded plan */
	size_t nplan;
	struct step_state *steps;
	size_t nsteps;
	struct step_state *undos;   /* what each undo did (key: id, host, for) */
	size_t nundos;
	enum rollback_state rollback;
	bool rollback_failed;       /* the latest rollback stopped at a failed undo */
	const char *rollback_trigger; /* "failure" or "operator" (the first one) */
	const char *rollback_step;  /* the failed step that started it, or NULL */
	bool pre_passed;            /* a "phase: steps" record exists */
	bool finally_open;          /* finally began, and the run has not ended since */
	const struct jv *end;       /* the run_end after the last start/resume, or NULL */
	int exit_code;              /* of end; -1 without */
	int resumes;
	long long last_pid;         /* the process that wrote the latest start/resume */
	const char *last_machine, *last_boot;
};

/* Reads and checks a journal.  0, or -1 with err set ("FILE:LINE: …"). */
int journal_replay(const char *path, struct run_state *rs, struct rb_error *err);
void run_state_release(struct run_state *rs);

/* Settled for good: ok, failed (allowed) or skipped — resume leaves it
 * as it is.  False for NULL. */
bool step_state_done(const struct step_state *s);

/* The latest state of a step on a host (host NULL: any/""), or NULL. */
struct step_state *run_state_step(const struct run_state *rs, const char *id, const char *host);
/* The latest state of an undo step on host, compensating for_host. */
struct step_state *run_state_undo(const struct run_state *rs, const char *id, const char *host,
				  const char *for_host);

/* Reopens the journal of rs for appending: a torn tail is cut off first
 * and the sequence continues.  0, or -1 with err set. */
int journal_reopen(struct journal *jn, const struct run_state *rs, struct rb_error *err);

/* This machine's identity, as recorded in run_start / resume. */
const char *machine_name(void);
const char *boot_id(void);
const char *user_name(void);

/* Is a command of step still running on this machine (the one that
 * wrote the journal, same boot)?  Its process group pgid (0 when the
 * step_pid record never made it), or any process whose environment
 * carries the step's RUNBOOK_RUN_ID and RUNBOOK_STEP_ID — which closes
 * the gap between a command's start and its step_pid record. */
bool step_running(const struct run_state *rs, const char *step, long long pgid);

#endif
