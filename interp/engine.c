/* engine.c — the walk over a plan: preconditions (all of them, any failure
 * is exit 5 and nothing else runs), then the steps in order, then finally.
 * Each leaf runs on each of its hosts with retries; groups and module
 * calls are headers whose condition covers everything beneath them. */
#include "engine.h"

#include "co.h"
#include "ssh.h"
#include "template.h"

#include "rundir.h"
#include "sig.h"
#include "steps.h"
#include "ui.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void exec_started(void *ctx, long pgid);

/* --- effective modifiers: the step's own, else the nearest enclosing --- */

static bool has_timeout(const struct step *s);

static const struct step *nearest(const struct pstep *ps, bool (*has)(const struct step *), struct scope **scope)
{
	if (has(ps->st)) {
		*scope = ps->scope;
		return ps->st;
	}
	for (size_t i = ps->nouter; i-- > 0;)
		if (has(ps->outer[i].st) && !(has == has_timeout && ps->outer[i].skip_timeout)) {
			*scope = ps->outer[i].scope;
			return ps->outer[i].st;
		}
	return NULL;
}

static bool has_sudo(const struct step *s) { return s->sudo_set; }
static bool has_cwd(const struct step *s) { return s->cwd != NULL; }
static bool has_timeout(const struct step *s) { return s->timeout_ms > 0; }
static bool has_parallel(const struct step *s) { return s->parallel > 0; }

const struct step *pstep_nearest(const struct pstep *ps, enum nearest_what what, struct scope **scope)
{
	static bool (*const has[])(const struct step *) = {has_sudo, has_cwd, has_timeout, has_parallel};
	return nearest(ps, has[what], scope);
}

static char *render_in(struct step_exec *x, struct scope *scope, const struct tmpl *t, int flags)
{
	struct lookup lk = {.plan = x->eng->plan, .scope = scope, .host = x->host};
	if (scope == x->lk.scope) {
		lk.then = x->lk.then;
		lk.nthen = x->lk.nthen;
	}
	struct sbuf sb = {0};
	const char *bad;
	int rc = tmpl_render(t, plan_lookup, &lk, flags, &sb, &bad);
	lookup_release(&lk);
	if (rc < 0) {
		if (!x->why)
			x->why = xasprintf("'%s' has no value here (a skipped step, or a capture that was not made or not kept)", bad);
		sbuf_release(&sb);
		return NULL;
	}
	/* Anything rendered for display is masked twice over: secret params
	 * show as ***, and a secret that reached a value another way (a
	 * capture of output that printed it) is masked by value. */
	if ((flags & RENDER_MASK) && x->eng->plan->nsecrets) {
		char *m = mask_secrets(x->eng->plan, sbuf_str(&sb), sb.len, NULL);
		sbuf_release(&sb);
		return m;
	}
	return sbuf_detach(&sb);
}

char *exec_cwd(struct step_exec *x)
{
	struct scope *sc;
	const struct step *s = nearest(x->ps, has_cwd, &sc);
	return s ? render_in(x, sc, s->cwd, 0) : NULL;
}

char *exec_render(struct step_exec *x, const struct tmpl *t, int flags)
{
	return render_in(x, x->lk.scope, t, flags);
}

static long long effective_timeout(const struct pstep *ps)
{
	struct scope *sc;
	const struct step *s = nearest(ps, has_timeout, &sc);
	return s ? s->timeout_ms : 0;
}

bool exec_uses_sudo(const struct step_exec *x)
{
	struct scope *sc;
	const struct step *s = nearest(x->ps, has_sudo, &sc);
	return s ? s->sudo : x->host->sudo;
}

struct transport *exec_transport(struct step_exec *x, char **why)
{
	/* SSH hosts were connected before the run; the local one opens here */
	struct rb_error err = {0};
	if (host_connect(x->host, &err) < 0)
		*why = xstrdup(err.n ? err.msgs[0] : "cannot connect");
	rb_error_release(&err);
	return x->host->tr;
}

int exec_command(struct step_exec *x, const char *cmd, struct exec_result *res)
{
	return exec_command_io(x, cmd, -1, NULL, res);
}

int exec_command_io(struct step_exec *x, const char *cmd, int in_fd, struct exec_sink *own, struct exec_result *res)
{
	struct pstep *ps = x->ps;
	struct host *h = x->host;
	char **env = NULL;
	size_t nenv = 0, cap = 0;
	int rc = -1;
	char *cwd = NULL, *sudo_user = NULL;
	memset(res, 0, sizeof(*res));
	/* every command knows its run and step — and a resume after runbook
	 * was killed finds a command that outlived it by these */
	VEC_PUSH(env, nenv, cap, xasprintf("RUNBOOK_RUN_ID=%s", x->eng->plan->run_id));
	VEC_PUSH(env, nenv, cap, xasprintf("RUNBOOK_STEP_ID=%s", ps->id));
	for (size_t i = 0; i < h->nenv; i++)
		VEC_PUSH(env, nenv, cap, xstrdup(h->env[i]));
	/* outer frames first, so the innermost setting wins */
	for (size_t f = 0; f <= ps->nouter; f++) {
		const struct step *s = f < ps->nouter ? ps->outer[f].st : ps->st;
		struct scope *sc = f < ps->nouter ? ps->outer[f].scope : ps->scope;
		for (size_t e = 0; e < s->nenv; e++) {
			char *v = render_in(x, sc, s->env[e].val, 0);
			if (!v)
				goto out;
			VEC_PUSH(env, nenv, cap, xasprintf("%s=%s", s->env[e].key, v));
			free(v);
		}
	}
	struct scope *sc;
	const struct step *s = nearest(ps, has_cwd, &sc);
	if (s && !(cwd = render_in(x, sc, s->cwd, 0)))
		goto out;
	bool sudo = exec_uses_sudo(x);
	s = nearest(ps, has_sudo, &sc);
	if (s) {
		if (s->sudo_user && !(sudo_user = render_in(x, sc, s->sudo_user, 0)))
			goto out;
		if (sudo_user && !valid_user_name(sudo_user)) {
			res->rc = 127;
			res->error = xasprintf("invalid sudo user '%s'", sudo_user);
			rc = 0;
			goto out;
		}
	}
	struct exec_req req = {
		.cmd = cmd,
		.env = env,
		.nenv = nenv,
		.cwd = cwd,
		.sudo = sudo,
		.sudo_user = sudo_user,
		.timeout_ms = effective_timeout(ps),
		.grace_ms = x->eng->opt.grace_ms,
		.in_fd = in_fd,
	};
	char *why = NULL;
	if (!exec_transport(x, &why)) {
		res->rc = 127;
		res->error = why;
		rc = 0;
		goto out;
	}
	x->timeout_ms = req.timeout_ms;
	struct exec_sink sink = {stepio_data, x, exec_started, NULL};
	rc = h->tr->ops->exec(h->tr, &req, own ? own : &sink, res);
out:
	if (rc < 0 && !res->error) {
		res->rc = 127;
		res->error = xstrdup(x->why ? x->why : "cannot prepare the command");
	}
	for (size_t i = 0; i < nenv; i++)
		free(env[i]);
	free(env);
	free(cwd);
	free(sudo_user);
	return 0;
}

/* --- summary rows -------------------------------------------------------- */

char *step_title(struct plan *p, const struct pstep *ps)
{
	const struct step *st = ps->st;
	if (st->name)
		return xstrdup(st->name);
	if (step_is_header(st)) {
		if (st->kind->action == ACT_USES)
			return xasprintf("%s.%s", st->mod, st->action);
		struct lookup lk = {.plan = p, .scope = ps->scope};
		struct sbuf sb = {0};
		const char *bad;
		if (tmpl_render(st->text, plan_lookup, &lk, RENDER_MASK, &sb, &bad) < 0)
			sbuf_adds(&sb, st->text->src);
		lookup_release(&lk);
		return sbuf_detach(&sb);
	}
	if (st->id_given)
		return xstrdup(st->id);
	if (st->kind->action == ACT_CONFIRM)
		return xstrdup("confirm");
	if (st->kind->action == ACT_NOTE)
		return xstrdup("note");
	if (st->kind->action == ACT_TRANSFER)
		return transfer_describe(st, NULL, NULL);
	/* the command's first line, shortened, with the values it reads
	 * when they are known (secrets masked) */
	char *shown = NULL;
	if (st->text) {
		struct lookup lk = {.plan = p, .scope = ps->scope};
		struct sbuf sb = {0};
		const char *bad;
		if (tmpl_render(st->text, plan_lookup, &lk, RENDER_MASK, &sb, &bad) == 0)
			shown = sbuf_detach(&sb);
		sbuf_release(&sb);
		lookup_release(&lk);
	}
	const char *src = shown ? shown : st->text ? st->text->src : st->id;
	size_t n = strcspn(src, "\n");
	char *title = n > 60 ? xasprintf("%.57s...", src) : xstrndup(src, n);
	free(shown);
	return title;
}

