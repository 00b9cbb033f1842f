/* plan.h — a runbook resolved for one run: params and vars with their
 * values, hosts, and the flat list of concrete steps (module actions
 * expanded, groups kept as headers).  `run` executes it; `plan` will
 * render it.  Everything here is owned by struct plan (plan_free). */
#ifndef RB_PLAN_H
#define RB_PLAN_H

#include "runbook.h"

struct transport;

struct host {
	char *name, *address, *user;
	int port;
	bool local, sudo;
	/* SSH hosts, completed from ~/.ssh/config (ssh_host_resolve) */
	char **identities;     /* key files to try, in order */
	size_t nidentities;
	bool identity_given;   /* the inventory names one: only it is tried */
	char *known_hosts;     /* host keys are checked against this file */
	char *state_dir;       /* the remote lock and journal mirror */
	char **env; /* "K=V" for every command on the host */
	size_t nenv;
	struct transport *tr; /* opened on first use, owned */
};

struct binding {
	char *name, *value;
	bool secret;
	bool placeholder; /* plan previews: a stand-in such as <capture tag>
			   * for a value known only at run time, shown verbatim */
};

/* The results of a step, readable as steps.ID.rc|stdout|stderr. */
struct result {
	char *id, *rc, *out, *err;
};

/* Names visible to a runbook, or to one expansion of a module action.
 * Module scopes see their action's params, not the caller's names. */
struct scope {
	struct binding *b;
	size_t nb, bcap;
	struct result *res;
	size_t nres, rcap;
	struct scope *caller;   /* module scope: where `with` is evaluated */
	const struct step *uses;/* module scope: the `uses` step */
	bool entered;           /* module scope: `with` values bound */
};

/* An enclosing group or uses step whose modifiers a step inherits.  An
 * undo also inherits from the step it compensates: its env, cwd and sudo
 * (the context the change was made in), but not a leaf's own timeout,
 * which was the forward command's. */
struct frame {
	const struct step *st;
	struct scope *scope;
	bool skip_timeout;
};

struct pstep {
	const struct step *st;
	struct scope *scope;
	char *id;              /* unique: module steps are CALLER.ID */
	int depth;             /* nesting, for display */
	size_t span;           /* group/uses headers: entries below */
	int number;            /* leaves: 1-based position for [n/N] */
	struct host **hosts;
	size_t nhosts;
	struct frame *outer;   /* outermost first */
	size_t nouter;
	struct scope *inner;   /* uses headers: the module scope opened */
	size_t row;            /* engine scratch: first summary row */
	/* compensation (DESIGN §3) */
	struct pstep *undo;    /* its `undo`, expanded like steps (owned) */
	size_t nundo;
	struct pstep *unit;    /* forward leaves: what compensates it on a
				* rollback — itself, or the outermost group or
				* module call around it with an undo — or NULL */
	bool own_hosts;        /* undo steps: hosts chosen by an `on` in the
				* undo, not the compensated host */
};

struct param_value {
	const struct param_def *def;
	char *value;           /* NULL: optional, unset */
	const char *source;    /* "-p", "--params", "inventory", "env", "default" */
};

struct plan {
	struct runbook *rb;          /* not owned */
	char *run_id, *run_dir, *started;
	char *target;
	struct host **hosts;         /* "local" first */
	size_t nhosts;
	struct host **target_hosts;  /* the hosts the target names (locked) */
	size_t ntarget;
	struct scope **scopes;       /* every scope, [0] is the runbook's */
	size_t nscopes, scap;
	struct param_value *params;
	size_t nparams;
	struct pstep *pre, *steps, *fin;
	size_t npre, nsteps, nfin;
	int nleaves;
	char **secrets;              /* every secret value, for masking */
	size_t nsecrets, seccap;
	size_t max_secret;           /* the longest, in bytes */
	bool preview;                /* `runbook plan`: no run, no logs */
};

/* A host from its definition (SSH ones completed from ~/.ssh/config),
 * and its end (closing its connection).  For commands that work on one
 * host without a plan: trust, lock, resume --from-target. */
struct host *host_new(const struct host_def *d);
void host_free(struct host *h);

/* What the command line gives to resolve a runbook. */
struct run_input {
	const char **pnames, **pvalues; /* -p k=v, in order */
	size_t np;
	const char *params_file;
	const char *inventory;
	const char *target;
	const char *run_id, *run_dir, *started;
	bool preview;                   /* `runbook plan` */
};

/* Resolves rb for a run.  Returns the plan (caller frees with plan_free;
 * rb must outlive it) or NULL after adding every problem to err. */
struct plan *plan_resolve(struct runbook *rb, const struct run_input *in, struct rb_error *err);
void plan_free(struct plan *p);

/* Param d's value from its environment variable (`env:`), or NULL when
 * it has none or the variable is unset or empty: an empty variable counts
 * as unset (as for NO_COLOR), so an empty secret never reaches commands
 * unnoticed.  plan_resolve and resume read it the same way. */
const char *param_env_value(const struct param_def *d);

/* Scope helpers used by the engine. */
void scope_set(struct scope *s, const char *name, const char *value, bool secret);
const struct binding *scope_get(const struct scope *s, const char *name);
struct result *scope_result(struct scope *s, const char *id); /* creates */
void plan_add_secret(struct plan *p, const char *value);

/* Looks up a template name for a step: ctx is a struct lookup. */
struct lookup {
	struct plan *plan;
	struct scope *scope;
	const struct host *host;
	/* diagnose hints: the matched pattern's named groups first */
	const struct binding *extra;
	size_t nextra;
	/* undos: the values their step saw, before the current ones */
	const struct binding *then;
	size_t nthen;
	char *tmp;     /* owned scratch for computed values */
};
const char *plan_lookup(void *ctx, const char *name, bool *secret);
void lookup_release(struct lookup *lk);

/* Binds param d of a module call in the action's scope ms as a run binds
 * it: `with` value arg (NULL: the default) rendered with lk in the
 * caller's scope, then checked against d.  0, or -1 with *why set
 * (malloc'ed, never holding a secret value) and nothing bound. */
int module_arg_bind(struct plan *p, struct scope *ms, const struct param_def *d, const struct kv *arg,
		    struct lookup *lk, char **why);

#endif
