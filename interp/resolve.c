/* resolve.c — a checked runbook plus the command line's inputs into a
 * struct plan: param values by precedence (-p > --params > inventory vars >
 * env > default), vars, hosts and groups, and the flat step list with
 * module actions expanded.  Every problem is reported before anything
 * runs (exit 2). */
#include "plan.h"

#include "inventory.h"
#include "ssh.h"
#include "transport.h"
#include "steps.h"

#include <stdlib.h>
#include <string.h>

/* --- scopes -------------------------------------------------------------- */

void scope_set(struct scope *s, const char *name, const char *value, bool secret)
{
	for (size_t i = 0; i < s->nb; i++)
		if (!strcmp(s->b[i].name, name)) {
			free(s->b[i].value);
			s->b[i].value = xstrdup(value);
			s->b[i].secret = secret;
			s->b[i].placeholder = false;
			return;
		}
	struct binding b = {xstrdup(name), xstrdup(value), secret, false};
	VEC_PUSH(s->b, s->nb, s->bcap, b);
}

const struct binding *scope_get(const struct scope *s, const char *name)
{
	for (size_t i = 0; i < s->nb; i++)
		if (!strcmp(s->b[i].name, name))
			return &s->b[i];
	return NULL;
}

struct result *scope_result(struct scope *s, const char *id)
{
	for (size_t i = 0; i < s->nres; i++)
		if (!strcmp(s->res[i].id, id))
			return &s->res[i];
	struct result r = {xstrdup(id), xstrdup(""), xstrdup(""), xstrdup("")};
	VEC_PUSH(s->res, s->nres, s->rcap, r);
	return &s->res[s->nres - 1];
}

static void scope_free(struct scope *s)
{
	for (size_t i = 0; i < s->nb; i++) {
		free(s->b[i].name);
		free(s->b[i].value);
	}
	free(s->b);
	for (size_t i = 0; i < s->nres; i++) {
		free(s->res[i].id);
		free(s->res[i].rc);
		free(s->res[i].out);
		free(s->res[i].err);
	}
	free(s->res);
	free(s);
}

void plan_add_secret(struct plan *p, const char *value)
{
	if (!value || !*value)
		return;
	for (size_t i = 0; i < p->nsecrets; i++)
		if (!strcmp(p->secrets[i], value))
			return;
	VEC_PUSH(p->secrets, p->nsecrets, p->seccap, xstrdup(value));
	if (strlen(value) > p->max_secret)
		p->max_secret = strlen(value);
}

const char *plan_lookup(void *ctx, const char *name, bool *secret)
{
	struct lookup *lk = ctx;
	*secret = false;
	for (size_t i = 0; i < lk->nextra; i++)
		if (!strcmp(lk->extra[i].name, name))
			return lk->extra[i].value;
	for (size_t i = 0; i < lk->nthen; i++)
		if (!strcmp(lk->then[i].name, name))
			return lk->then[i].value; /* never secret: those are not kept */
	if (!strncmp(name, "host.", 5)) {
		if (!lk->host)
			return NULL;
		const char *f = name + 5;
		if (!strcmp(f, "name"))
			return lk->host->name;
		if (!strcmp(f, "address"))
			return lk->host->address ? lk->host->address : "127.0.0.1";
		if (!strcmp(f, "user")) {
			if (lk->host->user)
				return lk->host->user;
			const char *u = getenv("USER");
			return u ? u : "";
		}
		return NULL;
	}
	if (!strncmp(name, "run.", 4)) {
		const char *f = name + 4;
		if (!strcmp(f, "id"))
			return lk->plan->run_id;
		if (!strcmp(f, "dir"))
			return lk->plan->run_dir;
		if (!strcmp(f, "started"))
			return lk->plan->started;
		return NULL;
	}
	if (!strncmp(name, "env.", 4)) {
		/* the variable a secret param is read from is secret too */
		for (size_t i = 0; i < lk->plan->nparams; i++) {
			const struct param_def *d = lk->plan->params[i].def;
			if (d->secret && d->env && !strcmp(d->env, name + 4))
				*secret = true;
		}
		const char *v = getenv(name + 4);
		return v ? v : "";
	}
	if (!strncmp(name, "steps.", 6)) {
		const char *rest = name + 6, *d = strrchr(rest, '.');
		if (!d)
			return NULL;
		free(lk->tmp);
		lk->tmp = xstrndup(rest, (size_t)(d - rest));
		for (size_t i = 0; i < lk->scope->nres; i++) {
			struct result *r = &lk->scope->res[i];
			if (strcmp(r->id, lk->tmp) != 0)
				continue;
			if (!strcmp(d + 1, "rc"))
				return r->rc;
			if (!strcmp(d + 1, "stdout"))
				return r->out;
			if (!strcmp(d + 1, "stderr"))
				return r->err;
		}
		return NULL;
	}
	/* plain names, and archive.* (an archive step's captures) */
	const struct binding *b = scope_get(lk->scope, name);
	if (!b)
		return NULL;
	*secret = b->secret;
	return b->value;
}