static void add_rows(struct engine *E, struct pstep *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct pstep *ps = &v[i];
		ps->row = E->nrows;
		bool header = step_is_header(ps->st);
		if (header)
			continue;
		for (size_t h = 0; h < ps->nhosts; h++) {
			struct summary_row r = {xstrdup(ps->id), step_title(E->plan, ps),
						ps->nhosts > 1 ? xstrdup(ps->hosts[h]->name) : NULL, "not run", -1,
						ps->depth, NULL};
			VEC_PUSH(E->rows, E->nrows, E->rowcap, r);
		}
	}
}

/* --- running one leaf on one host ---------------------------------------- */

/* Sleeps ms unless a signal interrupts: 0, or -1 when interrupted. */
static int pause_ms(long long ms)
{
	long long end = now_ms() + ms;
	for (;;) {
		if (sig_interrupted())
			return -1;
		long long left = end - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd pf = {sig_fd(), POLLIN, 0};
		if (co_poll(&pf, 1, left > 1000 ? 1000 : (int)left) > 0)
			sig_drain();
	}
}

static void store_results(struct step_exec *x, bool ran)
{
	struct pstep *ps = x->ps;
	char rcbuf[16];
	snprintf(rcbuf, sizeof(rcbuf), "%d", x->rc);
	/* the step's own id, and every group/module header around it */
	for (size_t f = 0; f <= ps->nouter; f++) {
		const struct step *s = f < ps->nouter ? ps->outer[f].st : ps->st;
		struct scope *sc = f < ps->nouter ? ps->outer[f].scope : ps->scope;
		struct result *r = scope_result(sc, s->id);
		free(r->rc);
		free(r->out);
		free(r->err);
		r->rc = xstrdup(ran ? rcbuf : "");
		for (int i = 0; i < 2; i++) {
			struct sbuf *k = &x->out[i].keep;
			size_t len = k->len;
			while (len && k->buf[len - 1] == '\n')
				len--;
			/* output recorded masked (it held a secret) is not brought
			 * back: reading it fails clearly rather than give "***" */
			char *v = x->out_lost[i] ? NULL : ran && k->buf ? xstrndup(k->buf, len) : xstrdup("");
			if (i == 0)
				r->out = v;
			else
				r->err = v;
		}
	}
	if (!ran || !x->cap_val)
		return;
	for (size_t i = 0; i < x->st->ncaps; i++)
		if (x->cap_val[i])
			scope_set(ps->scope, x->st->caps[i].name, x->cap_val[i], false);
}

/* An undo reads the values of its step's time where it renders in that
 * step's scope (a module call in an undo has its own). */
static void lookup_then(struct lookup *lk, const struct undo_ctx *uc)
{
	if (uc && lk->scope == uc->unit->scope) {
		lk->then = uc->then;
		lk->nthen = uc->nthen;
	}
}

/* Prepares x to run ps on host h (logs not yet opened). */
static void step_exec_init(struct step_exec *x, struct engine *E, struct pstep *ps, struct host *h,
			   const struct undo_ctx *uc)
{
	memset(x, 0, sizeof(*x));
	x->eng = E;
	x->ps = ps;
	x->st = ps->st;
	x->host = h;
	x->uc = uc;
	x->lk = (struct lookup){.plan = E->plan, .scope = ps->scope, .host = h};
	lookup_then(&x->lk, uc);
	x->number = ps->number;
	x->total = E->plan->nleaves;
	x->depth = ps->depth;
	x->logfd = -1;
	x->show_output = true;
	x->matching = true;
}

/* Frees everything x holds; x can be initialised again afterwards. */
static void step_exec_release(struct step_exec *x)
{
	stepio_release(x);
	for (int i = 0; i < 2; i++) {
		sbuf_release(&x->out[i].line);
		sbuf_release(&x->out[i].keep);
	}
	sbuf_release(&x->logbuf);
	lookup_release(&x->lk);
	if (x->logfd >= 0)
		close(x->logfd);
	x->logfd = -1;
	free(x->logpath);
	free(x->why);
	x->logpath = x->why = NULL;
}

/* --- the journal ------------------------------------------------------- */

struct json *engine_rec(struct engine *E, const char *event, const struct pstep *ps, const char *host)
{
	struct json *j = journal_begin(E->opt.jn, event);
	if (ps)
		json_kstr(j, "step", ps->id);
	if (host)
		json_kstr(j, "host", host);
	return j;
}

/* Commits the record.  A journal that cannot be written stops the run:
 * going on would do things no resume could know about. */
bool engine_commit(struct engine *E, bool sync)
{
	if (journal_commit(E->opt.jn, sync) == 0)
		return true;
	if (!E->jfail) {
		E->jfail = xasprintf("cannot write the journal %s: %s", E->opt.jn->path, strerror(E->opt.jn->error));
		ui_error("%s; stopping here (the run can be resumed once it is writable)", E->jfail);
	}
	return false;
}

/* An undo's records and events name what it compensates, and where. */
static void add_compensated(struct json *j, const struct undo_ctx *uc)
{
	if (uc) {
		json_kstr(j, "of", uc->unit->id);
		json_kstr(j, "for", uc->host->name);
	}
}

/* Starts a record about the leaf x runs: step_WHAT, or undo_WHAT. */
static struct json *rec_leaf(struct step_exec *x, const char *what)
{
	char ev[24];
	snprintf(ev, sizeof(ev), "%s_%s", x->uc ? "undo" : "step", what);
	struct json *j = engine_rec(x->eng, ev, x->ps, x->host->name);
	add_compensated(j, x->uc);
	return j;
}

/* The same for --events. */
static struct json *event_leaf(struct step_exec *x, const char *what)
{
	char ev[24];
	snprintf(ev, sizeof(ev), "%s_%s", x->uc ? "undo" : "step", what);
	struct json *j = ui_event_begin(ev);
	json_kstr(j, "run", x->eng->plan->run_id);
	json_kstr(j, "step", x->ps->id);
	json_kstr(j, "host", x->host->name);
	add_compensated(j, x->uc);
	return j;
}

int exec_record(struct step_exec *x, const char *event, const char *key, const char *val)
{
	struct json *j = engine_rec(x->eng, event, x->ps, x->host->name);
	add_compensated(j, x->uc);
	json_kstr(j, key, val);
	if (engine_commit(x->eng, true))
		return 0;
	if (!x->why)
		x->why = xstrdup(x->eng->jfail);
	return -1;
}

/* The action's process group, as soon as it exists (not synced: see
 * journal.h). */
static void exec_started(void *ctx, long pgid)
{
	struct step_exec *x = ctx;
	if (!x->matching)
		return;
	struct json *j = rec_leaf(x, "pid");
	json_kint(j, "pgid", pgid);
	engine_commit(x->eng, false);
}

/* Adds key: s[0..n) to j with every secret masked (s[n] is NUL whenever
 * the run has no secret).  True when masking changed the value. */
static bool add_masked(struct engine *E, struct json *j, const char *key, const char *s, size_t n)
{
	if (!E->plan->nsecrets) {
		json_kstr(j, key, s); /* nothing to mask: no copy on every step */
		return false;
	}
	char *m = mask_secrets(E->plan, s, n, NULL);
	json_kstr(j, key, m);
	bool changed = strlen(m) != n || memcmp(m, s, n);
	free(m);
	return changed;
}

static void rec_step_end(struct step_exec *x, const char *status, long long ms, const char *settled)
{
	struct engine *E = x->eng;
	const struct step *st = x->st;
	struct json *j = rec_leaf(x, "end");
	json_kstr(j, "status", status);
	json_kint(j, "rc", x->rc);
	json_kint(j, "attempts", x->attempt > st->attempts ? st->attempts : x->attempt);
	json_kint(j, "duration_ms", ms);
	if (settled)
		json_kstr(j, "settled", settled);
	if (x->why)
		json_kstr(j, "reason", x->why);
	if (x->unstarted)
		json_kbool(j, "not_started", true);
	/* what later steps may read: steps.ID.stdout/stderr and captures;
	 * what held a secret is listed, so that resume does not restore it */
	struct json lost = {0};
	json_begin_array(&lost);
	for (int i = 0; i < 2; i++) {
		struct sbuf *k = &x->out[i].keep;
		size_t len = k->len;
		/* the 64 KiB cut may fall inside a secret: what a mask cannot
		 * recognise is not written */
		if (x->out[i].kept_all && E->plan->max_secret > 1)
			len -= len < E->plan->max_secret - 1 ? len : E->plan->max_secret - 1;
		if (len && add_masked(E, j, i ? "stderr" : "stdout", k->buf, len))
			json_add_str(&lost, i ? "stderr" : "stdout");
	}
	if (!lost.first)
		json_kraw(j, "masked_output", json_end(&lost));
	json_release(&lost);
	if (x->cap_val && st->ncaps) {
		struct json c = {.exact = true}, masked = {0};
		json_begin(&c);
		json_begin_array(&masked);
		for (size_t i = 0; i < st->ncaps; i++)
			if (x->cap_val[i] && add_masked(E, &c, st->caps[i].name, x->cap_val[i], strlen(x->cap_val[i])))
				json_add_str(&masked, st->caps[i].name);
		json_kraw(j, "captures", json_end(&c));
		if (!masked.first)
			json_kraw(j, "masked", json_end(&masked));
		json_release(&c);
		json_release(&masked);
	}
	/* what its undo will read, as it is now */
	if (!x->uc && x->ps->unit && !strcmp(status, "ok"))
		snapshot_take(E, x->ps, x->host, j);
	engine_commit(E, true);
}

