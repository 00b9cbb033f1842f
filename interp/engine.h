/* engine.h — runs a struct plan: preconditions, steps, finally; retries,
 * expectations, captures, diagnoses, checks, conditions, confirmations,
 * signals; exit codes as DESIGN §4. */
#ifndef RB_ENGINE_H
#define RB_ENGINE_H

#include "journal.h"
#include "plan.h"
#include "transport.h"

enum exit_code {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_BAD = 2,
	EXIT_ROLLBACK = 3,
	EXIT_PAUSED = 4,
	EXIT_PRECOND = 5,
	EXIT_INTR = 130,
};

struct engine_opts {
	bool yes;            /* approve every confirm */
	bool tty;            /* stdin is a terminal: confirms may prompt */
	long long grace_ms;  /* TERM → KILL */
	struct journal *jn;  /* where every transition is recorded (required) */
	/* resuming: what the journal says happened so far, else NULL */
	const struct run_state *prior;
	bool rerun_interrupted; /* an interrupted step without check runs again */
	bool rollback;       /* `runbook rollback`: compensate the run now */
	/* `plan --check` (engine_probe): told each precondition's and each
	 * probe's outcome on each host (why NULL when it passed) */
	void (*seen)(void *ctx, const struct pstep *ps, const struct host *h, const char *status, const char *why);
	void *seen_ctx;
	/* told when an SSH host's lost connection was made again (its lock
	 * and journal mirror are then restored: remote_reconnected) */
	void (*reconnected)(void *ctx, struct host *h);
	void *reconnected_ctx;
};

/* An undo being run: what it compensates, on which host, and the values
 * the compensated step saw (DESIGN §3). */
struct undo_ctx {
	struct pstep *unit;  /* the step, group or module call compensated */
	struct host *host;   /* ...on this host */
	const struct binding *then;
	size_t nthen;
};

/* The output of one attempt, matched line by line as it streams. */
struct stream {
	struct sbuf line;    /* the current partial line (bounded) */
	struct sbuf keep;    /* the first 64 KiB, for steps.ID.stdout */
	bool kept_all;
};

struct diag_hit {
	const struct diagnose_def *d;
	char *hint;          /* rendered at match time with the groups */
};

struct step_exec {
	struct engine *eng;
	struct pstep *ps;
	const struct step *st;
	struct host *host;
	const struct undo_ctx *uc; /* an undo: what it compensates; else NULL */
	struct lookup lk;    /* names as this step sees them on this host */
	int attempt;
	int depth;
	int number, total;   /* shown as [number/total] */
	/* the log of this step on this host */
	int logfd;
	char *logpath;
	struct sbuf logbuf;  /* log lines not yet written (one write per chunk) */
	/* what the current attempt saw */
	struct stream out[2];
	bool out_lost[2];    /* resumed: this output was recorded masked */
	struct regex *expect_re[2];
	bool expect_hit[2];
	struct regex **cap_re;
	char **cap_val;
	struct regex **diag_re;
	struct diag_hit *hits;
	size_t nhits;
	struct regex *own_expect[2]; /* compiled for this attempt: owned */
	struct regex **own_caps, **own_diags;
	bool show_output;    /* stream lines to the terminal */
	bool matching;       /* false while a check runs: log only */
	long long timeout_ms;/* the effective timeout of the last command */
	/* the outcome */
	int rc;
	char *why;           /* failure reason (owned) */
	bool interrupted, paused;
	bool lost;           /* interrupted by a lost connection to the host */
	bool unstarted;      /* ...before its command started (connecting again
			      * failed): resume runs it without asking */
};

struct summary_row {
	char *id;
	char *title;
	char *host;
	const char *status;
	long long ms;
	int depth;
	const char *undo;    /* after a rollback: what became of it */
};

/* The values an undo reads, as its step saw them: per unit and host. */
struct snapshot {
	const struct pstep *unit;
	char *host;
	struct binding *b;
	size_t n;
};

struct rollback;

struct engine {
	struct plan *plan;
	struct engine_opts opt;
	struct summary_row *rows;
	size_t nrows, rowcap;
	bool failed, paused, interrupted;
	char *lost;          /* a connection was lost: why (owned); the run
			      * stops as interrupted, resumable */
	bool fin_carry;      /* resuming: finally steps keep their recorded state */
	bool settle_paused;  /* paused at an interrupted step, not at a confirm */
	char *jfail;         /* the journal could not be written: why (owned) */
	struct pstep *failed_step; /* the forward step that failed, and where */
	struct host *failed_host;
	struct snapshot *snaps;
	size_t nsnaps, snapcap;
	struct rollback *rb; /* a rollback ran (rollback.c), else NULL */
	int undo_n, undo_total; /* rollback progress, for [n/N] */
	char *undo_why;      /* why the last undo failed, and its log (owned) */
	char *undo_log;
	bool probe_only;     /* engine_probe: only steps marked probe run */
};

/* Runs the plan; returns the exit code. */
int engine_run(struct plan *p, const struct engine_opts *o);

/* `plan --check`: runs the preconditions, then only the steps marked
 * `probe: true` (they only read), keeping their results and captures in
 * the plan's scopes so that the preview shows real values.  Nothing else
 * runs, nothing is locked; o->jn is a journal that is off.  Returns 5
 * when a precondition failed, 1 when a probe did, 130 when interrupted,
 * else 0. */
