/* preview_text.c — `runbook plan` for the terminal: the model of
 * preview.c as indented text, coloured on a TTY (ui_c decides). */
#include "preview.h"

#include "engine.h"

#include "runbook.h"
#include "steps.h"
#include "ui.h"

#include <stdlib.h>
#include <string.h>

/* Prints text under a label; continuation lines are aligned under the
 * first one. */
static void lines(FILE *out, int indent, const char *label, const char *text)
{
	int width = fprintf(out, "%*s%s%s%s", indent, "", ui_c("dim"), label, ui_c("reset"));
	width -= (int)(strlen(ui_c("dim")) + strlen(ui_c("reset")));
	for (const char *p = text;;) {
		size_t n = strcspn(p, "\n");
		fprintf(out, "%.*s\n", (int)n, p);
		if (!p[n] || !p[n + 1])
			break;
		p += n + 1;
		fprintf(out, "%*s", width, "");
	}
}

static const char *when_word(enum pv_when w)
{
	switch (w) {
	case PV_TRUE:
		return "true: it runs";
	case PV_FALSE:
		return "false: it never runs";
	case PV_MIXED:
		return "true on some hosts only";
	default:
		return "";
	}
}

static void host_fields(FILE *out, int ind, const struct pv_step *s, const struct pv_host *h, bool tag)
{
	char label[160];
	if (tag)
		snprintf(label, sizeof(label), "@%s ", h->host->name);
	else
		label[0] = 0;
	if (h->text && (s->action == ACT_RUN || s->action == ACT_TRANSFER)) {
		char l2[200];
		snprintf(l2, sizeof(l2), "%s%s", label, s->action == ACT_RUN ? "$ " : "");
		lines(out, ind, l2, h->text);
	}
	struct sbuf mods = {0};
	if (h->sudo)
		sbuf_addf(&mods, "sudo%s%s", *h->sudo ? " -u " : "", h->sudo);
	if (h->cwd)
		sbuf_addf(&mods, "%scwd %s", mods.len ? " · " : "", h->cwd);
	for (size_t e = 0; e < h->nenv; e++)
		sbuf_addf(&mods, "%s%s", mods.len ? (e ? " " : " · env ") : "env ", h->env[e]);
	if (mods.len)
		fprintf(out, "%*s%s%s%s%s\n", ind, "", tag ? label : "", ui_c("dim"), sbuf_str(&mods), ui_c("reset"));
	sbuf_release(&mods);
	if (h->check) {
		char l2[200];
		snprintf(l2, sizeof(l2), "%scheck: $ ", label);
		lines(out, ind, l2, h->check);
	}
	if (h->status) {
		bool ok = !strcmp(h->status, "ok");
		fprintf(out, "%*s%s%schecked: %s%s%s%s\n", ind, "", label, ok ? ui_c("ok") : ui_c("fail"), h->status,
			h->why ? " (" : "", h->why ? h->why : "", h->why ? ")" : "");
		fputs(ui_c("reset"), out);
	}
}

static void step_out(FILE *out, const struct preview *P, const struct pv_step *s, int ind, const char *prefix);

static void list_out(FILE *out, const struct preview *P, const struct pv_step *v, size_t n, int ind,
		     const char *prefix)
{
	for (size_t i = 0; i < n; i++)
		step_out(out, P, &v[i], ind, prefix);
}