int module_arg_bind(struct plan *p, struct scope *ms, const struct param_def *d, const struct kv *arg,
		    struct lookup *lk, char **why)
{
	if (!arg) {
		scope_set(ms, d->name, d->has_default ? d->def : "", false);
		return 0;
	}
	struct sbuf sb = {0};
	const char *bad;
	bool secret = false;
	int rc = 0;
	if (tmpl_render_ex(arg->val, plan_lookup, lk, 0, &sb, &bad, &secret) < 0) {
		*why = xasprintf("argument '%s' reads '%s', which has no value here", d->name, bad);
		rc = -1;
	} else {
		char *v = param_violation(d, sbuf_str(&sb));
		/* a value for a secret param, or made of a secret, is never shown */
		if (v) {
			*why = secret || d->secret ? xasprintf("argument '%s' %s", d->name, v)
						   : xasprintf("argument '%s' = '%s' %s", d->name, sbuf_str(&sb), v);
			free(v);
			rc = -1;
		} else {
			scope_set(ms, d->name, sbuf_str(&sb), secret || d->secret);
			if (secret || d->secret)
				plan_add_secret(p, sbuf_str(&sb));
		}
	}
	sbuf_release(&sb);
	return rc;
}

void lookup_release(struct lookup *lk)
{
	free(lk->tmp);
	lk->tmp = NULL;
}

/* --- hosts --------------------------------------------------------------- */

struct resolver {
	struct plan *p;
	struct rb_error *err;
	struct inventory *inv;
};

struct host *host_new(const struct host_def *d)
{
	struct host *h = xcalloc(1, sizeof(*h));
	h->name = xstrdup(d->name);
	h->address = d->address ? xstrdup(d->address) : NULL;
	h->user = d->user ? xstrdup(d->user) : NULL;
	h->port = d->port;
	h->local = d->local;
	h->sudo = d->sudo;
	h->env = xcalloc(d->nenv + 1, sizeof(char *));
	for (size_t i = 0; i < d->nenv; i++)
		h->env[h->nenv++] = xasprintf("%s=%s", d->env[i].key, d->env[i].val->src);
	if (!h->local)
		ssh_host_resolve(h, d);
	return h;
}


static void add_host(struct resolver *R, struct host *h)
{
	for (size_t i = 0; i < R->p->nhosts; i++)
		if (!strcmp(R->p->hosts[i]->name, h->name)) {
			/* the inventory describes this environment: it wins */
			host_free(R->p->hosts[i]);
			R->p->hosts[i] = h;
			return;
		}
	R->p->hosts = xrealloc(R->p->hosts, (R->p->nhosts + 1) * sizeof(*R->p->hosts));
	R->p->hosts[R->p->nhosts++] = h;
}

static struct host *find_host(struct plan *p, const char *name)
{
	for (size_t i = 0; i < p->nhosts; i++)
		if (!strcmp(p->hosts[i]->name, name))
			return p->hosts[i];
	return NULL;
}