int engine_probe(struct plan *p, const struct engine_opts *o);

/* Where a step's sudo, cwd or timeout comes from: the step itself, else
 * the nearest group or module call around it that sets it (NULL: none);
 * *scope is where its templates are rendered. */
enum nearest_what { NEAREST_SUDO, NEAREST_CWD, NEAREST_TIMEOUT, NEAREST_PARALLEL };
const struct step *pstep_nearest(const struct pstep *ps, enum nearest_what what, struct scope **scope);

/* The title a step is shown with (malloc'ed; secrets masked). */
char *step_title(struct plan *p, const struct pstep *ps);
/* Resuming: do finally steps keep their recorded state?  (Only when the
 * run had reached finally with nothing of the forward part left.) */
bool engine_finally_carries(const struct plan *p, const struct run_state *rs, bool rollback_asked);

/* Does this run (resumed from rs, or asked by `runbook rollback`) roll
 * back rather than go forward?  Once a rollback began, or a step failed
 * under on_failure: rollback, nothing runs forward again. */
bool engine_rolls_back(const struct plan *p, const struct run_state *rs, bool asked);
/* An undo step of the plan by id, or NULL. */
const struct pstep *plan_undo_step(const struct plan *p, const char *id);

/* --- shared by engine.c and rollback.c ------------------------------------ */

/* Walks a list of steps (phase 1 steps, 2 finally, 3 an undo, with uc
 * set).  Stops at the first failure unless keep_going.  True if
 * everything that ran succeeded. */
bool engine_walk(struct engine *E, struct pstep *v, size_t n, bool keep_going, int phase,
		 const struct undo_ctx *uc);
/* Starts a journal record about ps on host (either may be NULL). */
struct json *engine_rec(struct engine *E, const char *event, const struct pstep *ps, const char *host);
/* Commits it; false when the journal cannot be written (E->jfail set). */
bool engine_commit(struct engine *E, bool sync);
/* The first summary row of ps on host h, or NULL. */
struct summary_row *engine_row(struct engine *E, const struct pstep *ps, const struct host *h);

/* rollback.c */
/* Compensates what the forward steps completed, newest first.  trigger
 * is "failure" or "operator".  0 when every undo that ran succeeded, -1
 * when one failed (exit 3), or when the run was interrupted or paused
 * (E->interrupted / E->paused); 1 when a failure left nothing to undo
 * (then no rollback is recorded, and the run stays resumable). */
int rollback_run(struct engine *E, const char *trigger);
/* The rollback part of the summary (after the step rows). */
void rollback_report(struct engine *E);
void rollback_free(struct engine *E);
/* A forward step completed on host: keeps the values its unit's undo
 * will read, and adds them to its step_end record j (undo_values). */
void snapshot_take(struct engine *E, const struct pstep *ps, const struct host *h, struct json *j);
/* Resuming: the same values, read back from the step's step_end. */
void snapshot_restore(struct engine *E, const struct pstep *ps, const struct host *h, const struct jv *end);
void snapshots_free(struct engine *E);
/* What `runbook rollback` would undo, newest first, into out (may be
 * NULL); returns how many units. */
int rollback_preview(struct plan *p, const struct run_state *rs, struct sbuf *out);

/* --- used by the step kinds (steps.c) and the output sink (stepio.c) --- */

/* Renders a template for this step: shell text quoted, or masked for
 * display.  Returns a malloc'ed string or NULL with x->why set. */
char *exec_render(struct step_exec *x, const struct tmpl *t, int flags);
/* Does the step run through sudo (its own setting, a group's, else the
 * host's)? */
bool exec_uses_sudo(const struct step_exec *x);
/* The transport of the step's host, opened if need be; NULL with *why
 * set (malloc'ed) when it cannot be. */
struct transport *exec_transport(struct step_exec *x, char **why);
/* The step's effective cwd, rendered (malloc'ed), or NULL: none, or
 * with x->why set when it cannot be rendered. */
char *exec_cwd(struct step_exec *x);
/* Runs cmd as the step (action or check) with the step's env, cwd, sudo
 * and timeout; output goes through stepio: to the log, and to the terminal
 * and the matchers unless x->matching is off (while a check runs). */
int exec_command(struct step_exec *x, const char *cmd, struct exec_result *res);
/* The same with stdin read from in_fd (> 0), and the output to own
 * instead of the step's log and matchers (NULL: as exec_command). */
int exec_command_io(struct step_exec *x, const char *cmd, int in_fd, struct exec_sink *own, struct exec_result *res);

/* Records a confirm_ask/confirm_answer for this step (synced): 0 or -1. */
int exec_record(struct step_exec *x, const char *event, const char *key, const char *val);

/* stepio.c */
void stepio_begin(struct step_exec *x);     /* compile patterns for the attempt */
void stepio_data(void *ctx, int stream, const char *buf, size_t n);
void stepio_finish(struct step_exec *x);    /* flush partial lines */
void stepio_release(struct step_exec *x);
/* Writes text to the step log, secrets masked. */
void stepio_log(struct step_exec *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Replaces every secret value in s by ***; returns a malloc'ed copy. */
char *mask_secrets(const struct plan *p, const char *s, size_t n, size_t *outlen);

#endif