static void step_out(FILE *out, const struct preview *P, const struct pv_step *s, int ind, const char *prefix)
{
	const struct step *st = s->ps->st;
	struct sbuf head = {0};
	if (prefix)
		sbuf_adds(&head, prefix);
	if (s->action == ACT_GROUP)
		sbuf_addf(&head, "\xe2\x96\xb8 %s", s->title);
	else if (s->action == ACT_USES)
		sbuf_addf(&head, "\xe2\x96\xb8 %s \xe2\x80\x94 uses %s.%s", st->name ? st->name : s->ps->id, st->mod,
			  st->action);
	else if (s->phase == 3)
		sbuf_adds(&head, s->title);
	else if (s->number && s->phase != 0)
		sbuf_addf(&head, "[%d/%d] %s", s->number, P->plan->nleaves, s->title);
	else
		sbuf_addf(&head, "\xe2\x80\xa2 %s", s->title);
	if (strcmp(s->ps->id, s->title) && s->action != ACT_USES)
		sbuf_addf(&head, " (%s)", s->ps->id);
	fprintf(out, "%*s%s%s%s", ind, "", ui_c("bold"), sbuf_str(&head), ui_c("reset"));
	sbuf_release(&head);
	bool show_hosts = s->nhosts && (s->nhosts > 1 || strcmp(s->hosts[0].host->name, "local"));
	if (show_hosts) {
		fputs(" ", out);
		for (size_t h = 0; h < s->nhosts; h++)
			fprintf(out, "%s@%s", h ? ", " : "", s->hosts[h].host->name);
	}
	if (s->never && s->when != PV_FALSE)
		fprintf(out, " %s(never runs)%s", ui_c("warn"), ui_c("reset"));
	fputc('\n', out);
	int in = ind + 4;
	for (size_t a = 0; a < s->nargs; a++)
		fprintf(out, "%*swith %s = %s\n", in, "", s->args[a].name, s->args[a].value);
	if (s->action == ACT_CONFIRM || s->action == ACT_NOTE)
		lines(out, in, s->action == ACT_CONFIRM ? "confirm: " : "note: ", s->nhosts ? s->hosts[0].text : "");
	if (s->action == ACT_CONFIRM)
		fprintf(out, "%*s%s\n", in, "",
			P->yes ? "approved by --yes without asking"
			       : "asks the operator (y/N); without a terminal the run pauses (exit 4) until 'runbook "
				 "resume --yes'");
	if (s->action != ACT_GROUP && s->action != ACT_USES) {
		if (s->same || s->nhosts <= 1) {
			if (s->nhosts)
				host_fields(out, in, s, &s->hosts[0], false);
		} else {
			for (size_t h = 0; h < s->nhosts; h++)
				host_fields(out, in, s, &s->hosts[h], true);
		}
	}
	if (s->hint)
		lines(out, in, "hint if it fails: ", s->hint);
	struct sbuf mods = {0};
	if (s->parallel)
		sbuf_addf(&mods, "%d hosts at a time", s->parallel);
	if (s->timeout_ms) {
		char d[32];
		format_duration(d, sizeof(d), s->timeout_ms);
		sbuf_addf(&mods, "%stimeout %s", mods.len ? " · " : "", d);
	}
	if (st->attempts > 1) {
		char d[32];
		format_duration(d, sizeof(d), st->delay_ms);
		sbuf_addf(&mods, "%sretry %d attempts, %s apart", mods.len ? " · " : "", st->attempts, d);
		if (st->backoff > 1)
			sbuf_addf(&mods, " \xc3\x97%g each time", st->backoff);
	}
	if (st->allow_failure)
		sbuf_addf(&mods, "%sallow_failure: a failure does not stop the run", mods.len ? " · " : "");
	if (st->probe)
		sbuf_addf(&mods, "%sprobe: only reads (runs under plan --check)", mods.len ? " · " : "");
	if (mods.len)
		fprintf(out, "%*s%s\n", in, "", sbuf_str(&mods));
	sbuf_release(&mods);
	if (s->action == ACT_RUN && (st->rc_any || st->nrcs > 1 || (st->nrcs == 1 && st->rcs[0] != 0))) {
		fprintf(out, "%*sexpect rc: ", in, "");
		if (st->rc_any)
			fputs("any", out);
		for (size_t r = 0; !st->rc_any && r < st->nrcs; r++)
			fprintf(out, "%s%d", r ? ", " : "", st->rcs[r]);
		fputc('\n', out);
	}
	if (s->expect_out)
		fprintf(out, "%*sexpect stdout: /%s/\n", in, "", s->expect_out);
	if (s->expect_err)
		fprintf(out, "%*sexpect stderr: /%s/\n", in, "", s->expect_err);
	for (size_t c = 0; c < s->ncaps; c++)
		fprintf(out, "%*scapture %s: /%s/\n", in, "", s->caps[c].name, s->caps[c].value);
	for (size_t d = 0; d < s->ndiags; d++) {
		fprintf(out, "%*sdiagnose /%s/%s", in, "", s->diags[d].pattern, s->diags[d].fail ? " (fails the step)" : "");
		if (s->diags[d].hint)
			fprintf(out, " \xe2\x86\x92 %s", s->diags[d].hint);
		fputc('\n', out);
	}
	if (st->when) {
		if (s->when == PV_RUNTIME)
			fprintf(out, "%*swhen: %sdecided at run time: %s%s\n", in, "", ui_c("warn"), st->when_src,
				ui_c("reset"));
		else if (s->when == PV_MIXED) {
			fprintf(out, "%*swhen: %s \xe2\x80\x94 true on", in, "", st->when_src);
			for (size_t h = 0, k = 0; h < s->nhosts; h++)
				if (s->hosts[h].when == PV_TRUE)
					fprintf(out, "%s %s", k++ ? "," : "", s->hosts[h].host->name);
			fputs(" only\n", out);
		} else
			fprintf(out, "%*swhen: %s \xe2\x80\x94 %s\n", in, "", st->when_src, when_word(s->when));
	}
	if (s->nundo) {
		if (s->undo_by)
			fprintf(out, "%*s%sundo (not run by a rollback: the undo of %s replaces it):%s\n", in, "", ui_c("dim"),
				s->undo_by->id, ui_c("reset"));
		else
			fprintf(out, "%*s%sundo:%s\n", in, "", ui_c("dim"), ui_c("reset"));
		list_out(out, P, s->undo, s->nundo, in + 2, "\xe2\x86\xa9 ");
	}
	if (s->forward && s->action != ACT_GROUP && s->action != ACT_USES && s->action != ACT_NOTE && !s->never) {
		if (st->allow_failure)
			fprintf(out, "%*sif it fails: the run goes on (allow_failure)\n", in, "");
		else if (P->plan->rb->on_failure_stop)
			fprintf(out, "%*sif it fails: the run stops, nothing is undone\n", in, "");
		else if (s->nrollback) {
			fprintf(out, "%*sif it fails, undone (newest first): ", in, "");
			for (size_t r = 0; r < s->nrollback; r++)
				fprintf(out, "%s%s%s", r ? ", " : "", s->rollback[r].unit->id,
					s->rollback[r].partial ? " (on the hosts done before)"
				: s->rollback[r].conditional ? " (if it ran)" : "");
			if (s->bare)
				fprintf(out, "; %d earlier step%s without undo", s->bare, s->bare > 1 ? "s" : "");
			fputc('\n', out);
		} else {
			fprintf(out, "%*sif it fails: nothing to undo", in, "");
			if (s->bare)
				fprintf(out, " (%d earlier step%s without undo)", s->bare, s->bare > 1 ? "s" : "");
			fputc('\n', out);
		}
	}
	for (size_t w = 0; w < s->nwarns; w++)
		fprintf(out, "%*s%swarning: %s%s\n", in, "", ui_c("warn"), s->warns[w], ui_c("reset"));
	list_out(out, P, s->kids, s->nkids, ind + 2, NULL);
}

