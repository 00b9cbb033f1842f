/* preview_markdown.c — `runbook plan --format markdown`: the change-ticket
 * checklist.  It reads like the procedures ops teams write by hand (the
 * seed documents): what is planned, a section per group, one box to tick
 * per step with its command, check and undo, what a failure at each step
 * undoes, and the confirmations the operator will be asked for. */
#include "preview.h"

#include "runbook.h"
#include "steps.h"

#include <stdlib.h>
#include <string.h>

/* A fence longer than any run of backticks in text. */
static void code(FILE *out, int ind, const char *lang, const char *text)
{
	int run = 0, longest = 0;
	for (const char *p = text; *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	int n = longest >= 3 ? longest + 1 : 3;
	fprintf(out, "%*s%.*s%s\n", ind, "", n, "``````````````````````````````", lang);
	for (const char *p = text;;) {
		size_t len = strcspn(p, "\n");
		fprintf(out, "%*s%.*s\n", len ? ind : 0, "", (int)len, p);
		if (!p[len] || !p[len + 1])
			break;
		p += len + 1;
	}
	fprintf(out, "%*s%.*s\n\n", ind, "", n, "``````````````````````````````");
}

/* Inline code: `text`, with a longer fence when text holds backticks. */
static void icode(FILE *out, const char *text)
{
	bool tick = strchr(text, '`') != NULL;
	fprintf(out, "%s%s%s", tick ? "`` " : "`", text, tick ? " ``" : "`");
}

/* Text from the runbook, escaped so that Markdown shows it as written:
 * a placeholder such as <capture tag> is not an HTML tag, *** is not
 * emphasis. */
static void escape(struct sbuf *sb, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] && strchr("\\`*_[]<>#|", s[i]))
			sbuf_addc(sb, '\\');
		sbuf_addc(sb, s[i]);
	}
}

static void text(FILE *out, const char *s, size_t n)
{
	struct sbuf sb = {0};
	escape(&sb, s, n);
	fputs(sbuf_str(&sb), out);
	sbuf_release(&sb);
}

/* A value in a table cell: a code span in which | is escaped (GFM splits
 * cells on it even there) and a line break shows as ⏎. */
static void cell(FILE *out, const char *v)
{
	if (!*v) {
		fputs("(empty)", out);
		return;
	}
	bool tick = strchr(v, '`') != NULL;
	fputs(tick ? "`` " : "`", out);
	for (; *v; v++)
		if (*v == '|')
			fputs("\\|", out);
		else if (*v == '\n')
			fputs("\xe2\x8f\x8e", out);
		else
			fputc(*v, out);
	fputs(tick ? " ``" : "`", out);
}

/* Prose: one paragraph line per source line, indented. */
static void prose(FILE *out, int ind, const char *s)
{
	for (const char *p = s;;) {
		size_t len = strcspn(p, "\n");
		fprintf(out, "%*s", len ? ind : 0, "");
		text(out, p, len);
		fputc('\n', out);
		if (!p[len] || !p[len + 1])
			break;
		p += len + 1;
	}
}

/* A note line "- LABEL: TEXT" with the text escaped. */
static void note_line(struct sbuf *sb, int ind, const char *label, const char *s, const char *tail)
{
	sbuf_addf(sb, "%*s- %s", ind, "", label);
	/* one list item: its text on one line */
	size_t from = sb->len;
	if (s)
		escape(sb, s, strlen(s));
	for (size_t i = from; i < sb->len; i++)
		if (sb->buf[i] == '\n')
			sb->buf[i] = ' ';
	sbuf_addf(sb, "%s\n", tail ? tail : "");
}

static void hosts_of(FILE *out, const struct pv_step *s)
{
	if (!s->nhosts)
		return;
	fputs(" \xe2\x80\x94 on ", out);
	for (size_t h = 0; h < s->nhosts; h++) {
		fputs(h ? ", " : "", out);
		icode(out, s->hosts[h].host->name);
	}
}

