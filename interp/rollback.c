/* rollback.c — compensation (DESIGN §3).  After a forward step fails
 * under `on_failure: rollback`, or when the operator runs `runbook
 * rollback RUN`, the undos of the steps that completed run newest first,
 * each on the host where its step completed.  A group or module call with
 * an undo of its own is one unit: its undo replaces its members'.  An
 * undo that fails stops the rollback (exit 3) and the summary says what
 * was and was not undone.
 *
 * Every undo step is journaled like a step (undo_start / undo_end, with
 * the unit it compensates and the host), so a rollback cut short by a
 * kill or Ctrl-C goes on where it stopped; an undo that ended is never
 * run again, and one that was interrupted is settled by its check.
 *
 * An undo renders with the values its step saw (params, vars, captures,
 * steps.*, env.*): they are kept when the step completes — in memory and
 * in its step_end record, as undo_values — so that a rollback in a later
 * process, or after other steps changed a value, still undoes what was
 * done.  Secret values are never kept: they are read again. */
#include "engine.h"

#include "journal.h"
#include "sig.h"
#include "steps.h"
#include "ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One compensation: a unit on one host. */
struct comp {
	struct pstep *unit;
	struct host *host;
	const char *status; /* "undone", "undone earlier", "undo failed", "not undone", "interrupted", "paused" */
	char *why;          /* undo failed: the reason (masked) */
	char *log;          /* ...and its log */
};

/* A forward leaf on a host, for the lists a human reads. */
struct spot {
	struct pstep *ps;
	struct host *host;
	bool outside;       /* done on a host its group's undo does not run on */
};

struct rollback {
	struct comp *v;             /* newest first */
	size_t n, cap;
	struct spot *bare;          /* completed, and nothing undoes it */
	size_t nbare, barecap;
	struct spot *unsure;        /* interrupted without a check: unknown */
	size_t nunsure, unsurecap;
	bool empty;                 /* nothing to undo: no rollback happened */
};

/* --- the values of the time ------------------------------------------------ */

struct names {
	const char **v;
	size_t n, cap;
};

static void names_add(void *ctx, const char *name, struct pos at)
{
	(void)at;
	struct names *ns = ctx;
	/* host.* is the host the undo runs on; run.* never changes */
	if (!strncmp(name, "host.", 5) || !strncmp(name, "run.", 4))
		return;
	for (size_t i = 0; i < ns->n; i++)
		if (!strcmp(ns->v[i], name))
			return;
	VEC_PUSH(ns->v, ns->n, ns->cap, name);
}

static void names_steps(struct names *ns, const struct step *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		step_each_name(&s[i], names_add, ns);
}

static struct snapshot *snap_find(struct engine *E, const struct pstep *unit, const char *host)
{
	struct snapshot *any = NULL;
	for (size_t i = 0; i < E->nsnaps; i++)
		if (E->snaps[i].unit == unit) {
			if (!strcmp(E->snaps[i].host, host))
				return &E->snaps[i];
			any = &E->snaps[i];
		}
	return host[0] ? NULL : any;
}

static struct snapshot *snap_for(struct engine *E, const struct pstep *unit, const char *host)
{
	struct snapshot *sn = snap_find(E, unit, host);
	if (sn) {
		for (size_t i = 0; i < sn->n; i++) {
			free(sn->b[i].name);
			free(sn->b[i].value);
		}
		sn->n = 0;
		return sn;
	}
	struct snapshot z = {.unit = unit, .host = xstrdup(host)};
	VEC_PUSH(E->snaps, E->nsnaps, E->snapcap, z);
	return &E->snaps[E->nsnaps - 1];
}

static void snap_add(struct snapshot *sn, const char *name, const char *value)
{
	sn->b = xrealloc(sn->b, (sn->n + 1) * sizeof(*sn->b));
	sn->b[sn->n++] = (struct binding){xstrdup(name), xstrdup(value), false, false};
}

