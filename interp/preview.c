/* preview.c — the model `runbook plan` prints (see preview.h).
 *
 * Values come from the plan exactly as a run would see them.  What a run
 * produces (captures, steps.ID.*, run.*) is not guessed: it is rendered as
 * a placeholder, verbatim, where the run would insert the value quoted.
 * After `--check`, the probes' results are in the plan's scopes, so the
 * steps that read them show real values. */
#include "preview.h"

#include "engine.h"
#include "steps.h"

#include <stdlib.h>
#include <string.h>

/* --- rendering ------------------------------------------------------------ */

struct pv_ctx {
	struct preview *P;
	struct lookup lk;
	bool runtime; /* a name read had no value yet */
};

/* A name's value for a `when`: NULL when only the run knows it. */
static const char *when_lookup(void *ctx, const char *name, bool *secret)
{
	struct pv_ctx *c = ctx;
	*secret = false;
	if (!strncmp(name, "run.", 4)) {
		c->runtime = true;
		return NULL;
	}
	const struct binding *b = strchr(name, '.') ? NULL : scope_get(c->lk.scope, name);
	if (b && b->placeholder) {
		c->runtime = true;
		return NULL;
	}
	const char *v = plan_lookup(&c->lk, name, secret);
	if (!v)
		c->runtime = true;
	return v;
}

/* Renders t for host h in scope sc: values quoted as the run quotes them,
 * secrets as ***, run-time values as placeholders.  Malloc'ed. */
static char *render(struct preview *P, struct scope *sc, const struct host *h, const struct tmpl *t, bool *runtime)
{
	if (!t)
		return NULL;
	struct lookup lk = {.plan = P->plan, .scope = sc, .host = h};
	struct sbuf sb = {0};
	for (size_t i = 0; i < t->n; i++) {
		const struct tseg *s = &t->segs[i];
		if (!s->is_name) {
			sbuf_adds(&sb, s->text);
			continue;
		}
		const char *name = s->text;
		bool secret = false;
		const struct binding *b = strchr(name, '.') ? NULL : scope_get(sc, name);
		const char *v = strncmp(name, "run.", 4) ? plan_lookup(&lk, name, &secret) : NULL;
		if (v && secret) {
			sbuf_adds(&sb, "***");
		} else if (v && b && b->placeholder) {
			/* a module argument the run will produce: a lone stand-in
			 * as is, one inside other text quoted as the value it
			 * will be part of */
			bool lone = v[0] == '<' && strchr(v, '>') == v + strlen(v) - 1;
			if (lone)
				sbuf_adds(&sb, v);
			else
				tmpl_insert(&sb, s, v);
			if (runtime)
				*runtime = true;
		} else if (v) {
			tmpl_insert(&sb, s, v);
		} else {
			/* known only once the run has produced it */
			if (!strncmp(name, "steps.", 6) || !strncmp(name, "run.", 4))
				sbuf_addf(&sb, "<%s>", name);
			else
				sbuf_addf(&sb, "<capture %s>", name);
			if (runtime)
				*runtime = true;
		}
	}
	lookup_release(&lk);
	/* a secret that reached a value another way is masked by value */
	char *m = mask_secrets(P->plan, sbuf_str(&sb), sb.len, NULL);
	sbuf_release(&sb);
	return m;
}

/* A diagnose hint: the pattern's named groups are filled in when it
 * matches, so they show as <NAME>. */
static char *render_hint(struct preview *P, struct scope *sc, const struct host *h, const struct tmpl *t,
			 const struct pattern *pat)
{
	const struct regex *groups = pat->re ? pat->re : pat->shape;
	struct tmpl copy = *t;
	struct tseg *segs = xcalloc(t->n + 1, sizeof(*segs));
	memcpy(segs, t->segs, t->n * sizeof(*segs));
	struct sbuf *names = xcalloc(t->n + 1, sizeof(*names));
	for (size_t i = 0; i < t->n; i++)
		if (segs[i].is_name && groups && !strchr(segs[i].text, '.') && regex_has_group(groups, segs[i].text)) {
			sbuf_addf(&names[i], "<%s>", segs[i].text);
			segs[i].is_name = false;
			segs[i].text = names[i].buf;
		}
	copy.segs = segs;
	char *r = render(P, sc, h, &copy, NULL);
	for (size_t i = 0; i < t->n; i++)
		sbuf_release(&names[i]);
	free(names);
	free(segs);
	return r;
}