static void host_fields(FILE *out, int ind, const struct pv_step *s, const struct pv_host *h, bool tag)
{
	if (tag) {
		fprintf(out, "%*sOn ", ind, "");
		icode(out, h->host->name);
		fputs(":\n", out);
	}
	if (s->action == ACT_RUN && h->text)
		code(out, ind, "sh", h->text);
	else if (s->action == ACT_TRANSFER && h->text)
		code(out, ind, "text", h->text);
	if (h->sudo || h->cwd || h->nenv) {
		fprintf(out, "%*s", ind, "");
		const char *sep = "";
		if (h->sudo && *h->sudo) {
			fprintf(out, "as user ");
			icode(out, h->sudo);
			fputs(" (sudo -n)", out);
			sep = "; ";
		} else if (h->sudo) {
			fputs("with sudo -n", out);
			sep = "; ";
		}
		if (h->cwd) {
			fprintf(out, "%sin ", sep);
			icode(out, h->cwd);
			sep = "; ";
		}
		for (size_t e = 0; e < h->nenv; e++) {
			fputs(e ? ", " : sep, out);
			fputs(e ? "" : "with ", out);
			icode(out, h->env[e]);
		}
		fputs("\n\n", out);
	}
	if (h->check) {
		fprintf(out, "%*sCheck:\n", ind, "");
		code(out, ind, "sh", h->check);
	}
	if (h->status)
		fprintf(out, "%*sChecked by `plan --check`: **%s**%s%s%s\n\n", ind, "", h->status, h->why ? " (" : "",
			h->why ? h->why : "", h->why ? ")" : "");
}

static void item(FILE *out, const struct preview *P, const struct pv_step *s, int ind, bool box);

static void details(FILE *out, const struct preview *P, const struct pv_step *s, int ind)
{
	const struct step *st = s->ps->st;
	if (s->action == ACT_CONFIRM || s->action == ACT_NOTE) {
		prose(out, ind, s->nhosts ? s->hosts[0].text : "");
		fputc('\n', out);
	}
	if (s->action != ACT_GROUP && s->action != ACT_USES) {
		if (s->same || s->nhosts <= 1) {
			if (s->nhosts)
				host_fields(out, ind, s, &s->hosts[0], false);
		} else {
			for (size_t h = 0; h < s->nhosts; h++)
				host_fields(out, ind, s, &s->hosts[h], true);
		}
	}
	struct sbuf notes = {0};
	if (st->when)
		sbuf_addf(&notes, "%*s- Only when `%s`%s\n", ind, "", st->when_src,
			  s->when == PV_RUNTIME ? " (decided at run time)"
			  : s->when == PV_FALSE ? ": false, **never runs**"
			  : s->when == PV_MIXED ? ": true on some hosts only"
						: ": true");
	if (s->parallel)
		sbuf_addf(&notes, "%*s- Runs on %d hosts at a time\n", ind, "", s->parallel);
	if (s->timeout_ms) {
		char d[32];
		format_duration(d, sizeof(d), s->timeout_ms);
		sbuf_addf(&notes, "%*s- Times out after %s\n", ind, "", d);
	}
	if (st->attempts > 1) {
		char d[32];
		format_duration(d, sizeof(d), st->delay_ms);
		sbuf_addf(&notes, "%*s- Up to %d attempts, %s apart", ind, "", st->attempts, d);
		if (st->backoff > 1)
			sbuf_addf(&notes, ", the wait \xc3\x97%g each time", st->backoff);
		sbuf_addc(&notes, '\n');
	}
	if (s->action == ACT_RUN && st->rc_any)
		sbuf_addf(&notes, "%*s- Any exit code is accepted\n", ind, "");
	else if (s->action == ACT_RUN && (st->nrcs > 1 || (st->nrcs == 1 && st->rcs[0] != 0))) {
		sbuf_addf(&notes, "%*s- Accepted exit codes: ", ind, "");
		for (size_t r = 0; r < st->nrcs; r++)
			sbuf_addf(&notes, "%s%d", r ? ", " : "", st->rcs[r]);
		sbuf_addc(&notes, '\n');
	}
	if (s->expect_out)
		sbuf_addf(&notes, "%*s- Output must match `/%s/`\n", ind, "", s->expect_out);
	if (s->expect_err)
		sbuf_addf(&notes, "%*s- Errors must match `/%s/`\n", ind, "", s->expect_err);
	for (size_t c = 0; c < s->ncaps; c++)
		sbuf_addf(&notes, "%*s- Captures `%s` from `/%s/`\n", ind, "", s->caps[c].name, s->caps[c].value);
	for (size_t d = 0; d < s->ndiags; d++) {
		char *label = xasprintf("If the output shows `/%s/`: ", s->diags[d].pattern);
		note_line(&notes, ind, label, s->diags[d].hint, s->diags[d].fail ? " (the step fails)" : NULL);
		free(label);
	}
	if (s->hint)
		note_line(&notes, ind, "If it fails: ", s->hint, NULL);
	if (st->allow_failure)
		sbuf_addf(&notes, "%*s- A failure here does not stop the run\n", ind, "");
	if (st->probe)
		sbuf_addf(&notes, "%*s- Only reads (a probe)\n", ind, "");
	if (s->action == ACT_CONFIRM && P->yes)
		sbuf_addf(&notes, "%*s- Approved by `--yes` without asking\n", ind, "");
	for (size_t w = 0; w < s->nwarns; w++)
		note_line(&notes, ind, "\xe2\x9a\xa0 ", s->warns[w], NULL);
	if (notes.len)
		fprintf(out, "%s\n", sbuf_str(&notes));
	sbuf_release(&notes);
	if (s->nundo) {
		if (s->undo_by)
			fprintf(out, "%*sUndo (not run by a rollback: the undo of `%s` replaces it):\n", ind, "",
				s->undo_by->id);
		else
			fprintf(out, "%*sUndo:\n", ind, "");
		/* one plain command: shown as a code block; anything more as
		 * items with every detail */
		const struct step *ust = s->nundo == 1 ? s->undo[0].ps->st : NULL;
		if (ust && s->undo[0].action == ACT_RUN && s->undo[0].same && s->undo[0].nhosts && !s->undo[0].nwarns &&
		    !ust->when && !ust->timeout_ms && ust->attempts <= 1 && !ust->expect_out && !ust->expect_err &&
		    !ust->ncaps && !ust->ndiags && !ust->rc_any && !ust->allow_failure &&
		    (ust->nrcs == 0 || (ust->nrcs == 1 && ust->rcs[0] == 0)))
			host_fields(out, ind, &s->undo[0], &s->undo[0].hosts[0], false);
		else
			for (size_t u = 0; u < s->nundo; u++)
				item(out, P, &s->undo[u], ind, false);
		fputc('\n', out);
	}
}