void snapshot_take(struct engine *E, const struct pstep *ps, const struct host *h, struct json *j)
{
	const struct pstep *u = ps->unit;
	struct names ns = {0};
	names_steps(&ns, u->st->undo, u->st->nundo);
	/* the undo also runs with the env, cwd and sudo of its step */
	tmpl_each_name(u->st->sudo_user, names_add, &ns);
	tmpl_each_name(u->st->cwd, names_add, &ns);
	for (size_t e = 0; e < u->st->nenv; e++)
		tmpl_each_name(u->st->env[e].val, names_add, &ns);
	struct snapshot *sn = snap_for(E, u, h->name);
	struct lookup lk = {.plan = E->plan, .scope = u->scope, .host = h};
	struct json vals = {.exact = true};
	json_begin(&vals);
	for (size_t i = 0; i < ns.n; i++) {
		bool secret = false;
		const char *v = plan_lookup(&lk, ns.v[i], &secret);
		if (!v || secret)
			continue;
		/* a value that holds a secret (a capture of output that printed
		 * one) is read again too, never written */
		if (E->plan->nsecrets) {
			char *m = mask_secrets(E->plan, v, strlen(v), NULL);
			bool held = strcmp(m, v) != 0;
			free(m);
			if (held)
				continue;
		}
		snap_add(sn, ns.v[i], v);
		json_kstr(&vals, ns.v[i], v);
	}
	lookup_release(&lk);
	if (sn->n)
		json_kraw(j, "undo_values", json_end(&vals));
	json_release(&vals);
	free(ns.v);
}

void snapshot_restore(struct engine *E, const struct pstep *ps, const struct host *h, const struct jv *end)
{
	const struct jv *vals = end ? jv_get(end, "undo_values") : NULL;
	if (!vals || vals->t != JV_OBJ)
		return;
	struct snapshot *sn = snap_for(E, ps->unit, h->name);
	for (size_t i = 0; i < vals->n; i++)
		if (vals->v[i].t == JV_STR)
			snap_add(sn, vals->k[i], vals->v[i].s);
}

void snapshots_free(struct engine *E)
{
	for (size_t i = 0; i < E->nsnaps; i++) {
		for (size_t k = 0; k < E->snaps[i].n; k++) {
			free(E->snaps[i].b[k].name);
			free(E->snaps[i].b[k].value);
		}
		free(E->snaps[i].b);
		free(E->snaps[i].host);
	}
	free(E->snaps);
	E->snaps = NULL;
	E->nsnaps = E->snapcap = 0;
}

/* --- what to undo ---------------------------------------------------------- */

static bool has_host(const struct pstep *ps, const struct host *h)
{
	for (size_t k = 0; k < ps->nhosts; k++)
		if (ps->hosts[k] == h)
			return true;
	return false;
}

/* Did unit (at v[at]) complete anything on host h?  A leaf: itself.  A
 * group or module call: any step under it, on h.  (A step under it on a
 * host outside the group's is not the group undo's to take back: see
 * collect.) */
static bool completed(struct engine *E, struct pstep *v, size_t at, const struct host *h)
{
	const struct pstep *u = &v[at];
	if (!step_is_header(u->st)) {
		const struct summary_row *r = engine_row(E, u, h);
		return r && !strcmp(r->status, "ok");
	}
	for (size_t k = at + 1; k <= at + u->span; k++)
		for (size_t hk = 0; v[k].number && hk < v[k].nhosts; hk++)
			if (v[k].hosts[hk] == h && !strcmp(E->rows[v[k].row + hk].status, "ok"))
				return true;
	return false;
}

/* Adds the leaf ps's hosts whose row has status (and no verdict yet);
 * with outside, only the hosts outside that group's. */
