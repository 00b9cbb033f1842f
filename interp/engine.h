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
	struct lookup lk;    /* names as this step sees them on this host */
	int attempt;
	int depth;
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
};

struct summary_row {
	char *id;
	char *title;
	char *host;
	const char *status;
	long long ms;
	int depth;
};

struct engine {
	struct plan *plan;
	struct engine_opts opt;
	struct summary_row *rows;
	size_t nrows, rowcap;
	bool failed, paused, interrupted;
	bool fin_carry;      /* resuming: finally steps keep their recorded state */
	bool settle_paused;  /* paused at an interrupted step, not at a confirm */
	char *jfail;         /* the journal could not be written: why (owned) */
};

/* Runs the plan; returns the exit code. */
int engine_run(struct plan *p, const struct engine_opts *o);

/* The title a step is shown with (malloc'ed; secrets masked). */
char *step_title(struct plan *p, const struct pstep *ps);
/* Resuming: do finally steps keep their recorded state?  (Only when the
 * run had reached finally with nothing of the forward part left.) */
bool engine_finally_carries(const struct plan *p, const struct run_state *rs);

/* --- used by the step kinds (steps.c) and the output sink (stepio.c) --- */

/* Renders a template for this step: shell text quoted, or masked for
 * display.  Returns a malloc'ed string or NULL with x->why set. */
char *exec_render(struct step_exec *x, const struct tmpl *t, int flags);
/* Runs cmd as the step (action or check) with the step's env, cwd, sudo
 * and timeout; output goes through stepio: to the log, and to the terminal
 * and the matchers unless x->matching is off (while a check runs). */
int exec_command(struct step_exec *x, const char *cmd, struct exec_result *res);

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
