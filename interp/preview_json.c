/* preview_json.c — `runbook plan --format json`: the model of preview.c as
 * one JSON document, for tools.  Its shape is documented in README.md
 * ("plan --format json"); keys are only ever added. */
#include "preview.h"

#include "engine.h"

#include "json.h"
#include "runbook.h"
#include "steps.h"

#include <stdlib.h>
#include <string.h>

static const char *when_value(enum pv_when w)
{
	switch (w) {
	case PV_TRUE:
		return "true";
	case PV_FALSE:
		return "false";
	case PV_MIXED:
		return "\"some hosts\"";
	default:
		return "\"run time\"";
	}
}

static char *steps_json(const struct preview *P, const struct pv_step *v, size_t n);

static char *host_json(const struct pv_step *s, const struct pv_host *h)
{
	struct json j = {0};
	json_begin(&j);
	json_kstr(&j, "host", h->host->name);
	if (s->action == ACT_RUN)
		json_kstr(&j, "command", h->text);
	else if (s->action == ACT_TRANSFER)
		json_kstr(&j, "transfer", h->text);
	else if (s->action == ACT_CONFIRM || s->action == ACT_NOTE)
		json_kstr(&j, "text", h->text);
	if (h->check)
		json_kstr(&j, "check", h->check);
	if (h->cwd)
		json_kstr(&j, "cwd", h->cwd);
	if (h->sudo && *h->sudo)
		json_kstr(&j, "sudo", h->sudo);
	else if (h->sudo)
		json_kbool(&j, "sudo", true);
	if (h->nenv) {
		struct json e = {0};
		json_begin(&e);
		for (size_t i = 0; i < h->nenv; i++) {
			const char *eq = strchr(h->env[i], '=');
			char *k = xstrndup(h->env[i], (size_t)(eq - h->env[i]));
			json_kstr(&e, k, eq + 1);
			free(k);
		}
		json_kraw(&j, "env", json_end(&e));
		json_release(&e);
	}
	if (h->when != PV_ALWAYS)
		json_kraw(&j, "when", when_value(h->when));
	if (h->status) {
		struct json r = {0};
		json_begin(&r);
		json_kstr(&r, "status", h->status);
		if (h->why)
			json_kstr(&r, "reason", h->why);
		json_kraw(&j, "checked", json_end(&r));
		json_release(&r);
	}
	json_end(&j);
	return sbuf_detach(&j.sb);
}

