/* lint.c — the warnings of `runbook lint` (see lint.h).
 *
 * Every check here is about what goes wrong during a maintenance window
 * rather than at load time: a step a rollback cannot take back, a step
 * resume cannot settle, a value nobody reads, an id that shifts when a
 * step is added.  Names are scoped as check.c scopes them: the runbook's
 * params, vars and captures, or one module action's. */
#include "lint.h"

#include "steps.h"

#include <stdlib.h>
#include <string.h>

/* The names read in one scope (the runbook, or one module action). */
struct refs {
	const char **v;
	size_t n, cap;
};

static void ref_add(struct refs *r, const char *name)
{
	VEC_PUSH(r->v, r->n, r->cap, name);
}

static bool ref_has(const struct refs *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->v[i], name))
			return true;
	return false;
}

/* Does anything read steps.ID.rc, .stdout or .stderr? */
static bool ref_reads_step(const struct refs *r, const char *id)
{
	size_t n = strlen(id);
	for (size_t i = 0; i < r->n; i++)
		if (!strncmp(r->v[i], "steps.", 6) && !strncmp(r->v[i] + 6, id, n) && r->v[i][6 + n] == '.' &&
		    !strchr(r->v[i] + 7 + n, '.'))
			return true;
	return false;
}

static void ref_cb(void *ctx, const char *name, struct pos at)
{
	(void)at;
	ref_add(ctx, name);
}

/* Every name the steps read, those under them and their undos too. */
static void steps_refs(struct refs *r, const struct step *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct step *st = &v[i];
		if (!st->kind)
			continue;
		step_each_name(st, ref_cb, r);
		steps_refs(r, st->steps, st->nsteps);
		steps_refs(r, st->undo, st->nundo);
	}
}

/* What lint knows about the scope it is in. */
struct linter {
	struct rb_error *err;
	struct refs refs;
	/* names whose value comes from the operator: the runbook's params
	 * and the vars made of them, or a module action's params */
	const char **fed;
	size_t nfed, fedcap;
	bool module;
	const char *outer[32]; /* the groups around the step being linted */
	int nouter;
	int ord;            /* forward leaves seen so far */
	int last_failable;  /* the ordinal of the last one that can fail */
};

/* The ordinal of the last forward leaf that can fail (not a note): after
 * it, no failure can start a rollback. */
static void find_last_failable(struct linter *L, const struct step *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!v[i].kind)
			continue;
		if (v[i].kind->action == ACT_GROUP) {
			find_last_failable(L, v[i].steps, v[i].nsteps);
			continue;
		}
		L->ord++;
		if (step_can_stop_run(&v[i]))
			L->last_failable = L->ord;
	}
}

static bool is_fed(const struct linter *L, const char *name)
{
	for (size_t i = 0; i < L->nfed; i++)
		if (!strcmp(L->fed[i], name))
			return true;
	return false;
}

static void warn_raw(struct linter *L, const struct tmpl *t, const char *what)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		if (t->segs[i].is_name && t->segs[i].raw && is_fed(L, t->segs[i].text))
			rb_warn_at(L->err, t->segs[i].pos,
				   "'{{ %s | raw }}' in %s inserts %s unquoted: its value can change the command", t->segs[i].text,
				   what, L->module ? "an argument of the caller" : "a param's value");
}