static struct step_state *prior_of(struct engine *E, const struct step_exec *x, int phase)
{
	if (!E->opt.prior)
		return NULL;
	if (phase == 2 && !E->fin_carry)
		return NULL;
	if (x->uc)
		return run_state_undo(E->opt.prior, x->ps->id, x->host->name, x->uc->host->name);
	return run_state_step(E->opt.prior, x->ps->id, x->host->name);
}

/* Fills x's results (rc, kept output, captures) from a step_end record,
 * as if the attempt had just run.  A capture recorded masked (it held a
 * secret) is left unset: a step reading it fails clearly rather than use
 * "***". */
static void restore_results(struct step_exec *x, const struct jv *end)
{
	const struct step *st = x->st;
	for (int i = 0; i < 2; i++) {
		const char *o = jv_str(end, i ? "stderr" : "stdout");
		sbuf_reset(&x->out[i].keep);
		if (o)
			sbuf_adds(&x->out[i].keep, o);
	}
	const struct jv *lost = jv_get(end, "masked_output");
	for (size_t k = 0; lost && lost->t == JV_ARR && k < lost->n; k++)
		if (lost->v[k].t == JV_STR)
			x->out_lost[strcmp(lost->v[k].s, "stdout") ? 1 : 0] = true;
	const struct jv *caps = jv_get(end, "captures");
	const struct jv *masked = jv_get(end, "masked");
	if (!x->cap_val)
		x->cap_val = xcalloc(st->ncaps + 1, sizeof(*x->cap_val));
	for (size_t i = 0; i < st->ncaps; i++) {
		const char *v = jv_str(caps, st->caps[i].name);
		bool was_masked = false;
		for (size_t k = 0; masked && masked->t == JV_ARR && k < masked->n; k++)
			if (masked->v[k].t == JV_STR && !strcmp(masked->v[k].s, st->caps[i].name))
				was_masked = true;
		free(x->cap_val[i]);
		x->cap_val[i] = v && !was_masked ? xstrdup(v) : NULL;
	}
}

/* A step done before the resume: its results and captures come back from
 * its step_end record, nothing runs. */
static void bring_back(struct step_exec *x, const struct step_state *was)
{
	bool skipped = !strcmp(was->status, "skipped");
	if (!skipped) {
		x->rc = was->rc;
		restore_results(x, was->end);
		if (!x->uc && x->ps->unit && !strcmp(was->status, "ok"))
			snapshot_restore(x->eng, x->ps, x->host, was->end);
	}
	store_results(x, !skipped);
}

static const char *leaf_earlier(struct step_exec *x, const struct step_state *was, const char *title,
				const char *hostname, struct summary_row *row)
{
	bool skipped = !strcmp(was->status, "skipped");
	bring_back(x, was);
	const char *status = skipped ? "skipped" : was->status;
	char *detail = xasprintf("%s earlier%s%s", skipped ? "skipped" : "done", was->settled ? ", settled by " : "",
				 was->settled ? (!strcmp(was->settled, "check") ? "its check" : "the operator") : "");
	ui_step_end(x->number, x->total, title, hostname, status, skipped ? -1 : was->ms, detail, x->depth);
	free(detail);
	if (row) {
		row->status = status;
		row->ms = skipped ? -1 : was->ms;
	}
	return status;
}

/* A step settled as done without running again: it counts as succeeded
 * (rc 0), with whatever output and captures an "interrupted" step_end
 * recorded (SIGINT); after a SIGKILL there is none.  Says which captures
 * are lost, since later steps reading them will fail. */
static void settled_results(struct step_exec *x, const struct step_state *was)
{
	const struct step *st = x->st;
	x->rc = 0;
	if (was->end)
		restore_results(x, was->end);
	struct sbuf lost = {0};
	for (size_t i = 0; i < st->ncaps; i++)
		if (!x->cap_val || !x->cap_val[i])
			sbuf_addf(&lost, "%s%s", lost.len ? ", " : "", st->caps[i].name);
	if (lost.len)
		ui_note(x->depth, "warning", "its captures were never recorded (%s): steps that read them will fail",
			sbuf_str(&lost));
	sbuf_release(&lost);
}

/* Waits for a command that outlived the runbook process that started it
 * (runbook was killed, its step was not).  0, or -1 when interrupted. */
/* On an SSH host: is a process carrying the run's and step's tags
 * (exported by the command wrapper) still there?  Read as the login user:
 * under sudo another user's environment cannot be read, and the wait is
 * skipped. */
static bool remote_running(struct step_exec *x, const struct run_state *rs, const char *step, long long pgid)
{
	struct transport *t = x->host->tr;
	if (!t || ssh_lost(t))
		return false;
	struct sbuf cmd = {0};
	char *tag1 = xasprintf("RUNBOOK_RUN_ID=%s", rs->run_id), *tag2 = xasprintf("RUNBOOK_STEP_ID=%s", step);
	sbuf_adds(&cmd, "for f in /proc/[0-9]*/environ; do grep -qzxF -e ");
	shell_quote_word(&cmd, tag1);
	sbuf_adds(&cmd, " \"$f\" 2>/dev/null && grep -qzxF -e ");
	shell_quote_word(&cmd, tag2);
	sbuf_adds(&cmd, " \"$f\" 2>/dev/null || continue; ");
	/* in the command's process group: a daemon it started (setsid)
	 * carries the tags too, and outlives it */
	if (pgid > 1)
		sbuf_addf(&cmd, "set -- $(sed 's/^.*) //' \"${f%%/environ}/stat\" 2>/dev/null); [ \"$3\" = %lld ] || "
				"continue; ",
			  pgid);
	sbuf_adds(&cmd, "exit 0; done; exit 1");
	char *out = NULL, *why = NULL;
	int rc = -1;
	bool live = ssh_capture(t, sbuf_str(&cmd), &out, &rc, &why) == 0 && rc == 0;
	free(out);
	free(why);
	free(tag1);
	free(tag2);
	sbuf_release(&cmd);
	return live;
}

static bool orphan_running(struct step_exec *x, const struct run_state *rs, const struct step_state *was)
{
	return x->host->local ? step_running(rs, was->id, was->pgid) : remote_running(x, rs, was->id, was->pgid);
}

static int wait_orphan(struct step_exec *x, const struct step_state *was)
{
	const struct run_state *rs = x->eng->opt.prior;
	if (!orphan_running(x, rs, was))
		return 0;
	ui_note(x->depth, "wait", "the command this step started before the run stopped is still running%s%s: "
				  "waiting for it to end before deciding whether it took effect",
		x->host->local ? "" : " on ", x->host->local ? "" : x->host->name);
	while (orphan_running(x, rs, was))
		if (pause_ms(x->host->local ? 100 : 1000) < 0)
			return -1;
	return 0;
}

/* A host whose connection was lost after its last command ended (it
 * rebooted) is connected again before the next attempt runs anything on
 * it.  0, or -1 with x->why: a failed attempt, retried like any other
 * (`retry` is how a step waits for a host to come back); when it was the
 * last one the step stops as interrupted by the lost connection. */
static int reconnect(struct step_exec *x, bool last)
{
	struct host *h = x->host;
	if (h->local || !h->tr || !ssh_lost(h->tr))
		return 0;
	char *why = NULL;
	if (ssh_reconnect(h->tr, &why) == 0) {
		ui_note(x->depth, "ssh", "connected to %s again", h->name);
		stepio_log(x, "# connected to %s again\n", h->name);
		if (x->eng->opt.reconnected)
			x->eng->opt.reconnected(x->eng->opt.reconnected_ctx, h);
		return 0;
	}
	x->why = xasprintf("lost the connection to host '%s', and connecting again failed: %s", h->name, why);
	free(why);
	if (last)
		x->interrupted = x->lost = x->unstarted = true;
	return -1;
}

enum settle { SETTLE_RUN, SETTLE_DONE, SETTLE_STOP };

/* An interrupted command step: did it take effect?  Its check decides;
 * without one, --rerun-interrupted or the operator does. */
