/* steps.c — the step kinds: what each YAML action key accepts and how one
 * attempt of it runs.  Structural kinds (group, uses) are walked by the
 * engine and have no run function. */
#include "steps.h"

#include "engine.h"
#include "sig.h"
#include "ui.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODS_COMMON (MOD_ID | MOD_NAME | MOD_WHEN)
#define MODS_RUN                                                                                   \
	(MODS_COMMON | MOD_ON | MOD_SUDO | MOD_ENV | MOD_CWD | MOD_TIMEOUT | MOD_RETRY | MOD_EXPECT | \
	 MOD_CAPTURE | MOD_DIAGNOSE | MOD_CHECK | MOD_UNDO | MOD_ALLOW_FAILURE | MOD_PROBE | MOD_PARALLEL)

static bool rc_expected(const struct step *st, int rc)
{
	if (st->rc_any)
		return true;
	for (size_t i = 0; i < st->nrcs; i++)
		if (st->rcs[i] == rc)
			return true;
	return false;
}

static char *rcs_text(const struct step *st)
{
	struct sbuf sb = {0};
	for (size_t i = 0; i < st->nrcs; i++)
		sbuf_addf(&sb, "%s%d", i ? ", " : "", st->rcs[i]);
	return sbuf_detach(&sb);
}

int step_check(struct step_exec *x)
{
	const struct step *st = x->st;
	char *check = exec_render(x, st->check, 0);
	if (!check)
		return -1;
	char *cshown = exec_render(x, st->check, RENDER_MASK);
	stepio_log(x, "$ check: %s\n", cshown);
	struct exec_result res;
	bool was = x->matching;
	x->matching = false;
	exec_command(x, check, &res);
	stepio_finish(x);
	x->matching = was;
	stepio_log(x, "# check exit %d\n", res.rc);
	int ok = -1;
	if (res.lost) {
		x->interrupted = x->lost = true;
		x->why = xstrdup(res.error);
	} else if (res.error) {
		/* When the host was short of processes or memory, the check says
		 * nothing of the action, which did run: the step stops as
		 * interrupted, for resume to settle by the check once it can run
		 * (failed, resume would run the action a second time).  Any other
		 * reason (its cwd is gone, say) would recur: the step fails. */
		x->interrupted = res.short_of;
		x->why = xasprintf("check could not run: %s", res.error);
	} else if (res.interrupted) {
		x->interrupted = true;
		x->why = xstrdup("interrupted during the check");
	} else if (res.timed_out)
		x->why = xasprintf("check timed out: %s", cshown);
	else if (res.rc != 0)
		x->why = xasprintf("check failed (exit %d): %s", res.rc, cshown);
	else
		ok = 0;
	exec_result_release(&res);
	free(cshown);
	free(check);
	return ok;
}

/* Did sudo -n refuse for want of a password?  (Its own message is on
 * stderr, first; it exits 1 without running anything.) */
static bool sudo_refused(const struct step_exec *x)
{
	const struct sbuf *e = &x->out[1].keep;
	if (!e->buf)
		return false;
	return strstr(e->buf, "sudo: a password is required") || strstr(e->buf, "sudo: a terminal is required");
}

/* One attempt of a command step: the action, then expectations, captures,
 * diagnoses and the check.  0 on success, -1 with x->why set. */