/* --- when ------------------------------------------------------------------ */

static enum pv_when decide(struct preview *P, const struct expr *e, struct scope *sc, const struct host *h)
{
	if (!e)
		return PV_ALWAYS;
	struct pv_ctx c = {.P = P, .lk = {.plan = P->plan, .scope = sc, .host = h}};
	const char *bad = NULL;
	int w = expr_eval(e, when_lookup, &c, &bad);
	lookup_release(&c.lk);
	if (w < 0 || c.runtime)
		return PV_RUNTIME;
	return w ? PV_TRUE : PV_FALSE;
}

static enum pv_when combine(enum pv_when a, enum pv_when b)
{
	if (a == b)
		return a;
	if (a == PV_RUNTIME || b == PV_RUNTIME)
		return PV_RUNTIME;
	return PV_MIXED;
}

/* --- warnings -------------------------------------------------------------- */

static void warn(struct preview *P, struct pv_step *s, struct pos at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void warn(struct preview *P, struct pv_step *s, struct pos at, const char *fmt, ...)
{
	struct sbuf sb = {0};
	va_list ap;
	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	char *m = sbuf_detach(&sb);
	size_t n = s->nwarns;
	s->warns = xrealloc(s->warns, (n + 1) * sizeof(*s->warns));
	s->warns[s->nwarns++] = xstrdup(m);
	/* a module's step warns once, however many calls expand it */
	for (size_t i = 0; i < P->nwarns; i++)
		if (P->warns[i].pos.file == at.file && P->warns[i].pos.line == at.line &&
		    P->warns[i].pos.col == at.col && !strcmp(P->warns[i].msg, m)) {
			free(m);
			return;
		}
	struct pv_warn w = {at, m};
	VEC_PUSH(P->warns, P->nwarns, P->wcap, w);
}

/* Does the value of name, read in scope sc, come from a param — the
 * operator's input — directly or through vars and module arguments? */
static bool fed_by_param(const struct plan *p, const struct scope *sc, const char *name, int depth)
{
	if (depth > 32 || strchr(name, '.'))
		return false;
	if (sc->uses) {
		const struct step *u = sc->uses;
		for (size_t i = 0; i < u->nwith; i++)
			if (!strcmp(u->with[i].key, name)) {
				const struct tmpl *t = u->with[i].val;
				for (size_t k = 0; k < t->n; k++)
					if (t->segs[k].is_name && fed_by_param(p, sc->caller, t->segs[k].text, depth + 1))
						return true;
			}
		return false;
	}
	const struct runbook *rb = p->rb;
	for (size_t i = 0; i < rb->nparams; i++)
		if (!strcmp(rb->params[i].name, name))
			return true;
	for (size_t i = 0; i < rb->nvars; i++)
		if (!strcmp(rb->vars[i].name, name)) {
			const struct tmpl *t = rb->vars[i].t;
			for (size_t k = 0; k < t->n; k++)
				if (t->segs[k].is_name && fed_by_param(p, sc, t->segs[k].text, depth + 1))
					return true;
		}
	return false;
}

static void warn_raw(struct preview *P, struct pv_step *s, struct scope *sc, const struct tmpl *t, const char *what)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		if (t->segs[i].is_name && t->segs[i].raw && fed_by_param(P->plan, sc, t->segs[i].text, 0))
			warn(P, s, t->segs[i].pos,
			     "'{{ %s | raw }}' in %s inserts a param's value unquoted: a value can change the command",
			     t->segs[i].text, what);
}

/* --- building ---------------------------------------------------------------- */

static const struct pv_result *result_of(const struct preview *P, const struct pstep *ps, const struct host *h)
{
	for (size_t i = P->nresults; i-- > 0;)
		if (P->results[i].ps == ps && P->results[i].host == h)
			return &P->results[i];
	return NULL;
}