static enum settle settle(struct step_exec *x, const struct step_state *was, const char *title,
			  const char *hostname)
{
	struct engine *E = x->eng;
	const struct step *st = x->st;
	if (wait_orphan(x, was) < 0) {
		x->interrupted = true;
		x->why = xstrdup("interrupted while waiting for the earlier command");
		return SETTLE_STOP;
	}
	x->attempt = was->attempts > 0 ? was->attempts : 1;
	if (was->end && jv_bool(was->end, "not_started")) {
		ui_note(x->depth, "settled", "[%d/%d] %s never started (its host could not be reached): running it",
			x->number, x->total, title);
		return SETTLE_RUN;
	}
	if (!st->check && step_runs_again_safely(st)) {
		ui_note(x->depth, "settled", "[%d/%d] %s was interrupted: running it again (%s%s can safely run twice)",
			x->number, x->total, title, st->kind->rerun ? "a " : "it only reads: it",
			st->kind->rerun ? st->kind->key : "");
		return SETTLE_RUN;
	}
	if (st->check) {
		x->show_output = ui_verbosity() > 0;
		int ok = step_check(x);
		x->show_output = true;
		if (x->interrupted)
			return SETTLE_STOP;
		if (ok == 0) {
			ui_note(x->depth, "settled", "[%d/%d] %s was interrupted; its check passes: done, not run again",
				x->number, x->total, title);
			return SETTLE_DONE;
		}
		ui_note(x->depth, "settled", "[%d/%d] %s was interrupted; its check fails (%s): running it again",
			x->number, x->total, title, x->why);
		free(x->why);
		x->why = NULL;
		return SETTLE_RUN;
	}
	if (E->opt.rerun_interrupted) {
		ui_note(x->depth, "settled", "[%d/%d] %s was interrupted and has no check: running it again "
					     "(--rerun-interrupted)", x->number, x->total, title);
		return SETTLE_RUN;
	}
	/* resume refused up front when no terminal can ask */
	ui_note(x->depth, "interrupted", "[%d/%d] %s%s%s was interrupted, and has no check to tell whether it "
					 "took effect (see its log: logs/)", x->number, x->total, title,
		hostname ? " @" : "", hostname ? hostname : "");
	printf("%*s%sRun it again [r], take it as done [d], or stop here [s]? %s", 2 * (x->depth + 1), "",
	       ui_c("bold"), ui_c("reset"));
	fflush(stdout);
	char ans[64];
	if (ui_read_answer(ans, sizeof(ans)) < 0) {
		x->interrupted = sig_interrupted() != 0;
		x->paused = !x->interrupted;
		E->settle_paused = x->paused;
		x->why = xstrdup("no answer about the interrupted step");
		return SETTLE_STOP;
	}
	if (!strcmp(ans, "r") || !strcmp(ans, "R"))
		return SETTLE_RUN;
	if (!strcmp(ans, "d") || !strcmp(ans, "D"))
		return SETTLE_DONE;
	x->paused = true;
	E->settle_paused = true;
	x->why = xstrdup("the operator stopped at the interrupted step");
	return SETTLE_STOP;
}

/* Remembers where the run failed: the forward step (what a rollback
 * starts from), or the undo that stopped a rollback, with its reason
 * (already masked) and log. */
static void note_failure(struct step_exec *x, int phase)
{
	struct engine *E = x->eng;
	if (x->uc) {
		free(E->undo_why);
		free(E->undo_log);
		E->undo_why = x->why ? xstrdup(x->why) : NULL;
		E->undo_log = x->logpath ? xstrdup(x->logpath) : NULL;
	} else if (phase == 1 && !E->failed_step) {
		E->failed_step = x->ps;
		E->failed_host = x->host;
	}
}

/* `plan --check` hears of every outcome of a precondition or probe. */
static void tell(struct engine *E, const struct pstep *ps, const struct host *h, const char *status,
		 const char *why)
{
	if (E->opt.seen)
		E->opt.seen(E->opt.seen_ctx, ps, h, status, why);
}

/* Runs one leaf on host h: a forward or finally step (uc NULL, its
 * summary row given), or a step of an undo (uc set, no row). */
static const char *run_leaf(struct engine *E, struct pstep *ps, struct host *h, struct summary_row *row,
			    const char *title, int phase, const struct undo_ctx *uc)
{
	struct plan *p = E->plan;
	const struct step *st = ps->st;
	struct step_exec x;
	step_exec_init(&x, E, ps, h, uc);
	bool many = ps->nhosts > 1 || (uc && uc->unit->nhosts > 1);
	const char *hostname = many || strcmp(h->name, "local") ? h->name : NULL;
	if (uc) {
		x.number = ++E->undo_n;
		x.total = E->undo_total > E->undo_n ? E->undo_total : E->undo_n;
	}
	int number = x.number, total = x.total;
	const char *status;
	long long t0 = now_ms();
	bool settled_by_check = false;

	struct step_state *was = prior_of(E, &x, phase);
	if (step_state_done(was)) {
		status = leaf_earlier(&x, was, title, hostname, row);
		step_exec_release(&x);
		return status;
	}

	/* a step with a record passed its `when` back then: not decided again */
	if (st->when && !was) {
		const char *bad = NULL;
		int w = expr_eval(st->when, plan_lookup, &x.lk, &bad);
		lookup_release(&x.lk);
		if (w == 0) {
			char *why = xasprintf("when: %s", st->when_src);
			struct json *j = rec_leaf(&x, "skip");
			json_kstr(j, "reason", why);
			engine_commit(E, true);
			ui_step_end(number, total, title, hostname, "skipped", -1, why, ps->depth);
			tell(E, ps, h, "skipped", why);
			free(why);
			j = event_leaf(&x, "skip");
			json_kstr(j, "when", st->when_src);
			ui_event_emit();
			if (row)
				row->status = "skipped";
			store_results(&x, false);
			step_exec_release(&x);
			return "skipped";
		}
		if (w < 0) {
			x.why = xasprintf("'when' reads '%s', which has no value here", bad);
			struct json *j = rec_leaf(&x, "end");
			json_kstr(j, "status", "failed");
			json_kint(j, "rc", -1);
			json_kstr(j, "reason", x.why);
			engine_commit(E, true);
			ui_step_end(number, total, title, hostname, "failed", -1, x.why, ps->depth);
			if (row)
				row->status = "failed";
			note_failure(&x, phase);
			tell(E, ps, h, "failed", x.why);
			step_exec_release(&x);
			return "failed";
		}
	}

	if (p->run_dir[0] && !p->preview) {
		/* an undo with hosts of its own, for a step of several hosts:
		 * one log per host compensated */
		char *tag = uc && ps->own_hosts && uc->unit->nhosts > 1 ? xasprintf("%s.for-%s", h->name, uc->host->name)
									 : NULL;
		x.logfd = step_log_open(p->run_dir, ps->number, ps->id, tag ? tag : many ? h->name : NULL, &x.logpath);
		free(tag);
		if (x.logfd < 0)
			ui_note(ps->depth, "warning", "cannot write the step log %s: %s", x.logpath, strerror(errno));
		else if (E->opt.prior)
			stepio_log(&x, "# resumed by %s@%s, pid %ld\n", user_name(), machine_name(), (long)getpid());
	}

	/* interrupted before: settle it before anything else happens */
	int ok = -1;
	bool run_it = true;
	if (was && (!strcmp(was->status, "started") || !strcmp(was->status, "interrupted")) &&
	    st->kind->action == ACT_RUN) {
		enum settle how = settle(&x, was, title, hostname);
		if (how == SETTLE_DONE) {
			ok = 0;
			run_it = false;
			settled_by_check = st->check != NULL;
			settled_results(&x, was);
		} else if (how == SETTLE_STOP) {
			run_it = false;
		}
	}

	struct json *j = event_leaf(&x, "start");
	json_kint(j, "number", number);
	ui_event_emit();
	if ((st->kind->action == ACT_RUN || st->kind->action == ACT_TRANSFER) && run_it)
		ui_step_begin(number, total, title, hostname, ps->depth);

	long long delay = st->delay_ms;
	bool unrecorded = false;
	for (x.attempt = run_it ? 1 : x.attempt; run_it && x.attempt <= st->attempts; x.attempt++) {
		if (x.attempt > 1)
			stepio_log(&x, "# attempt %d of %d\n", x.attempt, st->attempts);
		free(x.why);
		x.why = NULL;
		x.rc = 0;
		/* durable before the command can have any effect */
		j = rec_leaf(&x, "start");
		json_kint(j, "attempt", x.attempt);
		json_kint(j, "number", number);
		if (!engine_commit(E, true)) {
			x.why = xstrdup(E->jfail);
			ok = -1;
			/* the first attempt never began; a later one follows an
			 * attempt that ran and failed */
			unrecorded = x.attempt == 1;
			break;
		}
		bool last = x.attempt == st->attempts;
		/* only what acts on the host needs its connection (a note on a
		 * host that is down must not stop a rollback) */
		bool on_host = st->kind->action == ACT_RUN || st->kind->action == ACT_TRANSFER;
		ok = !on_host || reconnect(&x, last) == 0 ? st->kind->run(&x) : -1;
		/* a step that only reads may run again whatever became of the
		 * attempt whose connection was lost */
		if (ok != 0 && x.lost && st->probe && !last && !sig_interrupted())
			x.interrupted = x.lost = false;
		if (ok == 0 || x.interrupted || x.paused || E->jfail || last)
			break;
		char d[32];
		format_duration(d, sizeof(d), delay);
		ui_note(ps->depth, "retry", "attempt %d of %d failed: %s \xe2\x80\x94 again in %s", x.attempt,
			st->attempts, x.why, d);
		stepio_release(&x);
		if (pause_ms(delay) < 0) {
			x.interrupted = true;
			free(x.why);
			x.why = xstrdup("interrupted while waiting to retry");
			break;
		}
		delay = (long long)((double)delay * st->backoff);
	}
	long long ms = now_ms() - t0;
	if (ok == 0)
		status = "ok";
	else if (unrecorded)
		status = "not run"; /* its first start could not be recorded */
	else if (x.interrupted)
		status = "interrupted";
	else if (x.paused)
		status = "paused";
	else if (st->allow_failure && !E->jfail)
		status = "failed (allowed)";
	else
		status = "failed";
	store_results(&x, run_it || ok == 0);
	if (x.why) {
		/* a reason may quote a path or value: never show a secret */
		char *m = mask_secrets(p, x.why, strlen(x.why), NULL);
		free(x.why);
		x.why = m;
	}
	/* durable before the next step can start; a journal that failed at
	 * step_start has nothing to close */
	if (!E->jfail && (run_it || ok == 0 || x.interrupted))
		rec_step_end(&x, status, ms,
			     !run_it && ok == 0 ? (settled_by_check ? "check" : "operator") : NULL);
	if (st->kind->action == ACT_RUN || st->kind->action == ACT_TRANSFER || ok != 0)
		ui_step_end(number, total, title, hostname, status, ms,
			    ok != 0 ? x.why : run_it ? NULL : settled_by_check ? "settled by its check" : "taken as done",
			    ps->depth);
	/* every matching diagnosis is shown: on failure as hints, else as notes */
	for (size_t i = 0; i < x.nhits; i++)
		ui_note(ps->depth, ok == 0 ? "note" : "hint", "%s", x.hits[i].hint);
	if (ok != 0 && x.logpath && !x.paused && !unrecorded)
		ui_note(ps->depth, "log", "%s", x.logpath);
	j = event_leaf(&x, "end");
	json_kstr(j, "status", status);
	json_kint(j, "rc", x.rc);
	json_kint(j, "attempts", x.attempt > st->attempts ? st->attempts : x.attempt);
	json_kint(j, "duration_ms", ms);
	if (x.why)
		json_kstr(j, "reason", x.why);
	ui_event_emit();
	if (row) {
		row->status = status;
		row->ms = ms;
	}
	if (x.paused)
		E->paused = true;
	if (x.interrupted)
		E->interrupted = true;
	if (x.lost && !E->lost)
		E->lost = xstrdup(x.why);
	if (x.paused && x.why)
		ui_error("paused at %s %d (%s): %s", uc ? "undo" : "step", number, ps->id, x.why);
	if (!strcmp(status, "failed"))
		note_failure(&x, phase);
	tell(E, ps, h, status, ok == 0 ? NULL : x.why);
	step_exec_release(&x);
	return status;
}