/* Resolves a host or group name into hosts; reports unknown names. */
static int resolve_on(struct resolver *R, const char *name, struct pos at, const char *what,
		      struct host ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	struct host *h = find_host(R->p, name);
	if (h) {
		*out = xcalloc(1, sizeof(*out[0]));
		(*out)[0] = h;
		*n = 1;
		return 0;
	}
	if (R->inv)
		for (size_t g = 0; g < R->inv->ngroups; g++) {
			struct inv_group *gr = &R->inv->groups[g];
			if (strcmp(gr->name, name) != 0)
				continue;
			*out = xcalloc(gr->n + 1, sizeof(*out[0]));
			for (size_t i = 0; i < gr->n; i++) {
				struct host *m = find_host(R->p, gr->members[i]);
				if (!m) {
					rb_error_at(R->err, gr->mpos[i], "group '%s' names unknown host '%s'", name,
						    gr->members[i]);
					continue;
				}
				(*out)[(*n)++] = m;
			}
			if (!gr->n)
				rb_error_at(R->err, gr->pos, "group '%s' is empty", name);
			return 0;
		}
	const char **cands = xcalloc(R->p->nhosts + (R->inv ? R->inv->ngroups : 0) + 1, sizeof(char *));
	size_t nc = 0;
	for (size_t i = 0; i < R->p->nhosts; i++)
		cands[nc++] = R->p->hosts[i]->name;
	for (size_t i = 0; R->inv && i < R->inv->ngroups; i++)
		cands[nc++] = R->inv->groups[i].name;
	struct sbuf sb = {0};
	sbuf_addf(&sb, "unknown host or group '%s' in '%s'", name, what);
	sbuf_add_suggestion(&sb, name, cands, nc);
	rb_error_at(R->err, at, "%s", sbuf_str(&sb));
	sbuf_release(&sb);
	free(cands);
	return -1;
}

void host_free(struct host *h)
{
	if (!h)
		return;
	free(h->name);
	free(h->address);
	free(h->user);
	for (size_t i = 0; i < h->nenv; i++)
		free(h->env[i]);
	free(h->env);
	for (size_t i = 0; i < h->nidentities; i++)
		free(h->identities[i]);
	free(h->identities);
	free(h->known_hosts);
	free(h->state_dir);
	transport_free(h->tr);
	free(h);
}

/* --- params -------------------------------------------------------------- */

const char *param_env_value(const struct param_def *d)
{
	const char *v = d->env ? getenv(d->env) : NULL;
	return v && *v ? v : NULL;
}

static void resolve_params(struct resolver *R, const struct run_input *in)
{
	struct plan *p = R->p;
	struct runbook *rb = p->rb;
	char **fnames = NULL, **fvalues = NULL;
	struct pos *fpos = NULL;
	size_t nf = 0;
	if (in->params_file)
		params_file_load(in->params_file, &fnames, &fvalues, &fpos, &nf, R->err);
	const char **cands = xcalloc(rb->nparams + 1, sizeof(char *));
	for (size_t i = 0; i < rb->nparams; i++)
		cands[i] = rb->params[i].name;
	/* Names given that the runbook does not declare are mistakes. */
	for (size_t i = 0; i < in->np; i++) {
		bool found = false;
		for (size_t j = 0; j < rb->nparams; j++)
			if (!strcmp(rb->params[j].name, in->pnames[i]))
				found = true;
		if (!found) {
			struct sbuf sb = {0};
			sbuf_addf(&sb, "-p %s: runbook '%s' has no param '%s'", in->pnames[i], rb->name, in->pnames[i]);
			sbuf_add_suggestion(&sb, in->pnames[i], cands, rb->nparams);
			rb_error_add(R->err, "%s", sbuf_str(&sb));
			sbuf_release(&sb);
		}
	}
	for (size_t i = 0; i < nf; i++) {
		bool found = false;
		for (size_t j = 0; j < rb->nparams; j++)
			if (!strcmp(rb->params[j].name, fnames[i]))
				found = true;
		if (!found) {
			struct sbuf sb = {0};
			sbuf_addf(&sb, "%s:%d:1: runbook '%s' has no param '%s'", in->params_file, fpos[i].line,
				  rb->name, fnames[i]);
			sbuf_add_suggestion(&sb, fnames[i], cands, rb->nparams);
			rb_error_add(R->err, "%s", sbuf_str(&sb));
			sbuf_release(&sb);
		}
	}
	free(cands);
	p->params = xcalloc(rb->nparams + 1, sizeof(*p->params));
	p->nparams = rb->nparams;
	for (size_t j = 0; j < rb->nparams; j++) {
		const struct param_def *d = &rb->params[j];
		struct param_value *pv = &p->params[j];
		pv->def = d;
		const char *v = NULL;
		for (size_t i = 0; i < in->np; i++)
			if (!strcmp(in->pnames[i], d->name)) {
				v = in->pvalues[i]; /* the last -p wins */
				pv->source = "-p";
			}
		struct pos from = {0};
		for (size_t i = 0; !v && i < nf; i++)
			if (!strcmp(fnames[i], d->name)) {
				v = fvalues[i];
				pv->source = "--params";
				from = fpos[i];
				from.file = in->params_file;
			}
		for (size_t i = 0; !v && R->inv && i < R->inv->nvars; i++)
			if (!strcmp(R->inv->vnames[i], d->name)) {
				v = R->inv->vvalues[i];
				pv->source = "inventory";
			}
		if (!v && (v = param_env_value(d)))
			pv->source = "env";
		if (!v && d->has_default) {
			v = d->def;
			pv->source = "default";
		}
		if (!v) {
			pv->source = "not given";
			if (d->required) {
				if (d->env)
					rb_error_at(R->err, d->pos, "param '%s' is required: give -p %s=VALUE or set %s%s%s",
						    d->name, d->name, d->env, d->doc ? " \xe2\x80\x94 " : "", d->doc ? d->doc : "");
				else
					rb_error_at(R->err, d->pos, "param '%s' is required: give -p %s=VALUE%s%s", d->name,
						    d->name, d->doc ? " \xe2\x80\x94 " : "", d->doc ? d->doc : "");
			}
			continue;
		}
		if (strlen(v) > 1 << 20) {
			rb_error_add(R->err, "param '%s': the value is longer than 1 MiB", d->name);
			continue;
		}
		char *why = param_violation(d, v);
		if (why) {
			/* never echo a secret, even a wrong one */
			if (d->secret)
				rb_error_at(R->err, from, "param '%s' (from %s): the value %s", d->name, pv->source, why);
			else
				rb_error_at(R->err, from, "param '%s' (from %s): '%s' %s", d->name, pv->source, v, why);
			free(why);
			continue;
		}
		pv->value = xstrdup(v);
		if (d->secret)
			plan_add_secret(p, v);
	}
	for (size_t i = 0; i < nf; i++) {
		free(fnames[i]);
		free(fvalues[i]);
	}
	free(fnames);
	free(fvalues);
	free(fpos);
}