static int run_command(struct step_exec *x)
{
	const struct step *st = x->st;
	char *cmd = exec_render(x, st->text, 0);
	if (!cmd)
		return -1;
	char *shown = exec_render(x, st->text, RENDER_MASK);
	stepio_begin(x);
	if (x->why) {
		free(cmd);
		free(shown);
		return -1;
	}
	stepio_log(x, "$ %s\n", shown);
	ui_note(x->depth, "cmd", "%s", shown);
	free(shown);
	struct exec_result res;
	x->matching = true;
	exec_command(x, cmd, &res);
	stepio_finish(x);
	free(cmd);
	x->rc = res.rc;
	stepio_log(x, "# exit %d\n", res.rc);
	int ok = -1;
	if (res.lost) {
		/* the command's fate is unknown: resume settles it by its check */
		x->interrupted = x->lost = true;
		x->why = xstrdup(res.error);
	} else if (res.error)
		x->why = xstrdup(res.error);
	else if (res.interrupted) {
		x->interrupted = true;
		x->why = xasprintf("interrupted by %s", sig_interrupt_text());
	} else if (res.timed_out) {
		char d[32];
		format_duration(d, sizeof(d), x->timeout_ms);
		x->why = xasprintf("timed out after %s", d);
	} else if (!rc_expected(st, res.rc) && sudo_refused(x)) {
		x->why = xasprintf("sudo wants a password%s%s: runbook runs 'sudo -n', which never asks; allow the "
				   "command without a password (NOPASSWD in sudoers) for this user",
				   strcmp(x->host->name, "local") ? " on " : "",
				   strcmp(x->host->name, "local") ? x->host->name : "");
	} else if (!rc_expected(st, res.rc)) {
		char *want = rcs_text(st);
		x->why = res.signal ? xasprintf("killed by signal %d (expected exit code %s)", res.signal, want)
				    : xasprintf("exit code %d (expected %s)", res.rc, want);
		free(want);
	} else {
		ok = 0;
	}
	exec_result_release(&res);
	if (ok == 0 && st->expect_out && !x->expect_hit[0]) {
		x->why = xasprintf("stdout never matched '%s'", st->expect_out->t->src);
		ok = -1;
	}
	if (ok == 0 && st->expect_err && !x->expect_hit[1]) {
		x->why = xasprintf("stderr never matched '%s'", st->expect_err->t->src);
		ok = -1;
	}
	for (size_t i = 0; ok == 0 && i < st->ncaps; i++)
		if (!x->cap_val[i]) {
			x->why = xasprintf("capture '%s' found no line matching '%s'", st->caps[i].name,
					   st->caps[i].pat.t->src);
			ok = -1;
		}
	for (size_t i = 0; ok == 0 && i < x->nhits; i++)
		if (x->hits[i].d->fail) {
			x->why = xasprintf("output matched '%s'", x->hits[i].d->pat.t->src);
			ok = -1;
		}
	if (ok == 0 && st->check) {
		/* the check reads the step's captures: bind them first */
		for (size_t i = 0; i < st->ncaps; i++)
			scope_set(x->lk.scope, st->caps[i].name, x->cap_val[i], false);
		ok = step_check(x);
	}
	return ok;
}

static int run_note(struct step_exec *x)
{
	char *text = exec_render(x, x->st->text, RENDER_MASK);
	if (!text)
		return -1;
	ui_note(x->depth, "note", "[%d/%d] %s", x->number, x->total, text);
	stepio_log(x, "note: %s\n", text);
	free(text);
	return 0;
}

static int run_confirm(struct step_exec *x)
{
	char *text = exec_render(x, x->st->text, RENDER_MASK);
	if (!text)
		return -1;
	stepio_log(x, "confirm: %s\n", text);
	if (exec_record(x, "confirm_ask", "text", text) < 0) {
		free(text);
		return -1;
	}
	if (x->eng->opt.yes) {
		if (exec_record(x, "confirm_answer", "answer", "approved by --yes") < 0) {
			free(text);
			return -1;
		}
		ui_note(x->depth, "confirm", "[%d/%d] %s \xe2\x80\x94 approved by --yes", x->number,
			x->total, text);
		stepio_log(x, "approved by --yes\n");
		free(text);
		return 0;
	}
	if (!x->eng->opt.tty) {
		exec_record(x, "confirm_answer", "answer", "paused: no terminal to ask");
		x->paused = true;
		x->why = xasprintf("confirmation needed: %s", text);
		free(text);
		return -1;
	}
	ui_note(x->depth, "confirm", "[%d/%d] %s", x->number, x->total, text);
	printf("%*s%sContinue? [y/N] %s", 2 * (x->depth + 1), "", ui_c("bold"), ui_c("reset"));
	fflush(stdout);
	char ans[64];
	int r = ui_read_answer(ans, sizeof(ans));
	if (r < 0 && sig_interrupted()) {
		x->interrupted = true;
		x->why = xstrdup("interrupted at the confirmation");
	} else if (r == 0 && ui_answer_yes(ans)) {
		stepio_log(x, "approved by the operator\n");
		free(text);
		return exec_record(x, "confirm_answer", "answer", "approved by the operator");
	} else {
		x->why = xstrdup("declined by the operator");
		exec_record(x, "confirm_answer", "answer", "declined by the operator");
	}
	stepio_log(x, "%s\n", x->why);
	free(text);
	return -1;
}

#define MODS_TRANSFER                                                                            \
	(MODS_COMMON | MOD_ON | MOD_SUDO | MOD_CWD | MOD_TIMEOUT | MOD_RETRY | MOD_CHECK | MOD_UNDO |    \
	 MOD_ALLOW_FAILURE | MOD_PARALLEL)

