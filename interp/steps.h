/* steps.h — the table of step kinds (tmux's cmd_entry pattern): each kind
 * names its YAML key, the modifiers it accepts and how the engine runs it.
 * check.c validates with it; engine.c dispatches through it. */
#ifndef RB_STEPS_H
#define RB_STEPS_H

#include "template.h"

enum step_modifier {
	MOD_ID = 1u << 0,
	MOD_NAME = 1u << 1,
	MOD_ON = 1u << 2,
	MOD_WHEN = 1u << 3,
	MOD_SUDO = 1u << 4,
	MOD_ENV = 1u << 5,
	MOD_CWD = 1u << 6,
	MOD_TIMEOUT = 1u << 7,
	MOD_RETRY = 1u << 8,
	MOD_EXPECT = 1u << 9,
	MOD_CAPTURE = 1u << 10,
	MOD_DIAGNOSE = 1u << 11,
	MOD_CHECK = 1u << 12,
	MOD_UNDO = 1u << 13,
	MOD_ALLOW_FAILURE = 1u << 14,
	MOD_PROBE = 1u << 15,
	MOD_WITH = 1u << 16,
	MOD_STEPS = 1u << 17,
	MOD_HINT = 1u << 18,
	MOD_PARALLEL = 1u << 19,
};

/* ACT_TRANSFER: upload, download, write, archive, extract — steps that move
 * files rather than run a command of the runbook's. */
enum step_action { ACT_RUN, ACT_USES, ACT_CONFIRM, ACT_NOTE, ACT_GROUP, ACT_TRANSFER };

struct step_exec; /* engine.h */
struct step;      /* runbook.h */

struct step_kind {
	const char *key;          /* the YAML key that selects the kind */
	enum step_action action;
	enum tmpl_mode mode;      /* how the key's text is templated */
	unsigned mods;            /* accepted modifiers */
	/* Runs one attempt of a leaf step on one host; NULL for structural
	 * kinds (group, uses) that the engine walks itself. */
	int (*run)(struct step_exec *x);
	bool readonly;            /* changes nothing on the host (archive) */
	bool rerun;               /* safe to run again when interrupted: a
				   * resume does so without asking */
};

extern const struct step_kind step_kinds[];
extern const size_t step_kinds_count;
const struct step_kind *step_kind_find(const char *key);

/* A group or a module call: steps under it, no command of its own (the
 * plan keeps it as a header of its span). */
bool step_is_header(const struct step *st);

/* Does the step leave the host as it found it (probe: true, or a kind
 * that only reads, like archive)?  Then it needs no undo. */
bool step_only_reads(const struct step *st);
/* An interrupted attempt of it can be run again without asking: it only
 * reads (probe), or its kind is idempotent (archive, transfers). */
bool step_runs_again_safely(const struct step *st);

/* Can a failure of this step stop the run (and so start a rollback)?  A
 * note cannot fail, and an allow_failure step's failure is let through. */
bool step_can_stop_run(const struct step *st);

/* Calls fn for every name the step itself reads where it is written
 * (its templates, patterns, hints, `with` values and `when`; not the
 * steps under it, nor its undo).  A diagnose hint's {{ n }} naming one of
 * its pattern's groups is the match's, not a name, and is left out. */
void step_each_name(const struct step *st, void (*fn)(void *ctx, const char *name, struct pos at), void *ctx);

/* transfer.c: the transfer kinds' attempts, and how a transfer step is
 * shown ("upload SRC → DEST (mode 0644)"; templates rendered by render,
 * which returns malloc'ed text or NULL). */
int run_upload(struct step_exec *x);
int run_download(struct step_exec *x);
int run_write(struct step_exec *x);
char *transfer_describe(const struct step *st, char *(*render)(void *ctx, const struct tmpl *t), void *ctx);

/* What the transfer kinds share (transfer.c): paths on the operator's
 * machine (relative: from the runbook's folder) and on the host (from the
 * step's cwd), the step's deadline (0: none; sets x->timeout_ms), and the
 * rendering and logging of a transfer's two templates. */
char *xfer_here_path(struct step_exec *x, const char *p);
char *xfer_host_path(struct step_exec *x, const char *p, const char *cwd);
long long xfer_deadline(struct step_exec *x);
struct xfer {
	char *a, *b, *cwd;   /* the two templates rendered, and the cwd */
};
/* 0, or -1 with x->why set; xfer_end either way. */
int xfer_begin(struct step_exec *x, const struct tmpl *ta, const struct tmpl *tb, struct xfer *X);
void xfer_end(struct xfer *X);

/* What a command of a transfer wrote: stdout to fd when ≥ 0 (a write
 * error stops the command), else kept; stderr kept (both bounded). */
struct collect {
	int fd;
	struct sbuf out, err;
	int werr;                /* errno of a failed write to fd */
	bool cancel;             /* for exec_sink.cancel */
};
void collect_data(void *ctx, int stream, const char *buf, size_t n);
void collect_release(struct collect *c);
char *collect_err(struct collect *c);   /* stderr, trimmed (malloc'ed) */

/* archive_step.c: archive, extract, and the undo every extract carries. */
int run_archive(struct step_exec *x);
int run_extract(struct step_exec *x);
int run_extract_undo(struct step_exec *x);
extern const struct step_kind extract_undo_kind;

/* Runs the step's check (it must have one) and only the check: 0 when it
 * passes, else -1 with x->why set.  Used after the action, and by resume
 * to settle a step that was interrupted. */
int step_check(struct step_exec *x);

#endif