static void spots_of(struct engine *E, struct pstep *ps, const char *status, struct spot **v, size_t *n,
		     size_t *cap, const struct pstep *outside)
{
	if (!ps->number || (ps->st->kind->action != ACT_RUN && ps->st->kind->action != ACT_TRANSFER) ||
	    step_only_reads(ps->st))
		return;
	for (size_t h = 0; h < ps->nhosts; h++) {
		const struct summary_row *r = &E->rows[ps->row + h];
		if (!strcmp(r->status, status) && !r->undo && !(outside && has_host(outside, ps->hosts[h]))) {
			struct spot s = {ps, ps->hosts[h], outside != NULL};
			VEC_PUSH(*v, *n, *cap, s);
		}
	}
}

/* The units to compensate, newest first; and what no undo covers. */
static void collect(struct engine *E, struct rollback *R)
{
	struct plan *p = E->plan;
	for (size_t i = 0; i < p->nsteps; i++) {
		struct pstep *ps = &p->steps[i];
		if (ps->unit == ps) {
			for (size_t h = 0; h < ps->nhosts; h++)
				if (completed(E, p->steps, i, ps->hosts[h])) {
					struct comp c = {ps, ps->hosts[h], "not undone", NULL, NULL};
					VEC_PUSH(R->v, R->n, R->cap, c);
				}
			if (!step_is_header(ps->st)) {
				spots_of(E, ps, "interrupted", &R->unsure, &R->nunsure, &R->unsurecap, NULL);
				continue;
			}
			for (size_t k = i + 1; k <= i + ps->span; k++) {
				spots_of(E, &p->steps[k], "interrupted", &R->unsure, &R->nunsure, &R->unsurecap, NULL);
				/* done on a host the group's undo does not run on */
				spots_of(E, &p->steps[k], "ok", &R->bare, &R->nbare, &R->barecap, ps);
			}
			i += ps->span;
			continue;
		}
		if (step_is_header(ps->st))
			continue;
		/* a step nothing undoes: said in the summary ("not compensated") */
		spots_of(E, ps, "ok", &R->bare, &R->nbare, &R->barecap, NULL);
		spots_of(E, ps, "interrupted", &R->unsure, &R->nunsure, &R->unsurecap, NULL);
	}
	/* newest first: the reverse of the order they were done in */
	for (size_t a = 0, b = R->n ? R->n - 1 : 0; a < b; a++, b--) {
		struct comp t = R->v[a];
		R->v[a] = R->v[b];
		R->v[b] = t;
	}
}

/* Did an earlier process record every undo step of unit, compensating
 * host h, as done? */
static bool done_earlier(const struct run_state *rs, const struct pstep *unit, struct host *h)
{
	if (!rs || !rs->nundos)
		return false;
	for (size_t i = 0; i < unit->nundo; i++) {
		const struct pstep *u = &unit->undo[i];
		if (!u->number)
			continue;
		/* on the host compensated, unless the undo names its own */
		struct host *const *hs = u->own_hosts ? u->hosts : &h;
		size_t nh = u->own_hosts ? u->nhosts : 1;
		for (size_t k = 0; k < nh; k++)
			if (!step_state_done(run_state_undo(rs, u->id, hs[k]->name, h->name)))
				return false;
	}
	return true;
}

static int undo_leaves(const struct comp *c)
{
	int n = 0;
	for (size_t i = 0; i < c->unit->nundo; i++)
		if (c->unit->undo[i].number)
			n += c->unit->undo[i].own_hosts ? (int)c->unit->undo[i].nhosts : 1;
	return n;
}

/* The summary rows a compensation speaks for: its step's, or those of
 * the group's steps on its host (the failed one among them, which the
 * group's undo takes back with the rest). */
static void mark_rows(struct engine *E, const struct comp *c, const char *what)
{
	struct plan *p = E->plan;
	struct summary_row *r = engine_row(E, c->unit, c->host);
	if (r) {
		r->undo = what;
		return;
	}
	size_t at = (size_t)(c->unit - p->steps);
	for (size_t k = at + 1; k <= at + c->unit->span; k++)
		for (size_t hk = 0; p->steps[k].number && hk < p->steps[k].nhosts; hk++) {
			struct summary_row *m = &E->rows[p->steps[k].row + hk];
			if (p->steps[k].hosts[hk] != c->host)
				continue;
			if (!strcmp(m->status, "ok"))
				m->undo = what;
			else if (!strcmp(m->status, "failed") && !strncmp(what, "undone", 6))
				m->undo = "undone with its group";
		}
}