/* covered: a group or module call around the step has an undo. */
static void lint_steps(struct linter *L, const struct step *v, size_t n, bool covered, bool forward, bool undo,
		       bool want_id)
{
	for (size_t i = 0; i < n; i++) {
		const struct step *st = &v[i];
		if (!st->kind)
			continue;
		enum step_action a = st->kind->action;
		const char *label = st->id_given ? st->id : st->name ? st->name : NULL;
		char *what = label ? xasprintf("step '%s'", label) : xstrdup("this step");
		if (want_id && !undo && !st->id_given)
			rb_warn_at(L->err, st->pos,
				   "%s has no id: resume matches steps by id, and its default id (%s) changes when a "
				   "step is added before it", what, st->id);
		if (forward && !undo && a != ACT_GROUP)
			L->ord++;
		if (forward && !undo && (a == ACT_RUN || a == ACT_TRANSFER) && !step_only_reads(st)) {
			/* nothing after the last step that can fail is rolled back
			 * by a failure */
			bool no_undo = !st->nundo && !covered && L->ord < L->last_failable,
			     no_check = !st->check && !st->kind->rerun;
			if (no_undo || no_check)
				rb_warn_at(L->err, st->pos, "%s changes things but has %s%s%s%s", what,
					   no_undo ? "no undo (a rollback leaves it done)" : "",
					   no_undo && no_check ? " and " : "",
					   no_check ? "no check (resume cannot tell whether it took effect when interrupted)"
						    : "",
					   "; if it only reads, mark it probe: true");
		}
		if (st->attempts > 1 && !st->check && !st->expect_out && !st->expect_err)
			rb_warn_at(L->err, st->pos,
				   "%s retries without a check or an expect: each attempt is judged by its exit status "
				   "alone", what);
		/* a step's results are also its groups' (steps.GROUP.rc) */
		bool read = ref_reads_step(&L->refs, st->id);
		for (int k = 0; k < L->nouter && !read; k++)
			read = ref_reads_step(&L->refs, L->outer[k]);
		if (st->allow_failure && !read)
			rb_warn_at(L->err, st->pos,
				   "%s may fail (allow_failure) but nothing reads its result: a failure goes unnoticed "
				   "(read steps.%s.rc in a when, or drop allow_failure)", what,
				   st->id_given ? st->id : "ID");
		for (size_t c = 0; c < st->ncaps; c++)
			if (st->caps[c].pat.t && !ref_has(&L->refs, st->caps[c].name))
				rb_warn_at(L->err, st->caps[c].pat.pos, "capture '%s' is never used (to only require the "
									"output, use expect)", st->caps[c].name);
		warn_raw(L, st->text, "the command");
		warn_raw(L, st->check, "the check");
		free(what);
		bool pushed = L->nouter < (int)ARRAY_LEN(L->outer);
		if (pushed)
			L->outer[L->nouter++] = st->id;
		lint_steps(L, st->steps, st->nsteps, covered || st->nundo, forward, undo, want_id);
		L->nouter -= pushed;
		lint_steps(L, st->undo, st->nundo, true, forward, true, false);
	}
}

static void fed_add(struct linter *L, const char *name)
{
	VEC_PUSH(L->fed, L->nfed, L->fedcap, name);
}

static void params_unused(struct linter *L, const struct param_def *v, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (!ref_has(&L->refs, v[i].name))
			rb_warn_at(L->err, v[i].pos, "%s '%s' is never used", what, v[i].name);
}

void lint_runbook(const struct runbook *rb, struct rb_error *err)
{
	struct linter L = {.err = err};
	for (size_t i = 0; i < rb->nvars; i++)
		tmpl_each_name(rb->vars[i].t, ref_cb, &L.refs);
	steps_refs(&L.refs, rb->pre, rb->npre);
	steps_refs(&L.refs, rb->steps, rb->nsteps);
	steps_refs(&L.refs, rb->fin, rb->nfin);
	params_unused(&L, rb->params, rb->nparams, "param");
	for (size_t i = 0; i < rb->nvars; i++)
		if (!ref_has(&L.refs, rb->vars[i].name))
			rb_warn_at(err, rb->vars[i].pos, "var '%s' is never used", rb->vars[i].name);
	for (size_t i = 0; i < rb->nparams; i++)
		fed_add(&L, rb->params[i].name);
	/* vars are evaluated in order: one made of a param is fed by it */
	for (size_t i = 0; i < rb->nvars; i++) {
		const struct tmpl *t = rb->vars[i].t;
		for (size_t k = 0; k < t->n; k++)
			if (t->segs[k].is_name && is_fed(&L, t->segs[k].text)) {
				fed_add(&L, rb->vars[i].name);
				break;
			}
	}
	find_last_failable(&L, rb->steps, rb->nsteps);
	L.ord = 0;
	/* resume matches steps and finally steps by id; preconditions run
	 * again whole */
	lint_steps(&L, rb->pre, rb->npre, false, false, false, false);
	lint_steps(&L, rb->steps, rb->nsteps, false, true, false, true);
	lint_steps(&L, rb->fin, rb->nfin, false, false, false, true);
	free(L.refs.v);
	free(L.fed);
}

void lint_module(const struct module *m, struct rb_error *err)
{
	for (size_t a = 0; a < m->nactions; a++) {
		const struct action_def *ad = &m->actions[a];
		struct linter L = {.err = err, .module = true};
		steps_refs(&L.refs, ad->steps, ad->nsteps);
		params_unused(&L, ad->params, ad->nparams, "param");
		for (size_t i = 0; i < ad->nparams; i++)
			fed_add(&L, ad->params[i].name);
		/* the caller's steps come after an action's: any step may be
		 * rolled back */
		L.last_failable = 1 << 30;
		lint_steps(&L, ad->steps, ad->nsteps, false, true, false, true);
		free(L.refs.v);
		free(L.fed);
	}
}