const struct step_kind step_kinds[] = {
	{"run", ACT_RUN, TMPL_SHELL, MODS_RUN, run_command, false, false},
	{"uses", ACT_USES, TMPL_TEXT,
	 MODS_COMMON | MOD_ON | MOD_SUDO | MOD_ENV | MOD_CWD | MOD_TIMEOUT | MOD_UNDO | MOD_WITH | MOD_PARALLEL, NULL,
	 false, false},
	{"confirm", ACT_CONFIRM, TMPL_TEXT, MODS_COMMON, run_confirm, false, false},
	{"note", ACT_NOTE, TMPL_TEXT, MODS_COMMON, run_note, false, false},
	{"group", ACT_GROUP, TMPL_TEXT,
	 MOD_ID | MOD_WHEN | MOD_ON | MOD_SUDO | MOD_ENV | MOD_CWD | MOD_TIMEOUT | MOD_UNDO | MOD_STEPS | MOD_PARALLEL,
	 NULL, false, false},
	/* archives are written under a temporary name and renamed once
	 * verified; an extract finds what an earlier attempt left */
	{"archive", ACT_TRANSFER, TMPL_TEXT, MODS_TRANSFER, run_archive, true, true},
	{"extract", ACT_TRANSFER, TMPL_TEXT, MODS_TRANSFER, run_extract, false, true},
	/* transfers land by an atomic rename: running one again is harmless */
	{"upload", ACT_TRANSFER, TMPL_TEXT, MODS_TRANSFER, run_upload, false, true},
	{"download", ACT_TRANSFER, TMPL_TEXT, MODS_TRANSFER, run_download, false, true},
	{"write", ACT_TRANSFER, TMPL_TEXT, MODS_TRANSFER, run_write, false, true},
};
const size_t step_kinds_count = ARRAY_LEN(step_kinds);

const struct step_kind *step_kind_find(const char *key)
{
	for (size_t i = 0; i < step_kinds_count; i++)
		if (!strcmp(step_kinds[i].key, key))
			return &step_kinds[i];
	return NULL;
}

/* Not in the table (no YAML key selects it): the undo check.c gives an
 * extract step that has none of its own. */
const struct step_kind extract_undo_kind = {"extract", ACT_TRANSFER, TMPL_TEXT, MODS_TRANSFER, run_extract_undo,
					    false, true};

bool step_is_header(const struct step *st)
{
	return st->kind->action == ACT_GROUP || st->kind->action == ACT_USES;
}

bool step_only_reads(const struct step *st)
{
	return st->probe || st->kind->readonly;
}

bool step_runs_again_safely(const struct step *st)
{
	return st->kind->rerun || step_only_reads(st);
}

bool step_can_stop_run(const struct step *st)
{
	return st->kind->action != ACT_NOTE && !st->allow_failure;
}

/* A diagnose hint's names, but for its pattern's groups. */
static void hint_each_name(const struct tmpl *t, const struct pattern *pat,
			   void (*fn)(void *ctx, const char *name, struct pos at), void *ctx)
{
	const struct regex *g = pat->re ? pat->re : pat->shape;
	for (size_t i = 0; t && i < t->n; i++) {
		const struct tseg *s = &t->segs[i];
		if (s->is_name && !(g && !strchr(s->text, '.') && regex_has_group(g, s->text)))
			fn(ctx, s->text, s->pos);
	}
}

void step_each_name(const struct step *st, void (*fn)(void *ctx, const char *name, struct pos at), void *ctx)
{
	tmpl_each_name(st->text, fn, ctx);
	tmpl_each_name(st->xsrc, fn, ctx);
	tmpl_each_name(st->xdest, fn, ctx);
	tmpl_each_name(st->xcontent, fn, ctx);
	tmpl_each_name(st->check, fn, ctx);
	tmpl_each_name(st->cwd, fn, ctx);
	tmpl_each_name(st->sudo_user, fn, ctx);
	tmpl_each_name(st->hint, fn, ctx);
	for (size_t e = 0; e < st->nenv; e++)
		tmpl_each_name(st->env[e].val, fn, ctx);
	for (size_t w = 0; w < st->nwith; w++)
		tmpl_each_name(st->with[w].val, fn, ctx);
	if (st->expect_out)
		tmpl_each_name(st->expect_out->t, fn, ctx);
	if (st->expect_err)
		tmpl_each_name(st->expect_err->t, fn, ctx);
	for (size_t c = 0; c < st->ncaps; c++)
		tmpl_each_name(st->caps[c].pat.t, fn, ctx);
	for (size_t d = 0; d < st->ndiags; d++) {
		tmpl_each_name(st->diags[d].pat.t, fn, ctx);
		hint_each_name(st->diags[d].hint, &st->diags[d].pat, fn, ctx);
	}
	expr_each_name(st->when, fn, ctx);
}