/* The rows of the steps nothing undoes. */
static void mark_bare(struct engine *E, const struct rollback *R)
{
	for (size_t k = 0; k < R->nbare; k++) {
		struct summary_row *r = engine_row(E, R->bare[k].ps, R->bare[k].host);
		if (r)
			r->undo = R->bare[k].outside ? "not compensated (its group's undo runs on the group's hosts)"
						     : "not compensated (no undo)";
	}
}

/* "title (id) @host": the id tells two calls of one module action apart. */
static char *unit_label(struct plan *p, const struct pstep *unit, const struct host *h)
{
	char *t = step_title(p, unit);
	bool local = !strcmp(h->name, "local") && unit->nhosts <= 1;
	bool id = strcmp(t, unit->id) != 0 && (unit->st->id_given || strchr(unit->id, '.'));
	char *s = xasprintf("%s%s%s%s%s%s", t, id ? " (" : "", id ? unit->id : "", id ? ")" : "", local ? "" : " @",
			    local ? "" : h->name);
	free(t);
	return s;
}

int rollback_run(struct engine *E, const char *trigger)
{
	struct plan *p = E->plan;
	const struct run_state *rs = E->opt.prior;
	struct rollback *R = xcalloc(1, sizeof(*R));
	E->rb = R;
	collect(E, R);
	/* a failure with nothing to undo is no rollback: the run stops as
	 * with on_failure: stop, and resume can retry the failed step */
	if (!R->n && !strcmp(trigger, "failure") && (!rs || rs->rollback == RB_NONE)) {
		R->empty = true;
		mark_bare(E, R);
		return 1;
	}

	struct json *j = engine_rec(E, "phase", NULL, NULL);
	json_kstr(j, "phase", "rollback");
	json_kstr(j, "trigger", trigger);
	if (E->failed_step)
		json_kstr(j, "step", E->failed_step->id);
	if (E->failed_host)
		json_kstr(j, "host", E->failed_host->name);
	if (rs && rs->rollback != RB_NONE)
		json_kbool(j, "continued", true);
	if (!engine_commit(E, true))
		return -1;
	struct json *ev = ui_event_begin("rollback_start");
	json_kstr(ev, "run", p->run_id);
	json_kstr(ev, "trigger", trigger);
	ui_event_emit();

	bool *earlier = xcalloc(R->n + 1, sizeof(bool));
	int todo = 0;
	for (size_t i = 0; i < R->n; i++) {
		earlier[i] = done_earlier(rs, R->v[i].unit, R->v[i].host);
		if (!earlier[i])
			todo += undo_leaves(&R->v[i]);
	}
	E->undo_n = 0;
	E->undo_total = todo;
	size_t before = 0;
	for (size_t i = 0; i < R->n; i++)
		before += earlier[i];
	if (!R->n)
		ui_title("rollback: nothing to undo");
	else if (before)
		ui_title("rollback: %zu change%s to undo, newest first (%zu undone earlier)", R->n - before,
			 R->n - before == 1 ? "" : "s", before);
	else
		ui_title("rollback: %zu change%s to undo, newest first", R->n, R->n > 1 ? "s" : "");

	bool failed = false;
	size_t i = 0;
	for (; i < R->n; i++) {
		struct comp *c = &R->v[i];
		if (sig_interrupted()) {
			E->interrupted = true;
			break;
		}
		char *label = unit_label(p, c->unit, c->host);
		if (earlier[i]) {
			ui_step_end(0, 0, label, NULL, "undone", -1, "earlier", 0);
			c->status = "undone earlier";
			free(label);
			continue;
		}
		ui_group(label, 0);
		free(label);
		struct snapshot *sn = snap_find(E, c->unit, c->host->name);
		if (!sn)
			sn = snap_find(E, c->unit, "");
		struct undo_ctx uc = {c->unit, c->host, sn ? sn->b : NULL, sn ? sn->n : 0};
		free(E->undo_why);
		free(E->undo_log);
		E->undo_why = E->undo_log = NULL;
		bool ok = engine_walk(E, c->unit->undo, c->unit->nundo, false, 3, &uc);
		if (E->interrupted) {
			c->status = "interrupted";
			break;
		}
		if (E->paused) {
			c->status = "paused";
			break;
		}
		if (E->jfail)
			break;
		if (!ok) {
			c->status = "undo failed";
			c->why = E->undo_why ? xstrdup(E->undo_why) : xstrdup("it failed");
			c->log = E->undo_log ? xstrdup(E->undo_log) : NULL;
			failed = true;
			break;
		}
		c->status = "undone";
	}
	free(earlier);

	int undone = 0, not_undone = 0;
	for (size_t k = 0; k < R->n; k++) {
		undone += !strncmp(R->v[k].status, "undone", 6);
		not_undone += !strcmp(R->v[k].status, "not undone");
		mark_rows(E, &R->v[k], R->v[k].status);
	}
	mark_bare(E, R);
	for (size_t k = 0; k < R->nunsure; k++) {
		struct summary_row *r = engine_row(E, R->unsure[k].ps, R->unsure[k].host);
		if (r)
			r->undo = "not compensated (interrupted: check by hand)";
	}
	if (E->failed_step && E->failed_host) {
		struct summary_row *r = engine_row(E, E->failed_step, E->failed_host);
		if (r && !r->undo)
			r->undo = "failed step: not compensated";
	}

	/* interrupted or paused: the rollback goes on at the next resume */
	if (E->interrupted || E->paused || E->jfail)
		return -1;
	j = engine_rec(E, "rollback_end", NULL, NULL);
	json_kstr(j, "status", failed ? "failed" : "done");
	json_kint(j, "undone", undone);
	json_kint(j, "failed", failed);
	json_kint(j, "not_undone", not_undone);
	json_kint(j, "not_compensated", (long long)R->nbare);
	engine_commit(E, true);
	ev = ui_event_begin("rollback_end");
	json_kstr(ev, "run", p->run_id);
	json_kstr(ev, "status", failed ? "failed" : "done");
	json_kint(ev, "undone", undone);
	json_kint(ev, "not_undone", not_undone);
	ui_event_emit();
	return failed ? -1 : 0;
}