void preview_seen(void *ctx, const struct pstep *ps, const struct host *h, const char *status, const char *why)
{
	struct preview *P = ctx;
	struct pv_result r = {ps, h, xstrdup(status), why ? xstrdup(why) : NULL};
	VEC_PUSH(P->results, P->nresults, P->rcap, r);
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool host_same(const struct pv_host *a, const struct pv_host *b)
{
	if (!str_eq(a->text, b->text) || !str_eq(a->check, b->check) || !str_eq(a->cwd, b->cwd) ||
	    !str_eq(a->sudo, b->sudo) || a->nenv != b->nenv || a->when != b->when || a->status || b->status)
		return false;
	for (size_t i = 0; i < a->nenv; i++)
		if (strcmp(a->env[i], b->env[i]))
			return false;
	return true;
}

/* One host's rendering of a leaf: text, check, cwd, sudo, env. */
struct pv_render {
	struct preview *P;
	struct scope *sc;
	const struct host *h;
};

static char *pv_render_tmpl(void *ctx, const struct tmpl *t)
{
	struct pv_render *r = ctx;
	return render(r->P, r->sc, r->h, t, NULL);
}

static void render_host(struct preview *P, const struct pstep *ps, const struct host *h, struct pv_host *ph)
{
	const struct step *st = ps->st;
	ph->host = h;
	ph->when = decide(P, st->when, ps->scope, h);
	if (st->kind->action == ACT_TRANSFER) {
		struct pv_render r = {P, ps->scope, h};
		ph->text = transfer_describe(st, pv_render_tmpl, &r);
	} else if (st->kind->action != ACT_GROUP && st->kind->action != ACT_USES)
		ph->text = render(P, ps->scope, h, st->text, NULL);
	ph->check = render(P, ps->scope, h, st->check, NULL);
	struct scope *sc;
	const struct step *s = pstep_nearest(ps, NEAREST_CWD, &sc);
	if (s)
		ph->cwd = render(P, sc, h, s->cwd, NULL);
	bool sudo = h->sudo;
	s = pstep_nearest(ps, NEAREST_SUDO, &sc);
	char *user = NULL;
	if (s) {
		sudo = s->sudo;
		user = s->sudo_user ? render(P, sc, h, s->sudo_user, NULL) : NULL;
	}
	if (sudo)
		ph->sudo = user ? user : xstrdup("");
	else
		free(user);
	for (size_t f = 0; f <= ps->nouter; f++) {
		const struct step *fs = f < ps->nouter ? ps->outer[f].st : st;
		struct scope *fsc = f < ps->nouter ? ps->outer[f].scope : ps->scope;
		for (size_t e = 0; e < fs->nenv; e++) {
			char *v = render(P, fsc, h, fs->env[e].val, NULL);
			ph->env = xrealloc(ph->env, (ph->nenv + 1) * sizeof(*ph->env));
			ph->env[ph->nenv++] = xasprintf("%s=%s", fs->env[e].key, v);
			free(v);
		}
	}
	const struct pv_result *r = result_of(P, ps, h);
	if (r) {
		ph->status = xstrdup(r->status);
		ph->why = r->why ? xstrdup(r->why) : NULL;
	}
}

/* A module call's arguments, bound in its scope as a run binds them:
 * values the run produces stay placeholders inside the module. */
static void enter_call(struct preview *P, struct pv_step *s, const struct pstep *ps)
{
	const struct step *st = ps->st;
	const struct action_def *a = st->adef;
	struct scope *ms = ps->inner;
	const struct host *h = ps->nhosts ? ps->hosts[0] : NULL;
	for (size_t i = 0; a && i < a->nparams; i++) {
		const struct param_def *d = &a->params[i];
		const struct kv *arg = NULL;
		for (size_t w = 0; w < st->nwith; w++)
			if (!strcmp(st->with[w].key, d->name))
				arg = &st->with[w];
		struct lookup lk = {.plan = P->plan, .scope = ps->scope, .host = h};
		char *why = NULL;
		if (!arg) {
			module_arg_bind(P->plan, ms, d, NULL, &lk, &why); /* its default */
			continue;
		}
		/* the value as the module will see it (unquoted: TEXT) */
		struct tmpl t = *arg->val;
		struct tseg *segs = xcalloc(t.n + 1, sizeof(*segs));
		memcpy(segs, t.segs, t.n * sizeof(*segs));
		for (size_t k = 0; k < t.n; k++)
			segs[k].quote = QUOTE_NONE, segs[k].raw = false;
		t.segs = segs;
		bool runtime = false;
		char *v = render(P, ps->scope, h, &t, &runtime);
		free(segs);
		if (runtime) {
			/* known once the run has produced it: a stand-in inside */
			scope_set(ms, d->name, v, false);
			((struct binding *)scope_get(ms, d->name))->placeholder = true;
		} else if (module_arg_bind(P->plan, ms, d, arg, &lk, &why) < 0) {
			warn(P, s, arg->pos, "%s: a run fails at this step", why);
			scope_set(ms, d->name, v, d->secret);
		}
		free(why);
		lookup_release(&lk);
		struct pv_pair pr = {xstrdup(d->name), xstrdup(d->secret ? "***" : v)};
		s->args = xrealloc(s->args, (s->nargs + 1) * sizeof(*s->args));
		s->args[s->nargs++] = pr;
		free(v);
	}
}

struct build {
	struct preview *P;
	int phase;         /* 0 preconditions, 1 steps, 2 finally, 3 undo */
	const struct pstep *last_failable; /* the last step that can fail */
};

static void build_list(struct build *B, const struct pstep *v, size_t n, struct pv_step **out, size_t *nout,
		       bool cond, bool never);

static void build_step(struct build *B, const struct pstep *v, size_t *i, struct pv_step *s, bool cond, bool never)
{
	struct preview *P = B->P;
	const struct pstep *ps = &v[*i];
	const struct step *st = ps->st;
	s->ps = ps;
	s->action = st->kind->action;
	/* an undo without a name is known by its id, not its command */
	s->title = B->phase == 3 && !st->name && !step_is_header(ps->st) ? xstrdup(ps->id) : step_title(P->plan, ps);
	s->number = ps->number;
	s->depth = ps->depth;
	s->phase = B->phase;
	s->forward = B->phase == 1;
	if (s->forward)
		P->index[ps - P->plan->steps] = s;
	s->nhosts = ps->nhosts;
	s->hosts = xcalloc(ps->nhosts + 1, sizeof(*s->hosts));
	for (size_t h = 0; h < ps->nhosts; h++) {
		render_host(P, ps, ps->hosts[h], &s->hosts[h]);
		/* a group or module call is entered or not once, as its first
		 * host decides (engine.c header_lookup) */
		if (step_is_header(ps->st) && h)
			s->hosts[h].when = s->hosts[0].when;
		s->when = h ? combine(s->when, s->hosts[h].when) : s->hosts[h].when;
	}
	if (!ps->nhosts)
		s->when = st->when ? decide(P, st->when, ps->scope, NULL) : PV_ALWAYS;
	s->same = true;
	for (size_t h = 1; h < ps->nhosts; h++)
		s->same &= host_same(&s->hosts[0], &s->hosts[h]);
	s->conditional = cond || s->when == PV_RUNTIME || s->when == PV_MIXED;
	s->never = never || s->when == PV_FALSE;
	struct scope *sc;
	const struct step *t = pstep_nearest(ps, NEAREST_TIMEOUT, &sc);
	s->timeout_ms = t ? t->timeout_ms : 0;
	t = ps->nhosts > 1 && s->forward ? pstep_nearest(ps, NEAREST_PARALLEL, &sc) : NULL;
	s->parallel = t && t->parallel > 1 ? (t->parallel < (int)ps->nhosts ? t->parallel : (int)ps->nhosts) : 0;
	const struct host *h0 = ps->nhosts ? ps->hosts[0] : NULL;
	if (st->expect_out)
		s->expect_out = render(P, ps->scope, h0, st->expect_out->t, NULL);
	if (st->expect_err)
		s->expect_err = render(P, ps->scope, h0, st->expect_err->t, NULL);
	s->caps = xcalloc(st->ncaps + 1, sizeof(*s->caps));
	for (size_t c = 0; c < st->ncaps; c++) {
		/* archive.* are the step's own results, not patterns */
		if (!st->caps[c].pat.t)
			continue;
		s->caps[s->ncaps].name = xstrdup(st->caps[c].name);
		s->caps[s->ncaps++].value = render(P, ps->scope, h0, st->caps[c].pat.t, NULL);
	}
	s->ndiags = st->ndiags;
	s->diags = xcalloc(st->ndiags + 1, sizeof(*s->diags));
	for (size_t d = 0; d < st->ndiags; d++) {
		s->diags[d].pattern = render(P, ps->scope, h0, st->diags[d].pat.t, NULL);
		s->diags[d].hint = st->diags[d].hint ? render_hint(P, ps->scope, h0, st->diags[d].hint, &st->diags[d].pat)
						     : NULL;
		s->diags[d].fail = st->diags[d].fail;
	}
	s->hint = render(P, ps->scope, h0, st->hint, NULL);

	/* warnings a reviewer of the procedure wants to see */
	if (s->when == PV_FALSE && !never)
		warn(P, s, st->pos, "'%s' can never run: its when (%s) is false", s->title, st->when_src);
	if (s->action == ACT_CONFIRM && P->yes && !never)
		warn(P, s, st->pos, "this confirmation is approved without asking (--yes): read it now");
	warn_raw(P, s, ps->scope, st->text, "the command");
	warn_raw(P, s, ps->scope, st->check, "the check");
	/* (a step after which nothing can fail is never rolled back by a
	 * failure: no warning for the checks that end a procedure) */
	if (s->forward && !never && (s->action == ACT_RUN || s->action == ACT_TRANSFER) && !step_only_reads(st) && !ps->unit && B->last_failable &&
	    ps < B->last_failable && !P->plan->rb->on_failure_stop)
		warn(P, s, st->pos,
		     "'%s' has no undo: if a later step fails, the rollback leaves what it did (mark it probe: true "
		     "if it only reads)", s->title);

	/* its undo, rendered on the hosts it would compensate */
	if (ps->nundo && ps->unit && ps->unit != ps)
		s->undo_by = ps->unit;
	if (ps->nundo) {
		struct build U = {P, 3, NULL};
		build_list(&U, ps->undo, ps->nundo, &s->undo, &s->nundo, false, false);
	}
	if (step_is_header(ps->st)) {
		if (s->action == ACT_USES && !never && s->when != PV_FALSE)
			enter_call(P, s, ps);
		bool kid_never = never || s->when == PV_FALSE;
		build_list(B, v + *i + 1, ps->span, &s->kids, &s->nkids, s->conditional, kid_never);
		*i += ps->span;
	}
}

static void build_list(struct build *B, const struct pstep *v, size_t n, struct pv_step **out, size_t *nout,
		       bool cond, bool never)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++, count++)
		if (step_is_header(v[i].st))
			i += v[i].span;
	*out = xcalloc(count + 1, sizeof(**out));
	*nout = count;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		build_step(B, v, &i, &(*out)[k++], cond, never);
}