/* --- expansion ----------------------------------------------------------- */

struct expander {
	struct resolver *R;
	struct pstep *v;
	size_t n, cap;
	int leaves;
};

static struct scope *new_scope(struct plan *p)
{
	struct scope *s = xcalloc(1, sizeof(*s));
	VEC_PUSH(p->scopes, p->nscopes, p->scap, s);
	return s;
}

static void expand(struct expander *E, const struct step *steps, size_t n, struct scope *scope,
		   struct frame *outer, size_t nouter, const char *prefix, int depth,
		   struct host **inh, size_t ninh);

/* The undo of E->v[at], expanded like steps (module calls in it too):
 * inside the frames of the step it compensates, with that step as the
 * innermost frame, on its hosts unless the undo names others.  Its
 * leaves carry the compensated step's number, for their log names. */
static void expand_undo(struct expander *E, size_t at, struct frame *outer, size_t nouter, const char *prefix)
{
	const struct pstep *ps = &E->v[at];
	const struct step *st = ps->st;
	if (!st->nundo)
		return;
	bool header = step_is_header(st);
	int number = ps->number;
	for (size_t k = at + 1; !number && k <= at + ps->span; k++)
		number = E->v[k].number;
	struct frame *fr = xcalloc(nouter + 2, sizeof(*fr));
	if (nouter)
		memcpy(fr, outer, nouter * sizeof(*outer));
	fr[nouter] = (struct frame){st, ps->scope, !header};
	struct expander U = {.R = E->R};
	expand(&U, st->undo, st->nundo, ps->scope, fr, nouter + 1, prefix, 1, ps->hosts, ps->nhosts);
	free(fr);
	for (size_t k = 0; k < U.n; k++) {
		struct pstep *u = &U.v[k];
		if (u->number)
			u->number = number;
		u->own_hosts = u->st->on != NULL;
		for (size_t f = nouter + 1; f < u->nouter; f++)
			u->own_hosts |= u->outer[f].st->on != NULL;
	}
	E->v[at].undo = U.v;
	E->v[at].nundo = U.n;
}

/* Which undo compensates each forward leaf: the outermost group or
 * module call with an undo replaces its members' own. */