/* --- what the operator reads ----------------------------------------------- */

static char *spot_label(struct engine *E, const struct spot *s)
{
	char *t = step_title(E->plan, s->ps);
	bool local = !strcmp(s->host->name, "local") && s->ps->nhosts <= 1;
	char *r = xasprintf("step %d (%s)%s%s%s%s", s->ps->number, s->ps->id, strcmp(t, s->ps->id) ? " " : "",
			    strcmp(t, s->ps->id) ? t : "", local ? "" : " @", local ? "" : s->host->name);
	free(t);
	return r;
}

void rollback_report(struct engine *E)
{
	struct rollback *R = E->rb;
	struct plan *p = E->plan;
	int undone = 0, not_undone = 0;
	const struct comp *bad = NULL, *stopped = NULL;
	for (size_t i = 0; i < R->n; i++) {
		undone += !strncmp(R->v[i].status, "undone", 6);
		not_undone += !strcmp(R->v[i].status, "not undone");
		if (!strcmp(R->v[i].status, "undo failed"))
			bad = &R->v[i];
		if (!strcmp(R->v[i].status, "interrupted") || !strcmp(R->v[i].status, "paused"))
			stopped = &R->v[i];
	}
	if (R->empty)
		printf("  nothing was undone: no completed step has an undo");
	else
		printf("  rollback: %d undone%s", undone, bad ? ", 1 undo failed" : "");
	if (stopped)
		printf(", 1 %s", stopped->status);
	if (not_undone)
		printf(", %d not undone", not_undone);
	if (R->nbare)
		printf(", %zu not compensated (no undo)", R->nbare);
	if (R->nunsure)
		printf(", %zu interrupted (unknown)", R->nunsure);
	putchar('\n');
	if (bad) {
		char *l = unit_label(p, bad->unit, bad->host);
		printf("  %sROLLBACK FAILED \xe2\x80\x94 needs a human:%s\n", ui_c("fail"), ui_c("reset"));
		printf("    undo failed:      %s: %s\n", l, bad->why);
		if (bad->log)
			printf("                      log: %s\n", bad->log);
		free(l);
		for (size_t i = 0; i < R->n; i++)
			if (!strcmp(R->v[i].status, "not undone")) {
				char *u = unit_label(p, R->v[i].unit, R->v[i].host);
				printf("    not undone:       %s\n", u);
				free(u);
			}
		for (size_t i = R->n; i-- > 0;)
			if (!strncmp(R->v[i].status, "undone", 6)) {
				char *u = unit_label(p, R->v[i].unit, R->v[i].host);
				printf("    undone:           %s\n", u);
				free(u);
			}
	}
	for (size_t k = 0; k < R->nbare; k++) {
		char *s = spot_label(E, &R->bare[k]);
		printf("    not compensated:  %s (%s)\n", s,
		       R->bare[k].outside ? "done outside its group's hosts, where the group's undo does not run"
					  : "it has no undo");
		free(s);
	}
	for (size_t k = 0; k < R->nunsure; k++) {
		char *s = spot_label(E, &R->unsure[k]);
		printf("    check by hand:    %s was interrupted and has no check: whether it took effect is unknown\n", s);
		free(s);
	}
	const struct summary_row *fr = E->failed_step && E->failed_host ? engine_row(E, E->failed_step, E->failed_host)
									 : NULL;
	if (fr && E->failed_step->number && (!fr->undo || strncmp(fr->undo, "undone", 6))) {
		struct spot s = {E->failed_step, E->failed_host, false};
		char *l = spot_label(E, &s);
		printf("    check by hand:    %s failed and is not compensated: see that it left nothing half done\n", l);
		free(l);
	}
	if (bad) {
		char *l = unit_label(p, bad->unit, bad->host);
		printf("  then '%srunbook resume %s%s' (or 'runbook rollback %s') retries the undo of %s and goes on "
		       "with the rest\n", ui_c("bold"), p->run_id, ui_c("reset"), p->run_id, l);
		free(l);
	}
}