/* --- what a failure would undo ------------------------------------------- */


/* As rollback.c's collect decides after a real failure: the units that
 * completed before the failing step k, newest first; a group or module
 * call with an undo counts once a step inside it completed — the failing
 * step included, which its group's undo takes back with the rest. */
static void rollback_of(struct preview *P, size_t k)
{
	struct plan *p = P->plan;
	struct pv_step *fs = P->index[k];
	/* an allowed failure rolls nothing back */
	if (!fs || fs->never || p->rb->on_failure_stop || p->steps[k].st->allow_failure)
		return;
	for (size_t i = 0; i < k; i++) {
		const struct pstep *ps = &p->steps[i];
		struct pv_step *s = P->index[i];
		if (!s || s->never)
			continue;
		if (ps->unit == ps) {
			bool any = false, sure = false;
			if (!step_is_header(ps->st)) {
				any = true;
				sure = !s->conditional;
			}
			for (size_t m = i + 1; step_is_header(ps->st) && m <= i + ps->span && m < k; m++) {
				struct pv_step *ms = P->index[m];
				if (!ms || ms->never || step_is_header(p->steps[m].st))
					continue;
				any = true;
				sure |= !ms->conditional;
			}
			if (any) {
				struct pv_undo_ref r = {ps, s->title, !sure, false};
				fs->rollback = xrealloc(fs->rollback, (fs->nrollback + 1) * sizeof(*fs->rollback));
				fs->rollback[fs->nrollback++] = r;
			}
			if (step_is_header(ps->st))
				i += ps->span;
			continue;
		}
		if (!step_is_header(ps->st) && !ps->unit &&
		    (ps->st->kind->action == ACT_RUN || ps->st->kind->action == ACT_TRANSFER) && !step_only_reads(ps->st))
			fs->bare++;
	}
	/* one host after another: on the hosts it was done on before the one
	 * that failed, its unit (itself, or a group or module call with an
	 * undo around it) is undone too */
	const struct pstep *u = p->steps[k].unit;
	bool listed = false;
	for (size_t r = 0; r < fs->nrollback; r++)
		listed |= fs->rollback[r].unit == u;
	if (u && !listed && p->steps[k].nhosts > 1) {
		struct pv_undo_ref r = {u, P->index[u - p->steps]->title, true, true};
		fs->rollback = xrealloc(fs->rollback, (fs->nrollback + 1) * sizeof(*fs->rollback));
		fs->rollback[fs->nrollback++] = r;
	}
	/* newest first */
	for (size_t a = 0, b = fs->nrollback ? fs->nrollback - 1 : 0; a < b; a++, b--) {
		struct pv_undo_ref t = fs->rollback[a];
		fs->rollback[a] = fs->rollback[b];
		fs->rollback[b] = t;
	}
}