/* Binds a module call's arguments in its scope, checked against the
 * action's params.  0, or -1 with *why set (malloc'ed). */
static int enter_module(struct engine *E, struct pstep *ps, const struct lookup *from, char **why)
{
	const struct step *st = ps->st;
	struct scope *ms = ps->inner;
	const struct action_def *a = st->adef;
	struct lookup lk = *from;
	lk.tmp = NULL;
	int rc = 0;
	for (size_t i = 0; i < a->nparams && rc == 0; i++) {
		const struct param_def *d = &a->params[i];
		const struct kv *arg = NULL;
		for (size_t w = 0; w < st->nwith; w++)
			if (!strcmp(st->with[w].key, d->name))
				arg = &st->with[w];
		rc = module_arg_bind(E->plan, ms, d, arg, &lk, why);
	}
	lookup_release(&lk);
	return rc;
}

/* A group or module call not entered: its leaves are skipped, and
 * recorded so (not synced: the header's own record that follows is). */
static void skip_span(struct engine *E, struct pstep *v, size_t from, size_t span, const char *status)
{
	for (size_t k = from + 1; k <= from + span; k++)
		if (v[k].number)
			for (size_t h = 0; h < v[k].nhosts; h++) {
				E->rows[v[k].row + h].status = status;
				if (!strcmp(status, "skipped")) {
					struct json *j = engine_rec(E, "step_skip", &v[k], v[k].hosts[h]->name);
					json_kstr(j, "reason", "its group was skipped");
					engine_commit(E, false);
				}
			}
}

/* How a header's `when` and a module call's arguments are looked up:
 * with its first host, or for an undo the host compensated and the
 * values of the time. */
static struct lookup header_lookup(struct engine *E, const struct pstep *ps, const struct undo_ctx *uc)
{
	struct lookup lk = {.plan = E->plan, .scope = ps->scope, .host = ps->nhosts ? ps->hosts[0] : NULL};
	if (uc && !ps->own_hosts)
		lk.host = uc->host;
	lookup_then(&lk, uc);
	return lk;
}

static void probe_unchecked(struct engine *E, struct pstep *ps, struct host *h, const char *title, const char *why);

/* `plan --check`: a group or module call is entered when its `when`
 * holds and its arguments have values; else nothing under it is checked
 * (the preview says why).  Returns how many entries to skip. */
static size_t probe_header(struct engine *E, struct pstep *ps)
{
	struct lookup lk = header_lookup(E, ps, NULL);
	const char *bad = NULL;
	int w = ps->st->when ? expr_eval(ps->st->when, plan_lookup, &lk, &bad) : 1;
	char *why = NULL;
	if (w == 1 && ps->st->kind->action == ACT_USES && enter_module(E, ps, &lk, &why) < 0)
		w = -1;
	lookup_release(&lk);
	if (w != 1) {
		/* what a run decides when it gets there: its probes wait */
		char *reason = w == 0 ? xasprintf("its group is skipped (when: %s)", ps->st->when_src)
				      : why ? xasprintf("its module call is decided at run time (%s)", why)
					    : xasprintf("its group's when (%s) is decided at run time", ps->st->when_src);
		for (struct pstep *k = ps + 1; k <= ps + ps->span; k++)
			if (k->st->probe) {
				char *title = step_title(E->plan, k);
				for (size_t h = 0; h < k->nhosts; h++)
					probe_unchecked(E, k, k->hosts[h], title, reason);
				free(title);
			}
		free(reason);
	}
	free(why);
	return w == 1 ? 0 : ps->span;
}

/* Does t read a name that has no value yet on this host?  run.* count:
 * a plan is no run. */
static bool tmpl_unready(const struct tmpl *t, struct lookup *lk, const char **bad)
{
	if (!t)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		if (!t->segs[i].is_name)
			continue;
		bool secret;
		if (!strncmp(t->segs[i].text, "run.", 4) || !plan_lookup(lk, t->segs[i].text, &secret)) {
			*bad = t->segs[i].text;
			return true;
		}
	}
	return false;
}

/* `plan --check`: can this probe run on h before anything else has?  Not
 * when a template it renders (exec_command's and stepio's: the command,
 * check, env, cwd, sudo user, patterns) or its `when` reads a value only
 * a step that does not run under --check produces: *bad is that name. */
static bool probe_ready(struct engine *E, struct pstep *ps, struct host *h, const char **bad)
{
	const struct step *st = ps->st;
	bool unready = false;
	struct lookup lk = {.plan = E->plan, .host = h};
	for (size_t f = 0; f <= ps->nouter && !unready; f++) {
		const struct step *fs = f < ps->nouter ? ps->outer[f].st : st;
		lk.scope = f < ps->nouter ? ps->outer[f].scope : ps->scope;
		for (size_t e = 0; e < fs->nenv && !unready; e++)
			unready = tmpl_unready(fs->env[e].val, &lk, bad);
	}
	struct scope *sc;
	const struct step *cwd = pstep_nearest(ps, NEAREST_CWD, &sc);
	lk.scope = sc;
	if (!unready && cwd)
		unready = tmpl_unready(cwd->cwd, &lk, bad);
	const struct step *su = pstep_nearest(ps, NEAREST_SUDO, &sc);
	lk.scope = sc;
	if (!unready && su)
		unready = tmpl_unready(su->sudo_user, &lk, bad);
	lk.scope = ps->scope;
	const struct tmpl *ts[] = {st->text, st->check, st->expect_out ? st->expect_out->t : NULL,
				   st->expect_err ? st->expect_err->t : NULL};
	for (size_t i = 0; i < ARRAY_LEN(ts) && !unready; i++)
		unready = tmpl_unready(ts[i], &lk, bad);
	for (size_t c = 0; c < st->ncaps && !unready; c++)
		unready = tmpl_unready(st->caps[c].pat.t, &lk, bad);
	for (size_t d = 0; d < st->ndiags && !unready; d++)
		unready = tmpl_unready(st->diags[d].pat.t, &lk, bad);
	if (!unready && st->when && expr_eval(st->when, plan_lookup, &lk, bad) < 0)
		unready = true;
	lookup_release(&lk);
	return !unready;
}