static void item(FILE *out, const struct preview *P, const struct pv_step *s, int ind, bool box)
{
	const struct step *st = s->ps->st;
	fprintf(out, "%*s- %s", ind, "", box ? "[ ] " : "");
	if (s->action == ACT_USES) {
		fprintf(out, "**%s** \xe2\x80\x94 uses `%s.%s`", st->name ? s->title : s->ps->id, st->mod, st->action);
		for (size_t a = 0; a < s->nargs; a++) {
			fprintf(out, "%s%s = ", a ? ", " : " with ", s->args[a].name);
			icode(out, s->args[a].value);
		}
	} else {
		/* (an unnamed undo step's title is its id already) */
		const char *title = s->action == ACT_CONFIRM && !st->name ? "Confirm" : s->title;
		fputs("**", out);
		if (s->number && (s->phase == 1 || s->phase == 2))
			fprintf(out, "%d. ", s->number);
		text(out, title, strlen(title));
		fputs("**", out);
		if (strcmp(s->ps->id, title))
			fprintf(out, " (`%s`)", s->ps->id);
	}
	bool show = s->nhosts && (s->nhosts > 1 || strcmp(s->hosts[0].host->name, "local"));
	if (show)
		hosts_of(out, s);
	fputs("\n\n", out);
	details(out, P, s, ind + 2);
	for (size_t k = 0; k < s->nkids; k++)
		item(out, P, &s->kids[k], ind + 2, box);
}

/* A list of steps under heading level `level`: groups become headings,
 * and steps after a group get a heading of their own so that no step
 * reads as part of the group before it. */
static void section(FILE *out, const struct preview *P, const struct pv_step *v, size_t n, int level, bool box)
{
	bool after_group = false;
	for (size_t i = 0; i < n; i++) {
		const struct pv_step *s = &v[i];
		if (s->action == ACT_GROUP) {
			int l = level > 6 ? 6 : level;
			fprintf(out, "%.*s ", l, "######");
			text(out, s->title, strlen(s->title));
			fprintf(out, "%s\n\n", s->never ? " (never runs)" : "");
			details(out, P, s, 0);
			section(out, P, s->kids, s->nkids, level + 1, box);
			after_group = true;
			continue;
		}
		if (after_group) {
			size_t j = i;
			while (j + 1 < n && v[j + 1].action != ACT_GROUP)
				j++;
			int l = level > 6 ? 6 : level;
			if (j > i && v[i].number && v[j].number)
				fprintf(out, "%.*s Steps %d\xe2\x80\x93%d\n\n", l, "######", v[i].number, v[j].number);
			else
				fprintf(out, "%.*s Then\n\n", l, "######");
			after_group = false;
		}
		item(out, P, s, 0, box);
	}
}

static void rollback_table(FILE *out, const struct preview *P, const struct pv_step *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct pv_step *s = &v[i];
		rollback_table(out, P, s->kids, s->nkids);
		if (s->action == ACT_GROUP || s->action == ACT_USES || s->action == ACT_NOTE || s->never)
			continue;
		fprintf(out, "| %d. ", s->number);
		text(out, s->title, strlen(s->title));
		fputs(" | ", out);
		if (s->ps->st->allow_failure) {
			fputs("nothing: the run goes on (allow_failure) | |\n", out);
			continue;
		}
		for (size_t r = 0; r < s->nrollback; r++)
			fprintf(out, "%s`%s`%s", r ? ", " : "", s->rollback[r].unit->id,
				s->rollback[r].partial ? " (on the hosts done before)"
				: s->rollback[r].conditional ? " (if it ran)" : "");
		if (!s->nrollback)
			fputs("nothing", out);
		fprintf(out, " | %d |\n", s->bare);
	}
}