void preview_build(struct preview *P, struct plan *p, bool yes)
{
	P->plan = p;
	P->yes = yes;
	struct build B = {P, 0, NULL};
	P->index = xcalloc(p->nsteps + 1, sizeof(*P->index));
	for (size_t i = 0; i < p->nsteps; i++)
		if (!step_is_header(p->steps[i].st) && step_can_stop_run(p->steps[i].st))
			B.last_failable = &p->steps[i];
	build_list(&B, p->pre, p->npre, &P->pre, &P->npre, false, false);
	B.phase = 1;
	build_list(&B, p->steps, p->nsteps, &P->steps, &P->nsteps, false, false);
	B.phase = 2;
	build_list(&B, p->fin, p->nfin, &P->fin, &P->nfin, false, false);
	for (size_t k = 0; k < p->nsteps; k++)
		if (!step_is_header(p->steps[k].st))
			rollback_of(P, k);
}

char *preview_host_desc(const struct host *h)
{
	if (h->local)
		return xstrdup(strcmp(h->name, "local") ? "this machine (transport: local)" : "this machine");
	return xasprintf("ssh %s%s%s:%d", h->user ? h->user : "", h->user ? "@" : "", h->address ? h->address : h->name,
			 h->port);
}

/* --- freeing ----------------------------------------------------------------- */