/* `plan --check`: a probe that cannot run before the run has, said so. */
static void probe_unchecked(struct engine *E, struct pstep *ps, struct host *h, const char *title, const char *why)
{
	const char *hn = ps->nhosts > 1 || strcmp(h->name, "local") ? h->name : NULL;
	ui_step_end(ps->number, E->plan->nleaves, title, hn, "not checked", -1, why, ps->depth);
	tell(E, ps, h, "not checked", why);
}

/* `plan --check`: a probe, on every host, whatever happened before. */
static void probe_leaf(struct engine *E, struct pstep *ps)
{
	char *title = step_title(E->plan, ps);
	for (size_t h = 0; h < ps->nhosts && !E->interrupted; h++) {
		const char *bad = NULL;
		if (!probe_ready(E, ps, ps->hosts[h], &bad)) {
			char *why = xasprintf("reads '%s', which only the run produces", bad);
			probe_unchecked(E, ps, ps->hosts[h], title, why);
			free(why);
			continue;
		}
		run_leaf(E, ps, ps->hosts[h], &E->rows[ps->row + h], title, 1, NULL);
	}
	free(title);
}

/* One leaf on a group of hosts: one after another, or `parallel: N` at
 * once (co.h).  One after another is a rolling change: the first host
 * that fails stops it, the others stay as they were; in parallel the
 * hosts already started finish, and no other starts. */
struct fleet {
	struct engine *E;
	struct pstep *ps;
	struct host *const *hosts;
	const char *title;
	int phase;
	const struct undo_ctx *uc;
	bool keep_going, ok;
};

static void fleet_host(void *ctx, size_t h)
{
	struct fleet *F = ctx;
	struct engine *E = F->E;
	struct pstep *ps = F->ps;
	struct summary_row *row = !F->uc && ps->number ? &E->rows[ps->row + h] : NULL;
	const char *status = run_leaf(E, ps, F->hosts[h], row, F->title, F->phase, F->uc);
	if (!strcmp(status, "failed") || !strcmp(status, "interrupted") || !strcmp(status, "paused"))
		F->ok = false;
}

static bool fleet_more(void *ctx)
{
	struct fleet *F = ctx;
	struct engine *E = F->E;
	return !(E->interrupted || E->paused || E->jfail) && (F->ok || F->keep_going);
}

bool engine_walk(struct engine *E, struct pstep *v, size_t n, bool keep_going, int phase,
		 const struct undo_ctx *uc)
{
	bool all_ok = true;
	for (size_t i = 0; i < n; i++) {
		struct pstep *ps = &v[i];
		const struct step *st = ps->st;
		if (sig_interrupted()) {
			E->interrupted = true;
			return false;
		}
		if (E->jfail)
			return false;
		bool header = step_is_header(st);
		if (E->probe_only) {
			if (header)
				i += probe_header(E, ps);
			else if (st->probe)
				probe_leaf(E, ps);
			continue;
		}
		char *title = step_title(E->plan, ps);
		if (header) {
			int w = 1;
			const char *bad = NULL;
			const struct step_state *was = NULL;
			/* an undo's module calls are decided again on a resume: their
			 * arguments come from the values of the time */
			if (E->opt.prior && !uc && (phase < 2 || E->fin_carry))
				was = run_state_step(E->opt.prior, ps->id, "");
			if (was && strcmp(was->status, "skipped") && strcmp(was->status, "entered"))
				was = NULL; /* its `when` could not be decided: again */
			if (was && !strcmp(was->status, "skipped")) {
				ui_step_end(0, 0, title, NULL, "skipped", -1, "skipped earlier", ps->depth);
				skip_span(E, v, i, ps->span, "skipped");
				i += ps->span;
				free(title);
				continue;
			}
			struct lookup lk = header_lookup(E, ps, uc);
			/* entered before: its `when` held then, and steps under it
			 * may have run — it is not decided again */
			if (st->when && !was)
				w = expr_eval(st->when, plan_lookup, &lk, &bad);
			char *why = NULL;
			if (w == 1 && st->kind->action == ACT_USES && enter_module(E, ps, &lk, &why) < 0) {
				/* an argument may hold a captured secret */
				char *m = mask_secrets(E->plan, why, strlen(why), NULL);
				free(why);
				why = m;
				w = -2;
			}
			lookup_release(&lk);
			if (w == 0) {
				char *reason = xasprintf("when: %s", st->when_src);
				ui_step_end(0, 0, title, NULL, "skipped", -1, reason, ps->depth);
				if (!uc) {
					skip_span(E, v, i, ps->span, "skipped");
					struct json *j = engine_rec(E, "step_skip", ps, NULL);
					json_kstr(j, "reason", reason);
					json_kbool(j, "group", true);
					engine_commit(E, true);
				}
				free(reason);
				i += ps->span;
			} else if (w < 0) {
				if (!why)
					why = xasprintf("'when' reads '%s', which has no value here", bad);
				ui_step_end(0, 0, title, NULL, "failed", -1, why, ps->depth);
				if (uc) {
					/* the journal says where the rollback stopped */
					free(E->undo_why);
					E->undo_why = xasprintf("%s: %s", title, why);
					struct json *j = engine_rec(E, "undo_end", ps, uc->host->name);
					add_compensated(j, uc);
					json_kstr(j, "status", "failed");
					json_kint(j, "rc", -1);
					json_kstr(j, "reason", why);
					engine_commit(E, true);
				} else {
					struct json *j = engine_rec(E, "step_end", ps, NULL);
					json_kstr(j, "status", "failed");
					json_kint(j, "rc", -1);
					json_kstr(j, "reason", why);
					engine_commit(E, true);
					j = ui_event_begin("step_end");
					json_kstr(j, "run", E->plan->run_id);
					json_kstr(j, "step", ps->id);
					json_kstr(j, "status", "failed");
					json_kstr(j, "reason", why);
					ui_event_emit();
					if (phase == 1 && !E->failed_step)
						E->failed_step = ps;
				}
				free(why);
				all_ok = false;
				if (!keep_going) {
					free(title);
					E->failed |= !uc;
					return false;
				}
				i += ps->span;
			} else {
				if (!was && !uc) {
					engine_rec(E, "group_enter", ps, NULL);
					engine_commit(E, true);
				}
				ui_group(title, ps->depth);
			}
			free(title);
			continue;
		}
		bool step_ok = true;
		/* an undo runs on the host it compensates, unless it names others */
		struct host *const *hosts = ps->hosts;
		size_t nhosts = ps->nhosts;
		if (uc && !ps->own_hosts) {
			hosts = &uc->host;
			nhosts = 1;
		}
		struct scope *sc;
		const struct step *par = uc ? NULL : pstep_nearest(ps, NEAREST_PARALLEL, &sc);
		struct fleet F = {E, ps, hosts, title, phase, uc, keep_going, true};
		co_run(nhosts, par ? (size_t)par->parallel : 1, fleet_host, fleet_more, &F);
		step_ok = F.ok;
		free(title);
		if (E->interrupted || E->paused || E->jfail)
			return false;
		if (!step_ok) {
			all_ok = false;
			if (!keep_going) {
				E->failed |= !uc;
				return false;
			}
		}
	}
	return all_ok;
}

