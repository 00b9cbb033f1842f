/* preview.h — what `runbook plan` shows (DESIGN §2, §4): a resolved plan,
 * rendered without running it.
 *
 * preview.c builds a model that does not depend on the output format:
 * every step with its commands rendered per host exactly as the shell will
 * get them (quoted for their position; secrets as ***; values known only
 * at run time as <steps.ID.stdout>, <capture NAME> or <run.id>), its `when`
 * decided where nothing of the run is needed, what a failure there would
 * roll back, and the warnings a reviewer wants.  preview_text.c,
 * preview_markdown.c and preview_json.c print that model; none of them
 * renders a template itself, so no format can show what another hides.
 *
 * Everything in a struct preview is owned by it (preview_free); it points
 * into the plan, which must outlive it.  Building it binds the arguments
 * of module calls in the plan's scopes, as a run would (values the run
 * produces as stand-ins marked `placeholder`). */
#ifndef RB_PREVIEW_H
#define RB_PREVIEW_H

#include "plan.h"
#include "steps.h"

#include <stdio.h>

enum pv_when {
	PV_ALWAYS,  /* no `when` */
	PV_TRUE,    /* decided now: runs */
	PV_FALSE,   /* decided now: never runs */
	PV_RUNTIME, /* reads a value the run produces: decided then */
	PV_MIXED,   /* true on some hosts, false on others */
};

/* One host's rendering of a step. */
struct pv_host {
	const struct host *host;
	char *text;        /* run: the command; confirm, note: the message */
	char *check;
	char *cwd;
	char *sudo;        /* with sudo -n: the user given, "" for sudo's
			    * default; NULL without sudo */
	char **env;        /* NAME=value: its own and its groups' */
	size_t nenv;
	enum pv_when when; /* on this host */
	/* plan --check: the outcome on this host, or NULL (not run) */
	char *status, *why;
};

struct pv_pair {
	char *name, *value;
};

struct pv_diag {
	char *pattern, *hint;
	bool fail;
};

/* A unit a failure would undo: a step, or a group or module call with
 * its own undo. */
struct pv_undo_ref {
	const struct pstep *unit;
	const char *title;  /* the unit's entry's title (not owned) */
	bool conditional; /* only if what it compensates ran (a `when`) */
	bool partial;     /* the failing step's own unit, on the hosts it was
			   * done on before the one that failed */
};

struct pv_step {
	const struct pstep *ps;
	enum step_action action;
	char *title;
	int number, depth;
	int phase;            /* 0 precondition, 1 step, 2 finally, 3 undo */
	bool forward;         /* phase 1: one of the runbook's steps */
	struct pv_host *hosts;
	size_t nhosts;
	bool same;            /* every host renders alike: shown once */
	enum pv_when when;    /* over its hosts */
	bool conditional;     /* it or a group around it: decided at run time */
	bool never;           /* it or a group around it can never run */
	long long timeout_ms; /* effective: its own or a group's */
	int parallel;         /* hosts at once (several hosts only), else 0 */
	char *expect_out, *expect_err;
	struct pv_pair *caps;  /* capture NAME = pattern */
	size_t ncaps;
	struct pv_diag *diags;
	size_t ndiags;
	struct pv_pair *args;  /* uses: with NAME = value */
	size_t nargs;
	char *hint;            /* preconditions */
	struct pv_step *undo;  /* its undo, rendered like steps */
	size_t nundo;
	const struct pstep *undo_by; /* a group or module call around it whose
				      * undo replaces this one, or NULL */
	struct pv_step *kids;  /* group and uses: the steps inside */
	size_t nkids;
	/* forward steps: what a failure here undoes, newest first */
	struct pv_undo_ref *rollback;
	size_t nrollback;
	int bare;             /* steps done before it that nothing undoes */
	char **warns;
	size_t nwarns;
};

struct pv_warn {
	struct pos pos;
	char *msg;
};

struct pv_result {
	const struct pstep *ps;
	const struct host *host;
	char *status, *why;
};

struct preview {
	struct plan *plan;
	bool yes;             /* --yes: confirms are approved without asking */
	bool checked;         /* --check ran the preconditions and probes */
	int check_code;       /* ...and this was its exit code */
	struct pv_step *pre, *steps, *fin;
	size_t npre, nsteps, nfin;
	struct pv_warn *warns; /* every warning once, in plan order */
	size_t nwarns, wcap;
	struct pv_result *results; /* --check outcomes, as the engine told them */
	size_t nresults, rcap;
	struct pv_step **index; /* the entry of each of plan->steps (owned) */
};

/* The engine's `seen` callback for plan --check (ctx is a struct preview). */
void preview_seen(void *ctx, const struct pstep *ps, const struct host *h, const char *status, const char *why);
/* Builds the model of p (after --check, if it ran). */
void preview_build(struct preview *P, struct plan *p, bool yes);
void preview_free(struct preview *P);

/* "ssh deploy@10.0.0.1:22" or "this machine". */
char *preview_host_desc(const struct host *h);

void preview_text(const struct preview *P, FILE *out);
void preview_markdown(const struct preview *P, FILE *out);
void preview_json(const struct preview *P, FILE *out);

#endif