static void pairs_free(struct pv_pair *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

static void steps_free(struct pv_step *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct pv_step *s = &v[i];
		free(s->title);
		for (size_t h = 0; h < s->nhosts; h++) {
			struct pv_host *ph = &s->hosts[h];
			free(ph->text);
			free(ph->check);
			free(ph->cwd);
			free(ph->sudo);
			for (size_t e = 0; e < ph->nenv; e++)
				free(ph->env[e]);
			free(ph->env);
			free(ph->status);
			free(ph->why);
		}
		free(s->hosts);
		free(s->expect_out);
		free(s->expect_err);
		pairs_free(s->caps, s->ncaps);
		pairs_free(s->args, s->nargs);
		for (size_t d = 0; d < s->ndiags; d++) {
			free(s->diags[d].pattern);
			free(s->diags[d].hint);
		}
		free(s->diags);
		free(s->hint);
		steps_free(s->undo, s->nundo);
		steps_free(s->kids, s->nkids);
		free(s->rollback);
		for (size_t w = 0; w < s->nwarns; w++)
			free(s->warns[w]);
		free(s->warns);
	}
	free(v);
}

void preview_free(struct preview *P)
{
	steps_free(P->pre, P->npre);
	steps_free(P->steps, P->nsteps);
	steps_free(P->fin, P->nfin);
	for (size_t i = 0; i < P->nwarns; i++)
		free(P->warns[i].msg);
	free(P->warns);
	for (size_t i = 0; i < P->nresults; i++) {
		free(P->results[i].status);
		free(P->results[i].why);
	}
	free(P->results);
	free(P->index);
	memset(P, 0, sizeof(*P));
}