/* Preconditions: every one runs; returns the number that failed. */
static int run_preconditions(struct engine *E)
{
	struct plan *p = E->plan;
	int failed = 0;
	if (!p->npre)
		return 0;
	ui_title("preconditions");
	for (size_t i = 0; i < p->npre && !E->interrupted; i++) {
		struct pstep *ps = &p->pre[i];
		for (size_t h = 0; h < ps->nhosts; h++) {
			char *title = step_title(E->plan, ps);
			struct step_exec x;
			step_exec_init(&x, E, ps, ps->hosts[h], NULL);
			x.show_output = ui_verbosity() > 0;
			const char *hostname = strcmp(x.host->name, "local") ? x.host->name : NULL;
			int w = 1;
			const char *bad = NULL;
			if (ps->st->when)
				w = expr_eval(ps->st->when, plan_lookup, &x.lk, &bad);
			if (w == 0) {
				char *reason = xasprintf("when: %s", ps->st->when_src);
				ui_step_end(0, 0, title, hostname, "skipped", -1, reason, 1);
				tell(E, ps, x.host, "skipped", reason);
				free(reason);
				free(title);
				lookup_release(&x.lk);
				continue;
			}
			if (p->run_dir[0] && !p->preview)
				x.logfd = step_log_open(p->run_dir, 0, ps->id, ps->nhosts > 1 ? x.host->name : NULL,
							&x.logpath);
			long long t0 = now_ms();
			int ok = w < 0 ? -1 : ps->st->kind->run(&x);
			if (w < 0)
				x.why = xasprintf("'when' reads '%s', which has no value here", bad);
			if (x.interrupted)
				E->interrupted = true;
			if (x.why) {
				char *m = mask_secrets(p, x.why, strlen(x.why), NULL);
				free(x.why);
				x.why = m;
			}
			ui_step_end(0, 0, title, hostname, ok == 0 ? "ok" : "failed", now_ms() - t0,
				    ok == 0 ? NULL : x.why, 1);
			tell(E, ps, x.host, ok == 0 ? "ok" : "failed", ok == 0 ? NULL : x.why);
			struct json *j = engine_rec(E, "precondition", ps, x.host->name);
			json_kstr(j, "status", ok == 0 ? "ok" : "failed");
			if (ok != 0 && x.why)
				json_kstr(j, "reason", x.why);
			engine_commit(E, false); /* read-only: the phase record syncs it */
			j = ui_event_begin("precondition");
			json_kstr(j, "run", p->run_id);
			json_kstr(j, "step", ps->id);
			json_kstr(j, "host", x.host->name);
			json_kstr(j, "status", ok == 0 ? "ok" : "failed");
			ui_event_emit();
			if (ok != 0) {
				failed++;
				if (ps->st->hint) {
					char *hint = exec_render(&x, ps->st->hint, RENDER_MASK);
					if (hint)
						ui_note(1, "hint", "%s", hint);
					free(hint);
				}
			}
			step_exec_release(&x);
			free(title);
		}
	}
	return failed;
}

static void print_summary(struct engine *E, const char *outcome, long long ms)
{
	struct plan *p = E->plan;
	char d[32];
	format_duration(d, sizeof(d), ms);
	/* the count line names every status that occurred, in a fixed order */
	static const char *const order[] = {"ok", "failed", "failed (allowed)", "interrupted", "paused",
					    "skipped", "not run"};
	struct sbuf counts = {0};
	for (size_t k = 0; k < ARRAY_LEN(order); k++) {
		int c = 0;
		for (size_t i = 0; i < E->nrows; i++)
			c += !strcmp(E->rows[i].status, order[k]);
		if (c || k < 2)
			sbuf_addf(&counts, "%s%d %s", counts.len ? ", " : "", c, order[k]);
	}
	ui_title("summary: %s (%s)", outcome, d);
	if (ui_verbosity() >= 0)
		for (size_t i = 0; i < E->nrows; i++) {
			struct summary_row *r = &E->rows[i];
			char dur[32] = "";
			if (r->ms >= 0)
				format_duration(dur, sizeof(dur), r->ms);
			bool bad = !strncmp(r->status, "failed", 6) || !strcmp(r->status, "interrupted");
			const char *c = bad ? ui_c("fail") : !strcmp(r->status, "ok") ? ui_c("ok") : ui_c("warn");
			printf("  %s%-16s%s %7s  %*s%s%s%s", c, r->status, ui_c("reset"), dur, 2 * r->depth, "",
			       r->title, r->host ? " @" : "", r->host ? r->host : "");
			if (r->undo) {
				bool ubad = strncmp(r->undo, "undone", 6) != 0;
				printf("  %s\xe2\x86\xa9 %s%s", ubad ? ui_c("warn") : ui_c("dim"), r->undo, ui_c("reset"));
			}
			putchar('\n');
		}
	printf("%s%s \xe2\x80\x94 run %s%s%s\n", ui_verbosity() < 0 ? "" : "  ", sbuf_str(&counts), p->run_id,
	       ui_verbosity() < 0 ? ": " : "", ui_verbosity() < 0 ? outcome : "");
	sbuf_release(&counts);
	if (E->rb)
		rollback_report(E);
	if (p->run_dir[0] && ui_verbosity() >= 0)
		printf("  logs: %s/logs\n", p->run_dir);
	fflush(stdout);
}

struct summary_row *engine_row(struct engine *E, const struct pstep *ps, const struct host *h)
{
	if (!ps->number)
		return NULL;
	for (size_t k = 0; k < ps->nhosts; k++)
		if (ps->hosts[k] == h)
			return &E->rows[ps->row + k];
	return NULL;
}

/* Resuming: may finally steps keep their recorded state?  Only when the
 * run had already reached its end (finally began) and nothing before
 * finally is left to do — every forward step done, or the rollback
 * finished: otherwise this resume ends the run anew and finally runs
 * whole again. */
bool engine_finally_carries(const struct plan *p, const struct run_state *rs, bool asked)
{
	/* a rollback that starts now ends the run anew */
	if (!rs || !rs->finally_open || rs->rollback == RB_OPEN || (asked && rs->rollback == RB_NONE))
		return false;
	if (rs->rollback == RB_DONE)
		return true;
	for (size_t i = 0; i < p->nsteps; i++) {
		if (!p->steps[i].number)
			continue;
		for (size_t h = 0; h < p->steps[i].nhosts; h++) {
			const struct step_state *s = run_state_step(rs, p->steps[i].id, p->steps[i].hosts[h]->name);
			if (!step_state_done(s))
				return false;
		}
	}
	return true;
}

static void rec_phase(struct engine *E, const char *phase, const char *after)
{
	struct json *j = engine_rec(E, "phase", NULL, NULL);
	json_kstr(j, "phase", phase);
	if (after)
		json_kstr(j, "after", after);
	engine_commit(E, true);
}

/* Did a forward step fail, with no rollback begun?  (runbook was killed
 * between the failure and the rollback's first record.) */
static bool failed_unrolled(const struct run_state *rs)
{
	for (size_t i = 0; i < rs->nsteps; i++)
		if (rs->steps[i].phase == 1 && !strcmp(rs->steps[i].status, "failed"))
			return true;
	return false;
}

bool engine_rolls_back(const struct plan *p, const struct run_state *rs, bool asked)
{
	return asked || (rs && (rs->rollback != RB_NONE || (!p->rb->on_failure_stop && failed_unrolled(rs) &&
							     rollback_preview((struct plan *)p, rs, NULL) > 0)));
}

/* Rolling back what an earlier process did: the forward steps' states,
 * results and undo values come back from the journal, and nothing runs
 * forward.  An interrupted step with a check is settled by it, so that a
 * change that did happen is undone too. */
static void restore_forward(struct engine *E)
{
	struct plan *p = E->plan;
	const struct run_state *rs = E->opt.prior;
	for (size_t i = 0; i < p->nsteps; i++) {
		struct pstep *ps = &p->steps[i];
		if (step_is_header(ps->st)) {
			const struct step_state *was = run_state_step(rs, ps->id, "");
			if (was && !strcmp(was->status, "skipped")) {
				for (size_t k = i + 1; k <= i + ps->span; k++)
					for (size_t h = 0; p->steps[k].number && h < p->steps[k].nhosts; h++)
						E->rows[p->steps[k].row + h].status = "skipped";
				i += ps->span;
			} else if (was && !strcmp(was->status, "entered") && ps->st->kind->action == ACT_USES) {
				struct lookup lk = header_lookup(E, ps, NULL);
				char *why = NULL;
				enter_module(E, ps, &lk, &why);
				free(why);
				lookup_release(&lk);
			}
			continue;
		}
		for (size_t h = 0; h < ps->nhosts; h++) {
			struct summary_row *row = &E->rows[ps->row + h];
			const struct step_state *was = run_state_step(rs, ps->id, ps->hosts[h]->name);
			if (!was)
				continue;
			struct step_exec x;
			step_exec_init(&x, E, ps, ps->hosts[h], NULL);
			row->ms = was->ms;
			if (step_state_done(was)) {
				bring_back(&x, was);
				row->status = !strcmp(was->status, "skipped") ? "skipped" : was->status;
			} else if (!strcmp(was->status, "started") || !strcmp(was->status, "interrupted")) {
				row->status = "interrupted";
				row->ms = -1;
				if (ps->st->kind->action == ACT_RUN && ps->st->check && wait_orphan(&x, was) == 0) {
					if (p->run_dir[0])
						x.logfd = step_log_open(p->run_dir, ps->number, ps->id,
									ps->nhosts > 1 ? ps->hosts[h]->name : NULL, &x.logpath);
					stepio_log(&x, "# interrupted; before the rollback, its check decides whether it took effect\n");
					x.show_output = ui_verbosity() > 0;
					x.attempt = was->attempts > 0 ? was->attempts : 1;
					if (step_check(&x) == 0) {
						settled_results(&x, was);
						rec_step_end(&x, "ok", 0, "check");
						row->status = "ok";
						ui_note(0, "settled", "step %d (%s) was interrupted; its check passes: it took "
								      "effect, and is undone with the rest", ps->number, ps->id);
					} else if (!x.interrupted) {
						row->undo = "not compensated: its check says it did not take effect";
						ui_note(0, "settled", "step %d (%s) was interrupted; its check fails (%s): it did "
								      "not take effect, nothing to undo", ps->number, ps->id, x.why);
					}
				}
			} else {
				row->status = was->status;
				if (!strcmp(was->status, "failed") && !E->failed_step) {
					E->failed_step = ps;
					E->failed_host = ps->hosts[h];
				}
			}
			step_exec_release(&x);
		}
	}
}

