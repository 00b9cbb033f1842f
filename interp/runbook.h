/* runbook.h — the loaded, checked form of runbooks and modules (the AST).
 *
 * Produced by runbook_load (check.c) from a struct doc; immutable after
 * loading.  Every struct here is owned by the struct runbook or struct
 * module that contains it and freed with runbook_free / module_free.
 * Strings point into malloc'ed memory unless noted. */
#ifndef RB_RUNBOOK_H
#define RB_RUNBOOK_H

#include "expr.h"
#include "node.h"
#include "regex.h"
#include "template.h"

struct param_def {
	char *name;
	struct pos pos;
	bool required, secret, has_default;
	char *def;        /* default value (raw text) */
	char *env;        /* operator environment variable to read */
	char *doc;
	struct regex *pattern; /* whole-value match, or NULL */
	char *pattern_src;
	char **choices;
	size_t nchoices;
};

struct var_def {
	char *name;
	struct pos pos;
	struct tmpl *t;
};

/* A key with a template value: env entries, `with` arguments. */
struct kv {
	char *key;
	struct pos pos;
	struct tmpl *val;
};

struct host_def {
	char *name;
	struct pos pos;
	char *address, *user, *identity, *known_hosts, *state_dir;
	int port;         /* 0: not given (ssh config, else 22) */
	bool local;       /* transport: local */
	bool sudo;
	struct kv *env;
	size_t nenv;
};

/* A pattern: compiled at load when constant, else when the step runs. */
struct pattern {
	struct tmpl *t;
	struct regex *re;    /* constant patterns: compiled once, used at run time */
	struct regex *shape; /* templated: the literal parts compiled, for group names */
	bool bad;            /* did not compile (already reported) */
	struct pos pos;
};

struct capture_def {
	char *name;
	struct pattern pat;
};

struct diagnose_def {
	struct pattern pat;
	struct tmpl *hint;
	bool fail;
};

struct step_kind;

struct step {
	struct pos pos;
	const struct step_kind *kind;
	char *id;         /* given, or sN by position */
	bool id_given;
	char *name;       /* may be NULL */
	struct tmpl *text;/* run: the command; confirm/note: the text; group: the title */
	/* upload {src, dest, mode}, download {src, dest}, write {path→dest,
	 * content, mode}: src/dest on the side each kind says (transfer.c) */
	struct tmpl *xsrc, *xdest, *xcontent;
	int xmode;        /* permission bits; -1: not given */
	/* archive {path→xsrc, to→xdest, format, exclude, level};
	 * extract {from→xsrc, to→xdest, strip, overwrite} (archive_step.c) */
	int xformat;      /* enum snap_format; -1: from to's name */
	int xlevel;       /* -1: the format's default */
	char **xexcl;     /* exclusion patterns (glob.h) */
	size_t nxexcl;
	int xstrip;       /* leading components dropped */
	bool xoverwrite;  /* extract into a folder that holds something */
	/* uses: MODULE.ACTION + with */
	char *mod, *action;
	struct pos uses_pos;
	struct kv *with;
	size_t nwith;
	struct module *module;           /* resolved at load, not owned */
	struct action_def *adef;         /* resolved at load, not owned */
	/* group */
	struct step *steps;
	size_t nsteps;
	/* undo: a list of steps (a single command becomes one step) */
	struct step *undo;
	size_t nundo;
	/* modifiers */
	char *on;
	struct pos on_pos;
	struct expr *when;
	char *when_src;
	bool sudo_set, sudo;
	struct tmpl *sudo_user;
	struct kv *env;
	size_t nenv;
	struct tmpl *cwd;
	long long timeout_ms;   /* 0: none */
	int parallel;           /* hosts at once; 0: not set (one at a time) */
	int attempts;           /* ≥ 1 */
	long long delay_ms;
	double backoff;         /* ≥ 1 */
	bool rc_any;
	int *rcs;               /* accepted exit codes; default {0} */
	size_t nrcs;
	struct pattern *expect_out, *expect_err;
	struct capture_def *caps;
	size_t ncaps;
	struct diagnose_def *diags;
	size_t ndiags;
	struct tmpl *check;
	bool allow_failure, probe;
	struct tmpl *hint;      /* preconditions: shown when they fail */
};

struct action_def {
	char *name;
	struct pos pos;
	char *description;
	struct param_def *params;
	size_t nparams;
	struct step *steps;
	size_t nsteps;
	int state;              /* names pass: 0 new, 1 being checked, 2 done */
};

struct module {
	char *name;
	char *path;
	struct doc *doc;        /* owned: positions and the exact bytes */
	char *description;
	struct action_def *actions;
	size_t nactions;
};

struct runbook {
	struct doc *doc;        /* owned */
	char *path;
	char *dir;              /* the runbook's folder (module search) */
	char *name, *description;
	struct param_def *params;
	size_t nparams;
	struct var_def *vars;
	size_t nvars;
	char *target;
	struct pos target_pos;
	struct host_def *hosts;
	size_t nhosts;
	struct step *pre;
	size_t npre;
	struct step *steps;
	size_t nsteps;
	struct step *fin;
	size_t nfin;
	bool on_failure_stop;
	struct module **modules; /* every module loaded, owned */
	size_t nmodules, modcap;
};

/* Loads path, checks it completely (schema, names, templates, patterns,
 * modules) and returns the runbook (caller frees with runbook_free), or
 * NULL after adding every problem found to err. */
struct runbook *runbook_load(const char *path, struct rb_error *err);
void runbook_free(struct runbook *rb);
/* Loads and checks one module file on its own (`runbook lint`): the
 * result holds it as modules[0], with the modules it uses after it. */
struct runbook *module_load_file(const char *path, struct rb_error *err);

/* Finds a runbook by name or path (RUNBOOK_PATH, ./runbooks, the installed
 * share/runbook/runbooks).  Returns a malloc'ed path or NULL. */
char *runbook_find(const char *name_or_path);
/* Calls fn for each runbook file found on the search path (deduplicated by
 * name, first wins). */
void runbook_each(void (*fn)(void *ctx, const char *name, const char *path), void *ctx);

/* Looks up an action of a loaded module. */
struct action_def *module_action(const struct module *m, const char *name);

/* Host definitions parsed from a mapping (shared with the inventory). */
int parse_host_def(struct node *val, const char *name, struct pos pos, struct host_def *h, struct rb_error *err);
void host_def_release(struct host_def *h);
/* Param definitions (shared by runbooks and module actions). */
void parse_params(struct node *map, struct param_def **out, size_t *n, struct rb_error *err);
/* A user name sudo -u may be given. */
bool valid_user_name(const char *s);
/* Checks value against the rules of p; returns NULL or a message (caller frees). */
char *param_violation(const struct param_def *p, const char *value);

#endif