static void assign_units(struct pstep *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct pstep *ps = &v[i];
		bool header = step_is_header(ps->st);
		if (!ps->unit && ps->nundo)
			ps->unit = ps;
		if (header && ps->unit)
			for (size_t k = i + 1; k <= i + ps->span; k++)
				v[k].unit = ps->unit;
	}
}

/* Does the template read host.* (so that it differs from host to host)? */
static bool tmpl_reads_host(const struct tmpl *t)
{
	for (size_t i = 0; t && i < t->n; i++)
		if (t->segs[i].is_name && !strncmp(t->segs[i].text, "host.", 5))
			return true;
	return false;
}

static void expand_one(struct expander *E, const struct step *st, struct scope *scope, struct frame *outer,
		       size_t nouter, const char *prefix, int depth, struct host **inh, size_t ninh)
{
	struct resolver *R = E->R;
	struct pstep ps = {0};
	ps.st = st;
	ps.scope = scope;
	ps.id = xasprintf("%s%s", prefix, st->id);
	ps.depth = depth;
	if (st->on && strcmp(st->on, "local") != 0) {
		resolve_on(R, st->on, st->on_pos, "on", &ps.hosts, &ps.nhosts);
	} else if (st->on) {
		ps.hosts = xcalloc(1, sizeof(*ps.hosts));
		ps.hosts[0] = find_host(R->p, "local");
		ps.nhosts = 1;
	} else {
		ps.hosts = xcalloc(ninh + 1, sizeof(*ps.hosts));
		if (ninh)
			memcpy(ps.hosts, inh, ninh * sizeof(*inh));
		ps.nhosts = ninh;
	}
	if (ps.nhosts > 1 && st->kind->run == run_archive && !tmpl_reads_host(st->xdest))
		rb_error_at(R->err, st->pos, "this archive runs on %zu hosts, and each would write the same file: put "
					     "{{ host.name }} in its 'to'", ps.nhosts);
	ps.outer = xcalloc(nouter + 1, sizeof(*outer));
	if (nouter)
		memcpy(ps.outer, outer, nouter * sizeof(*outer));
	ps.nouter = nouter;
	bool header = step_is_header(st);
	if (!header)
		ps.number = ++E->leaves;
	VEC_PUSH(E->v, E->n, E->cap, ps);
	size_t at = E->n - 1;
	if (!header) {
		expand_undo(E, at, outer, nouter, prefix);
		return;
	}
	struct host **hosts = E->v[at].hosts;
	size_t nhosts = E->v[at].nhosts;
	struct frame *fr = xcalloc(nouter + 2, sizeof(*fr));
	if (nouter)
		memcpy(fr, outer, nouter * sizeof(*outer));
	fr[nouter].st = st;
	fr[nouter].scope = scope;
	if (st->kind->action == ACT_GROUP) {
		expand(E, st->steps, st->nsteps, scope, fr, nouter + 1, prefix, depth + 1, hosts, nhosts);
	} else if (st->adef) {
		struct scope *ms = new_scope(R->p);
		ms->caller = scope;
		ms->uses = st;
		E->v[at].inner = ms;
		char *pre = xasprintf("%s%s.", prefix, st->id);
		expand(E, st->adef->steps, st->adef->nsteps, ms, fr, nouter + 1, pre, depth + 1, hosts, nhosts);
		free(pre);
	}
	free(fr);
	E->v[at].span = E->n - at - 1;
	expand_undo(E, at, outer, nouter, prefix);
}

static void expand(struct expander *E, const struct step *steps, size_t n, struct scope *scope,
		   struct frame *outer, size_t nouter, const char *prefix, int depth,
		   struct host **inh, size_t ninh)
{
	for (size_t i = 0; i < n; i++)
		expand_one(E, &steps[i], scope, outer, nouter, prefix, depth, inh, ninh);
}

static void expand_list(struct resolver *R, const struct step *steps, size_t n, struct host **target,
			size_t ntarget, struct pstep **out, size_t *nout, int *leaves)
{
	struct expander E = {.R = R, .leaves = *leaves};
	expand(&E, steps, n, R->p->scopes[0], NULL, 0, "", 0, target, ntarget);
	*out = E.v;
	*nout = E.n;
	*leaves = E.leaves;
}