/* Frees what a run of the engine held, and closes its connections. */
static void engine_release(struct engine *E)
{
	for (size_t i = 0; i < E->nrows; i++) {
		free(E->rows[i].id);
		free(E->rows[i].title);
		free(E->rows[i].host);
	}
	free(E->rows);
	free(E->jfail);
	free(E->undo_why);
	free(E->undo_log);
	free(E->lost);
	rollback_free(E);
	snapshots_free(E);
}

int engine_run(struct plan *p, const struct engine_opts *o)
{
	struct engine E = {.plan = p, .opt = *o};
	long long t0 = now_ms();
	add_rows(&E, p->steps, p->nsteps);
	add_rows(&E, p->fin, p->nfin);
	const struct runbook *rb = p->rb;
	const struct run_state *prior = o->prior;
	/* once a rollback began, or a step failed under on_failure: rollback,
	 * nothing runs forward again: a resume goes on undoing */
	bool rb_only = engine_rolls_back(p, prior, o->rollback);
	const char *trigger = prior && prior->rollback != RB_NONE && prior->rollback_trigger ? prior->rollback_trigger
			      : o->rollback ? "operator" : "failure";
	ui_title("runbook %s \xe2\x80\x94 %s %s on %s", rb->name,
		 o->rollback && (!prior || prior->rollback == RB_NONE) ? "rolling back run"
		 : rb_only ? "resuming the rollback of run"
		 : prior ? "resuming run" : "run",
		 p->run_id, p->target);
	struct json *j = ui_event_begin("run_start");
	json_kstr(j, "run", p->run_id);
	json_kstr(j, "runbook", rb->name);
	json_kstr(j, "target", p->target);
	if (prior)
		json_kbool(j, "resumed", true);
	if (rb_only)
		json_kbool(j, "rollback", true);
	struct json pj = {0};
	json_begin(&pj);
	for (size_t i = 0; i < p->nparams; i++)
		json_kstr(&pj, p->params[i].def->name,
			  p->params[i].def->secret && p->params[i].value ? "***" : p->params[i].value);
	json_kraw(j, "params", json_end(&pj));
	json_release(&pj);
	ui_event_emit();

	int code = EXIT_OK;
	const char *outcome = "succeeded";
	char *owned_outcome = NULL;
	E.fin_carry = engine_finally_carries(p, prior, o->rollback);
	int pre_failed = 0;
	int rolled = 1; /* 1 none, 0 done, -1 an undo failed */
	bool in_pre = false;
	if (rb_only) {
		restore_forward(&E);
		if (prior->rollback == RB_DONE) {
			ui_title("rollback: finished earlier");
			rolled = 0;
		} else if (!E.jfail) {
			rolled = rollback_run(&E, trigger);
		}
	} else if (prior && prior->pre_passed) {
		if (p->npre)
			ui_title("preconditions: passed when the run started");
	} else {
		pre_failed = run_preconditions(&E);
		in_pre = E.interrupted;
		if (!pre_failed && !E.interrupted)
			rec_phase(&E, "steps", NULL);
	}
	if (!rb_only && !E.jfail && !E.interrupted && !pre_failed) {
		if (p->nsteps)
			ui_title("steps");
		engine_walk(&E, p->steps, p->nsteps, false, 1, NULL);
		if (E.failed && !rb->on_failure_stop && !E.paused && !E.interrupted && !E.jfail)
			rolled = rollback_run(&E, "failure");
	}
	/* finally runs when the run has ended — succeeded, failed, rolled
	 * back or not; a paused or interrupted run has not ended: it can
	 * still be resumed */
	bool fin_ok = true;
	if (!pre_failed && !E.paused && !E.interrupted && !E.jfail && p->nfin) {
		ui_title("finally");
		if (!E.fin_carry)
			rec_phase(&E, "finally", rolled == 0 ? "rolled back" : rolled < 0 ? "rollback failed"
						 : E.failed ? "failed" : "succeeded");
		fin_ok = engine_walk(&E, p->fin, p->nfin, true, 2, NULL);
	}
	const char *failed_id = E.failed_step ? E.failed_step->id : prior && prior->rollback_step ? prior->rollback_step : NULL;
	if (E.jfail) {
		code = EXIT_FAILED;
		outcome = "stopped: the journal cannot be written (resume once it is writable)";
	} else if (E.interrupted && E.lost) {
		code = EXIT_FAILED;
		outcome = owned_outcome = xasprintf("stopped: %s; 'runbook resume %s' reconnects and settles the "
						    "interrupted step by its check",
						    E.lost, p->run_id);
	} else if (E.interrupted) {
		code = EXIT_INTR;
		outcome = E.rb ? "interrupted during the rollback (runbook resume continues it)"
			  : in_pre ? "interrupted during the preconditions" : "interrupted";
	} else if (pre_failed) {
		code = EXIT_PRECOND;
		outcome = "stopped before any step (a precondition failed)";
		ui_error("%d precondition%s failed: nothing was run", pre_failed, pre_failed > 1 ? "s" : "");
	} else if (E.paused) {
		code = EXIT_PAUSED;
		outcome = E.settle_paused ? "paused: an interrupted step is left unsettled (runbook resume asks again)"
			  : E.rb ? "paused in the rollback for a confirmation (runbook resume --yes approves it)"
				 : "paused for a confirmation (runbook resume --yes approves it)";
	} else if (rolled < 0) {
		code = EXIT_ROLLBACK;
		outcome = owned_outcome = failed_id
			? xasprintf("failed at %s; the rollback FAILED and needs a human", failed_id)
			: xstrdup("the rollback FAILED and needs a human");
	} else if (rolled == 0) {
		/* `runbook rollback` did what it was asked: 0; a run that failed
		 * and was rolled back (automatically, or by a resume) failed: 1 */
		bool by_operator = !strcmp(trigger, "operator");
		code = (by_operator || o->rollback) && fin_ok ? EXIT_OK : EXIT_FAILED;
		outcome = owned_outcome = xasprintf("%s%s%srolled back%s%s", failed_id ? "failed at " : "",
						    failed_id ? failed_id : "", failed_id ? "; " : "",
						    by_operator ? " by the operator" : "", fin_ok ? "" : "; finally failed");
	} else if (E.failed) {
		code = EXIT_FAILED;
		outcome = owned_outcome =
			rb->on_failure_stop
				? xasprintf("failed at %s (on_failure: stop, nothing undone: 'runbook rollback %s' undoes, "
					    "'runbook resume %s' retries)", failed_id ? failed_id : "a step", p->run_id,
					    p->run_id)
				: xasprintf("failed at %s (nothing to undo: 'runbook resume %s' retries it)",
					    failed_id ? failed_id : "a step", p->run_id);
	} else if (!fin_ok) {
		code = EXIT_FAILED;
		outcome = "failed in finally";
	}
	long long ms = now_ms() - t0;
	if (!E.jfail) {
		j = engine_rec(&E, "run_end", NULL, NULL);
		json_kstr(j, "status", outcome);
		json_kint(j, "exit", code);
		json_kint(j, "duration_ms", ms);
		engine_commit(&E, true);
	}
	print_summary(&E, outcome, ms);
	j = ui_event_begin("run_end");
	json_kstr(j, "run", p->run_id);
	json_kstr(j, "status", outcome);
	json_kint(j, "exit", code);
	json_kint(j, "duration_ms", ms);
	ui_event_emit();
	free(owned_outcome);
	engine_release(&E);
	return code;
}

int engine_probe(struct plan *p, const struct engine_opts *o)
{
	struct engine E = {.plan = p, .opt = *o, .probe_only = true};
	add_rows(&E, p->steps, p->nsteps);
	ui_title("runbook %s \xe2\x80\x94 checking on %s: preconditions and probe steps only", p->rb->name, p->target);
	int pre_failed = run_preconditions(&E);
	int probes = 0, failed = 0;
	for (size_t i = 0; i < p->nsteps; i++)
		probes += p->steps[i].st->probe;
	if (probes && !E.interrupted) {
		ui_title("probes");
		engine_walk(&E, p->steps, p->nsteps, true, 1, NULL);
	}
	for (size_t i = 0; i < E.nrows; i++)
		failed += !strcmp(E.rows[i].status, "failed");
	int code = E.interrupted ? EXIT_INTR : pre_failed ? EXIT_PRECOND : failed ? EXIT_FAILED : EXIT_OK;
	if (pre_failed)
		ui_error("%d precondition%s failed: a run would stop before its first step", pre_failed,
			 pre_failed > 1 ? "s" : "");
	if (failed)
		ui_error("%d probe%s failed: a run would fail there", failed, failed > 1 ? "s" : "");
	engine_release(&E);
	return code;
}