/* The hosts the steps run on (undos and finally included). */
static void hosts_used(const struct pv_step *v, size_t n, const struct host **seen, size_t *nseen)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t h = 0; h < v[i].nhosts; h++) {
			size_t k = 0;
			while (k < *nseen && seen[k] != v[i].hosts[h].host)
				k++;
			if (k == *nseen)
				seen[(*nseen)++] = v[i].hosts[h].host;
		}
		hosts_used(v[i].kids, v[i].nkids, seen, nseen);
		hosts_used(v[i].undo, v[i].nundo, seen, nseen);
	}
}

void preview_text(const struct preview *P, FILE *out)
{
	const struct plan *p = P->plan;
	const struct runbook *rb = p->rb;
	fprintf(out, "%srunbook %s \xe2\x80\x94 plan for target %s%s (nothing has run%s)\n", ui_c("bold"), rb->name,
		p->target, ui_c("reset"), P->checked ? " but the preconditions and probes" : "");
	if (rb->description)
		lines(out, 2, "", rb->description);
	fprintf(out, "  file: %s\n", rb->path);
	fprintf(out, "  on failure: %s\n",
		rb->on_failure_stop ? "stop (nothing is undone; 'runbook rollback RUN' can undo later)"
				    : "roll back (the undos of the completed steps run, newest first)");
	if (p->nparams) {
		fprintf(out, "  params:\n");
		for (size_t i = 0; i < p->nparams; i++) {
			const struct param_value *pv = &p->params[i];
			fprintf(out, "    %s = %s  %s(%s)%s\n", pv->def->name,
				!pv->value ? "(unset)" : pv->def->secret ? "***" : pv->value, ui_c("dim"), pv->source,
				ui_c("reset"));
		}
	}
	if (rb->nvars) {
		fprintf(out, "  vars:\n");
		for (size_t i = 0; i < rb->nvars; i++) {
			const struct binding *b = scope_get(p->scopes[0], rb->vars[i].name);
			fprintf(out, "    %s = %s\n", rb->vars[i].name, !b ? "" : b->secret ? "***" : b->value);
		}
	}
	fprintf(out, "  hosts:\n");
	for (size_t i = 0; i < p->nhosts; i++) {
		bool used = false;
		for (size_t t = 0; t < p->ntarget; t++)
			used |= p->target_hosts[t] == p->hosts[i];
		char *d = preview_host_desc(p->hosts[i]);
		fprintf(out, "    %s: %s%s", p->hosts[i]->name, d, used ? " (target)" : "");
		free(d);
		/* the inventory's env goes before every command on the host */
		for (size_t e = 0; e < p->hosts[i]->nenv; e++) {
			char *m = mask_secrets(p, p->hosts[i]->env[e], strlen(p->hosts[i]->env[e]), NULL);
			fprintf(out, "%s%s", e ? " " : " \xc2\xb7 env ", m);
			free(m);
		}
		fputc('\n', out);
	}
	if (P->npre) {
		fprintf(out, "\n%s== preconditions%s%s\n", ui_c("bold"), P->checked ? " (checked)" : " (read-only: run first; "
						      "any failure stops the run, exit 5)", ui_c("reset"));
		list_out(out, P, P->pre, P->npre, 2, NULL);
	}
	fprintf(out, "\n%s== steps%s\n", ui_c("bold"), ui_c("reset"));
	list_out(out, P, P->steps, P->nsteps, 2, NULL);
	if (P->nfin) {
		fprintf(out, "\n%s== finally%s (runs once the run ends, whatever happened)\n", ui_c("bold"), ui_c("reset"));
		list_out(out, P, P->fin, P->nfin, 2, NULL);
	}
	fputc('\n', out);
	if (P->nwarns) {
		fprintf(out, "%s%zu warning%s:%s\n", ui_c("warn"), P->nwarns, P->nwarns > 1 ? "s" : "", ui_c("reset"));
		for (size_t i = 0; i < P->nwarns; i++)
			fprintf(out, "  %s:%d:%d: %s\n", P->warns[i].pos.file, P->warns[i].pos.line, P->warns[i].pos.col,
				P->warns[i].msg);
	}
	const struct host **seen = xcalloc(p->nhosts + 1, sizeof(*seen));
	size_t nseen = 0;
	hosts_used(P->pre, P->npre, seen, &nseen);
	hosts_used(P->steps, P->nsteps, seen, &nseen);
	hosts_used(P->fin, P->nfin, seen, &nseen);
	free(seen);
	fprintf(out, "%d step%s on %zu host%s; %zu warning%s%s\n", p->nleaves, p->nleaves == 1 ? "" : "s", nseen,
		nseen == 1 ? "" : "s", P->nwarns, P->nwarns == 1 ? "" : "s",
		P->checked ? (P->check_code == 0 ? "; every check passed"
			      : P->check_code == 5 ? "; a precondition FAILED (a run would stop before its first step)"
						   : "; a probe FAILED")
			   : "");
}