static char *step_json(const struct preview *P, const struct pv_step *s)
{
	const struct step *st = s->ps->st;
	struct json j = {0};
	json_begin(&j);
	json_kstr(&j, "id", s->ps->id);
	json_kstr(&j, "kind", st->kind->key);
	json_kstr(&j, "title", s->title);
	if (s->number && (s->phase == 1 || s->phase == 2))
		json_kint(&j, "number", s->number);
	json_kint(&j, "depth", s->depth);
	json_kstr(&j, "file", st->pos.file);
	json_kint(&j, "line", st->pos.line);
	if (s->action == ACT_GROUP || s->action == ACT_USES) {
		if (s->action == ACT_USES) {
			char *u = xasprintf("%s.%s", st->mod, st->action);
			json_kstr(&j, "uses", u);
			free(u);
			struct json w = {0};
			json_begin(&w);
			for (size_t i = 0; i < s->nargs; i++)
				json_kstr(&w, s->args[i].name, s->args[i].value);
			json_kraw(&j, "with", json_end(&w));
			json_release(&w);
		}
	}
	struct json hs = {0};
	json_begin_array(&hs);
	for (size_t h = 0; h < s->nhosts; h++) {
		char *x = host_json(s, &s->hosts[h]);
		json_add_raw(&hs, x);
		free(x);
	}
	json_kraw(&j, "hosts", json_end(&hs));
	json_release(&hs);
	if (s->timeout_ms)
		json_kint(&j, "timeout_ms", s->timeout_ms);
	if (s->parallel)
		json_kint(&j, "parallel", s->parallel);
	if (st->attempts > 1) {
		struct json r = {0};
		json_begin(&r);
		json_kint(&r, "attempts", st->attempts);
		json_kint(&r, "delay_ms", st->delay_ms);
		char b[32];
		snprintf(b, sizeof(b), "%g", st->backoff);
		json_kraw(&r, "backoff", b);
		json_kraw(&j, "retry", json_end(&r));
		json_release(&r);
	}
	if (s->action == ACT_RUN) {
		struct json e = {0};
		json_begin(&e);
		if (st->rc_any) {
			json_kstr(&e, "rc", "any");
		} else {
			struct json rc = {0};
			json_begin_array(&rc);
			for (size_t i = 0; i < st->nrcs; i++) {
				char b[16];
				snprintf(b, sizeof(b), "%d", st->rcs[i]);
				json_add_raw(&rc, b);
			}
			if (!st->nrcs)
				json_add_raw(&rc, "0");
			json_kraw(&e, "rc", json_end(&rc));
			json_release(&rc);
		}
		if (s->expect_out)
			json_kstr(&e, "stdout", s->expect_out);
		if (s->expect_err)
			json_kstr(&e, "stderr", s->expect_err);
		json_kraw(&j, "expect", json_end(&e));
		json_release(&e);
	}
	if (s->ncaps) {
		struct json c = {0};
		json_begin(&c);
		for (size_t i = 0; i < s->ncaps; i++)
			json_kstr(&c, s->caps[i].name, s->caps[i].value);
		json_kraw(&j, "capture", json_end(&c));
		json_release(&c);
	}
	if (s->ndiags) {
		struct json d = {0};
		json_begin_array(&d);
		for (size_t i = 0; i < s->ndiags; i++) {
			struct json o = {0};
			json_begin(&o);
			json_kstr(&o, "match", s->diags[i].pattern);
			if (s->diags[i].hint)
				json_kstr(&o, "hint", s->diags[i].hint);
			json_kbool(&o, "fail", s->diags[i].fail);
			json_add_raw(&d, json_end(&o));
			json_release(&o);
		}
		json_kraw(&j, "diagnose", json_end(&d));
		json_release(&d);
	}
	if (s->hint)
		json_kstr(&j, "hint", s->hint);
	if (st->when) {
		struct json w = {0};
		json_begin(&w);
		json_kstr(&w, "expr", st->when_src);
		json_kraw(&w, "value", when_value(s->when));
		json_kraw(&j, "when", json_end(&w));
		json_release(&w);
	}
	if (s->conditional)
		json_kbool(&j, "conditional", true);
	if (s->never)
		json_kbool(&j, "never", true);
	if (st->allow_failure)
		json_kbool(&j, "allow_failure", true);
	if (st->probe)
		json_kbool(&j, "probe", true);
	if (s->nundo) {
		char *u = steps_json(P, s->undo, s->nundo);
		json_kraw(&j, "undo", u);
		free(u);
		if (s->undo_by)
			json_kstr(&j, "undo_replaced_by", s->undo_by->id);
	}
	if (s->forward && s->action != ACT_GROUP && s->action != ACT_USES) {
		struct json r = {0};
		json_begin_array(&r);
		for (size_t i = 0; i < s->nrollback; i++) {
			struct json o = {0};
			json_begin(&o);
			json_kstr(&o, "unit", s->rollback[i].unit->id);
			json_kstr(&o, "title", s->rollback[i].title);
			json_kbool(&o, "conditional", s->rollback[i].conditional);
			if (s->rollback[i].partial)
				json_kbool(&o, "partial", true);
			json_add_raw(&r, json_end(&o));
			json_release(&o);
		}
		json_kraw(&j, "rollback", json_end(&r));
		json_release(&r);
		json_kint(&j, "not_compensated", s->bare);
	}
	if (s->nwarns) {
		struct json w = {0};
		json_begin_array(&w);
		for (size_t i = 0; i < s->nwarns; i++)
			json_add_str(&w, s->warns[i]);
		json_kraw(&j, "warnings", json_end(&w));
		json_release(&w);
	}
	if (s->nkids) {
		char *k = steps_json(P, s->kids, s->nkids);
		json_kraw(&j, "steps", k);
		free(k);
	}
	json_end(&j);
	return sbuf_detach(&j.sb);
}

static char *steps_json(const struct preview *P, const struct pv_step *v, size_t n)
{
	struct json a = {0};
	json_begin_array(&a);
	for (size_t i = 0; i < n; i++) {
		char *s = step_json(P, &v[i]);
		json_add_raw(&a, s);
		free(s);
	}
	json_end(&a);
	return sbuf_detach(&a.sb);
}