static void confirms(FILE *out, const struct pv_step *v, size_t n, int *count)
{
	for (size_t i = 0; i < n; i++) {
		const struct pv_step *s = &v[i];
		confirms(out, s->kids, s->nkids, count);
		confirms(out, s->undo, s->nundo, count);
		if (s->action != ACT_CONFIRM || s->never)
			continue;
		if (!(*count)++)
			fputs("## Confirmations\n\nThe run stops at each of these until the operator answers yes.\n\n", out);
		fprintf(out, "- %s %d (`%s`):\n\n", s->forward ? "Step" : "In the undo of step", s->number, s->ps->id);
		prose(out, 2, s->nhosts ? s->hosts[0].text : "");
		fputc('\n', out);
	}
}

void preview_markdown(const struct preview *P, FILE *out)
{
	const struct plan *p = P->plan;
	const struct runbook *rb = p->rb;
	fprintf(out, "# Change plan: %s\n\n", rb->name);
	if (rb->description) {
		prose(out, 0, rb->description);
		fputc('\n', out);
	}
	fputs("| | |\n|---|---|\n", out);
	fprintf(out, "| Runbook | `%s` |\n", rb->path);
	fprintf(out, "| Target | `%s`: ", p->target);
	for (size_t t = 0; t < p->ntarget; t++) {
		char *d = preview_host_desc(p->target_hosts[t]);
		fprintf(out, "%s`%s` (%s)", t ? ", " : "", p->target_hosts[t]->name, d);
		free(d);
	}
	fputs(" |\n", out);
	fprintf(out, "| Steps | %d |\n", p->nleaves);
	if (P->checked)
		fprintf(out, "| Checked | %s |\n",
			P->check_code == 0   ? "the preconditions and probes passed (`plan --check`)"
			: P->check_code == 5 ? "**a precondition FAILED**: a run would stop before its first step"
			: P->check_code == 1 ? "**a probe FAILED**: a run would fail there"
					     : "interrupted");
	fprintf(out, "| On failure | %s |\n",
		rb->on_failure_stop ? "stop: nothing is undone (`runbook rollback RUN` undoes later)"
				    : "roll back: the undos of the completed steps run, newest first");
	for (size_t i = 0; i < p->nparams; i++) {
		const struct param_value *pv = &p->params[i];
		fprintf(out, "| Param `%s` | ", pv->def->name);
		if (!pv->value)
			fputs("(unset)", out);
		else
			cell(out, pv->def->secret ? "***" : pv->value);
		fprintf(out, " (%s) |\n", pv->source);
	}
	fputc('\n', out);
	if (P->nwarns) {
		fprintf(out, "> **%zu warning%s** \xe2\x80\x94 see [Warnings](#warnings).\n\n", P->nwarns,
			P->nwarns > 1 ? "s" : "");
	}
	if (P->npre) {
		fputs("## Before you start\n\nThese only read; if one fails, the run stops before changing anything.\n\n", out);
		section(out, P, P->pre, P->npre, 3, true);
	}
	fputs("## Steps\n\n", out);
	section(out, P, P->steps, P->nsteps, 3, true);
	if (P->nfin) {
		fputs("## Finally\n\nRuns once the run has ended, whatever happened.\n\n", out);
		section(out, P, P->fin, P->nfin, 3, true);
	}
	fputs("## Rollback\n\n", out);
	if (rb->on_failure_stop) {
		fputs("`on_failure: stop`: a failure stops the run and nothing is undone. `runbook resume RUN` retries "
		      "the failed step; `runbook rollback RUN` undoes what was done, newest first.\n\n", out);
	} else {
		fputs("If a step fails, the undos of the steps completed before it run, newest first.\n\n"
		      "| If this step fails | Undone, newest first | Done before it, without undo |\n|---|---|---|\n", out);
		rollback_table(out, P, P->steps, P->nsteps);
		fputc('\n', out);
	}
	int count = 0;
	confirms(out, P->steps, P->nsteps, &count);
	if (P->nwarns) {
		fputs("## Warnings\n\n", out);
		for (size_t i = 0; i < P->nwarns; i++)
			fprintf(out, "- `%s:%d:%d` %s\n", P->warns[i].pos.file, P->warns[i].pos.line, P->warns[i].pos.col,
				P->warns[i].msg);
		fputc('\n', out);
	}
}