void rollback_free(struct engine *E)
{
	struct rollback *R = E->rb;
	if (!R)
		return;
	for (size_t i = 0; i < R->n; i++) {
		free(R->v[i].why);
		free(R->v[i].log);
	}
	free(R->v);
	free(R->bare);
	free(R->unsure);
	free(R);
	E->rb = NULL;
}

const struct pstep *plan_undo_step(const struct plan *p, const char *id)
{
	for (size_t i = 0; i < p->nsteps; i++)
		for (size_t k = 0; k < p->steps[i].nundo; k++)
			if (!strcmp(p->steps[i].undo[k].id, id))
				return &p->steps[i].undo[k];
	return NULL;
}

/* --- before `runbook rollback` asks --------------------------------------- */

/* The undo_values a completed step recorded for its unit's undo. */
static const struct jv *recorded_values(struct plan *p, const struct run_state *rs, const struct pstep *u,
					const struct host *h)
{
	const struct jv *vals = NULL;
	size_t at = (size_t)(u - p->steps), last = step_is_header(u->st) ? at + u->span : at;
	for (size_t k = at; k <= last; k++)
		for (size_t hk = 0; p->steps[k].number && hk < p->steps[k].nhosts; hk++) {
			const struct step_state *s = run_state_step(rs, p->steps[k].id, p->steps[k].hosts[hk]->name);
			const struct jv *v = s && s->end ? jv_get(s->end, "undo_values") : NULL;
			if (v && v->t == JV_OBJ && (p->steps[k].hosts[hk] == h || !vals))
				vals = v;
		}
	return vals;
}