void preview_json(const struct preview *P, FILE *out)
{
	const struct plan *p = P->plan;
	const struct runbook *rb = p->rb;
	struct json j = {0};
	json_begin(&j);
	json_kint(&j, "plan", 1);
	json_kstr(&j, "runbook", rb->name);
	json_kstr(&j, "description", rb->description);
	json_kstr(&j, "file", rb->path);
	json_kstr(&j, "target", p->target);
	json_kstr(&j, "on_failure", rb->on_failure_stop ? "stop" : "rollback");
	json_kbool(&j, "yes", P->yes);
	json_kint(&j, "steps_total", p->nleaves);
	struct json a = {0};
	json_begin_array(&a);
	for (size_t i = 0; i < p->nparams; i++) {
		const struct param_value *pv = &p->params[i];
		struct json o = {0};
		json_begin(&o);
		json_kstr(&o, "name", pv->def->name);
		if (pv->def->secret)
			json_kbool(&o, "secret", true);
		else
			json_kstr(&o, "value", pv->value);
		json_kstr(&o, "source", pv->source);
		json_add_raw(&a, json_end(&o));
		json_release(&o);
	}
	json_kraw(&j, "params", json_end(&a));
	json_begin_array(&a);
	for (size_t i = 0; i < rb->nvars; i++) {
		const struct binding *b = scope_get(p->scopes[0], rb->vars[i].name);
		struct json o = {0};
		json_begin(&o);
		json_kstr(&o, "name", rb->vars[i].name);
		if (b && b->secret)
			json_kbool(&o, "secret", true);
		else
			json_kstr(&o, "value", b ? b->value : NULL);
		json_add_raw(&a, json_end(&o));
		json_release(&o);
	}
	json_kraw(&j, "vars", json_end(&a));
	json_begin_array(&a);
	for (size_t i = 0; i < p->nhosts; i++) {
		const struct host *h = p->hosts[i];
		struct json o = {0};
		json_begin(&o);
		json_kstr(&o, "name", h->name);
		json_kstr(&o, "transport", h->local ? "local" : "ssh");
		if (!h->local) {
			json_kstr(&o, "address", h->address);
			json_kstr(&o, "user", h->user);
			json_kint(&o, "port", h->port);
		}
		if (h->nenv) {
			struct json e = {0};
			json_begin(&e);
			for (size_t k = 0; k < h->nenv; k++) {
				const char *eq = strchr(h->env[k], '=');
				char *name = xstrndup(h->env[k], eq ? (size_t)(eq - h->env[k]) : strlen(h->env[k]));
				char *m = mask_secrets(p, eq ? eq + 1 : "", eq ? strlen(eq + 1) : 0, NULL);
				json_kstr(&e, name, m);
				free(name);
				free(m);
			}
			json_kraw(&o, "env", json_end(&e));
			json_release(&e);
		}
		bool target = false;
		for (size_t t = 0; t < p->ntarget; t++)
			target |= p->target_hosts[t] == h;
		json_kbool(&o, "target", target);
		json_add_raw(&a, json_end(&o));
		json_release(&o);
	}
	json_kraw(&j, "hosts", json_end(&a));
	json_release(&a);
	char *s = steps_json(P, P->pre, P->npre);
	json_kraw(&j, "preconditions", s);
	free(s);
	s = steps_json(P, P->steps, P->nsteps);
	json_kraw(&j, "steps", s);
	free(s);
	s = steps_json(P, P->fin, P->nfin);
	json_kraw(&j, "finally", s);
	free(s);
	json_begin_array(&a);
	for (size_t i = 0; i < P->nwarns; i++) {
		struct json o = {0};
		json_begin(&o);
		json_kstr(&o, "file", P->warns[i].pos.file);
		json_kint(&o, "line", P->warns[i].pos.line);
		json_kint(&o, "col", P->warns[i].pos.col);
		json_kstr(&o, "message", P->warns[i].msg);
		json_add_raw(&a, json_end(&o));
		json_release(&o);
	}
	json_kraw(&j, "warnings", json_end(&a));
	json_release(&a);
	if (P->checked) {
		struct json c = {0};
		json_begin(&c);
		json_kint(&c, "exit", P->check_code);
		json_kstr(&c, "result", P->check_code == 0 ? "passed" : P->check_code == 5 ? "precondition failed"
					 : P->check_code == 1 ? "probe failed" : "interrupted");
		json_kraw(&j, "check", json_end(&c));
		json_release(&c);
	}
	fprintf(out, "%s\n", json_end(&j));
	json_release(&j);
}