struct plan *plan_resolve(struct runbook *rb, const struct run_input *in, struct rb_error *err)
{
	size_t before = err->n;
	struct plan *p = xcalloc(1, sizeof(*p));
	p->rb = rb;
	p->run_id = xstrdup(in->run_id ? in->run_id : "");
	p->run_dir = xstrdup(in->run_dir ? in->run_dir : "");
	p->preview = in->preview;
	p->started = xstrdup(in->started ? in->started : "");
	struct resolver R = {.p = p, .err = err};
	if (in->inventory)
		R.inv = inventory_load(in->inventory, err);
	struct host_def local = {.name = (char *)"local", .local = true, .port = 22};
	add_host(&R, host_new(&local));
	for (size_t i = 0; i < rb->nhosts; i++)
		add_host(&R, host_new(&rb->hosts[i]));
	for (size_t i = 0; R.inv && i < R.inv->nhosts; i++)
		add_host(&R, host_new(&R.inv->hosts[i]));
	if (R.inv)
		for (size_t g = 0; g < R.inv->ngroups; g++)
			if (find_host(p, R.inv->groups[g].name))
				rb_error_at(err, R.inv->groups[g].pos, "group '%s' has the name of a host",
					    R.inv->groups[g].name);

	struct scope *root = new_scope(p);
	resolve_params(&R, in);
	for (size_t i = 0; i < p->nparams; i++)
		if (p->params[i].value)
			scope_set(root, p->params[i].def->name, p->params[i].value, p->params[i].def->secret);
		else
			scope_set(root, p->params[i].def->name, "", false);
	/* vars: in order, each seeing params and the vars before it */
	if (err->n == before) {
		struct lookup lk = {.plan = p, .scope = root};
		for (size_t i = 0; i < rb->nvars; i++) {
			struct sbuf sb = {0};
			const char *bad = NULL;
			bool secret = false;
			if (tmpl_render_ex(rb->vars[i].t, plan_lookup, &lk, 0, &sb, &bad, &secret) < 0)
				rb_error_at(err, rb->vars[i].pos, "var '%s': unknown name '%s'", rb->vars[i].name, bad);
			scope_set(root, rb->vars[i].name, sbuf_str(&sb), secret);
			if (secret)
				plan_add_secret(p, sbuf_str(&sb));
			sbuf_release(&sb);
		}
		lookup_release(&lk);
	}

	/* target: --target, then the runbook's, then the operator's machine */
	const char *target = in->target ? in->target : rb->target ? rb->target : "local";
	p->target = xstrdup(target);
	struct host **th = NULL;
	size_t nth = 0;
	struct pos tpos = rb->target && !in->target ? rb->target_pos : (struct pos){0};
	if (resolve_on(&R, target, tpos, "target", &th, &nth) < 0)
		nth = 0;
	int leaves = 0;
	expand_list(&R, rb->pre, rb->npre, th, nth, &p->pre, &p->npre, &leaves);
	leaves = 0;
	expand_list(&R, rb->steps, rb->nsteps, th, nth, &p->steps, &p->nsteps, &leaves);
	assign_units(p->steps, p->nsteps);
	expand_list(&R, rb->fin, rb->nfin, th, nth, &p->fin, &p->nfin, &leaves);
	p->nleaves = leaves;
	p->target_hosts = th;
	p->ntarget = nth;
	inventory_free(R.inv);
	if (err->n != before) {
		plan_free(p);
		return NULL;
	}
	return p;
}

static void psteps_free(struct pstep *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].hosts);
		free(v[i].outer);
		psteps_free(v[i].undo, v[i].nundo);
	}
	free(v);
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	psteps_free(p->pre, p->npre);
	psteps_free(p->steps, p->nsteps);
	psteps_free(p->fin, p->nfin);
	for (size_t i = 0; i < p->nscopes; i++)
		scope_free(p->scopes[i]);
	free(p->scopes);
	for (size_t i = 0; i < p->nhosts; i++)
		host_free(p->hosts[i]);
	free(p->hosts);
	for (size_t i = 0; i < p->nparams; i++)
		free(p->params[i].value);
	free(p->params);
	for (size_t i = 0; i < p->nsecrets; i++)
		free(p->secrets[i]);
	free(p->secrets);
	free(p->run_id);
	free(p->run_dir);
	free(p->started);
	free(p->target);
	free(p->target_hosts);
	free(p);
}