/* The undo's own steps, as they will run: rendered with the values of
 * the step's time (masked), or as written when a value is not known yet. */
static void preview_undo(struct sbuf *out, struct plan *p, const struct run_state *rs, const struct pstep *u,
			 struct host *h)
{
	const struct jv *vals = recorded_values(p, rs, u, h);
	struct binding *then = xcalloc(vals ? vals->n + 1 : 1, sizeof(*then));
	size_t nthen = 0;
	for (size_t i = 0; vals && i < vals->n; i++)
		if (vals->v[i].t == JV_STR)
			then[nthen++] = (struct binding){vals->k[i], vals->v[i].s, false, false};
	for (size_t i = 0; i < u->nundo; i++) {
		const struct pstep *x = &u->undo[i];
		const struct step *st = x->st;
		if (x->depth > 1)
			continue; /* inside a module call of the undo */
		if (st->kind->action == ACT_USES) {
			sbuf_addf(out, "        uses %s.%s\n", st->mod, st->action);
			continue;
		}
		if (!st->text)
			continue;
		struct lookup lk = {.plan = p, .scope = x->scope, .host = h, .then = then, .nthen = nthen};
		struct sbuf sb = {0};
		const char *bad;
		if (tmpl_render(st->text, plan_lookup, &lk, RENDER_MASK, &sb, &bad) < 0) {
			sbuf_reset(&sb);
			sbuf_adds(&sb, st->text->src);
		}
		lookup_release(&lk);
		const char *t = sbuf_str(&sb);
		size_t n = strcspn(t, "\n");
		sbuf_addf(out, "        %s%.*s%s\n", st->kind->action == ACT_RUN ? "$ " : "", (int)(n > 100 ? 100 : n), t,
			  n > 100 || t[n] ? " ..." : "");
		sbuf_release(&sb);
	}
	free(then);
}

int rollback_preview(struct plan *p, const struct run_state *rs, struct sbuf *out)
{
	int n = 0;
	struct sbuf tmp = {0};
	for (size_t i = p->nsteps; i-- > 0;) {
		struct pstep *ps = &p->steps[i];
		if (ps->unit != ps)
			continue;
		size_t last = step_is_header(ps->st) ? i + ps->span : i;
		for (size_t h = ps->nhosts; h-- > 0;) {
			/* as the rollback will decide (collect, restore_forward):
			 * a step done on this host, or one interrupted whose check
			 * will say whether it took effect */
			bool done = false, maybe = false;
			for (size_t k = i; k <= last; k++)
				for (size_t hk = 0; p->steps[k].number && hk < p->steps[k].nhosts; hk++) {
					if (p->steps[k].hosts[hk] != ps->hosts[h])
						continue;
					const struct step_state *s = run_state_step(rs, p->steps[k].id, ps->hosts[h]->name);
					done |= s && !strcmp(s->status, "ok");
					maybe |= s && p->steps[k].st->kind->action == ACT_RUN && p->steps[k].st->check &&
						 (!strcmp(s->status, "started") || !strcmp(s->status, "interrupted"));
				}
			if (!done && !maybe)
				continue;
			n++;
			if (!out)
				continue; /* only counting: nothing to render */
			bool earlier = done_earlier(rs, ps, ps->hosts[h]);
			char *label = unit_label(p, ps, ps->hosts[h]);
			sbuf_addf(&tmp, "    undo %s%s\n", label,
				  earlier ? " (undone earlier)" : !done ? " (a step was interrupted: its check decides)" : "");
			free(label);
			if (!earlier)
				preview_undo(&tmp, p, rs, ps, ps->hosts[h]);
		}
	}
	if (out && !n)
		sbuf_adds(out, "    nothing: no completed step has an undo\n");
	else if (out)
		sbuf_add(out, tmp.buf, tmp.len);
	sbuf_release(&tmp);
	return n;
}
