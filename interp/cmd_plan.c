/* cmd_plan.c — the command that looks at a runbook without running it:
 * `plan` (= `run --dry-run`), which renders the resolved plan without
 * running anything, and writes nothing: no run folder, no lock, no log.
 * (`lint` is cmd_lint.c.) */
#include "cli.h"
#include "engine.h"
#include "preview.h"
#include "remote.h"
#include "sig.h"
#include "ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* plan --check: the engine's progress goes to stderr while it runs, so
 * that stdout holds only the document a tool reads (markdown, json). */
static int probe_quietly(struct plan *plan, struct engine_opts *eo, bool to_stderr)
{
	int saved = -1;
	fflush(stdout);
	if (to_stderr) {
		saved = dup(1);
		if (saved >= 0)
			dup2(2, 1);
	}
	/* the SSH hosts first, as a run connects them: an unknown key or a
	 * host that is down is what --check is for */
	struct rb_error err = {0};
	int code;
	if (remote_connect(plan, &err) < 0) {
		rb_error_print(&err, "runbook");
		code = sig_interrupted() ? EXIT_INTR : EXIT_PRECOND;
	} else {
		code = engine_probe(plan, eo);
	}
	rb_error_release(&err);
	fflush(stdout);
	if (saved >= 0) {
		dup2(saved, 1);
		close(saved);
	}
	return code;
}

int cmd_plan(struct opts *o)
{
	if (o->nargs != 2)
		return bad_usage("%s", o->nargs < 2 ? "'plan' needs a runbook (a file or a name)" : "'plan' takes one runbook");
	const char *format = o->format ? o->format : "text";
	bool text = !strcmp(format, "text");
	const char *arg = o->args[1];
	char *path = runbook_arg(arg);
	if (!path)
		return EXIT_BAD;
	struct rb_error err = {0};
	int code = EXIT_BAD;
	struct plan *plan = NULL;
	struct preview P = {0};
	bool ui_on = false;
	struct runbook *rb = runbook_load(path, &err);
	if (!rb)
		goto out;
	/* a plan is no run: what a run would name (run.id, run.dir,
	 * run.started) shows as a placeholder */
	struct run_input in = {
		.pnames = o->pnames,
		.pvalues = o->pvalues,
		.np = o->np,
		.params_file = o->params_file,
		.inventory = o->inventory,
		.target = o->target,
		.run_id = "<run.id>",
		.run_dir = "<run.dir>",
		.started = "<run.started>",
		.preview = true,
	};
	plan = plan_resolve(rb, &in, &err);
	if (!plan)
		goto out;
	struct ui_opts uo = {
		.color = text && ui_color_default(),
		.verbosity = o->verbosity,
	};
	if (ui_init(&uo, &err) < 0)
		goto out;
	ui_on = true;
	code = EXIT_OK;
	if (o->check) {
		struct journal off = {.fd = -1, .off = true};
		struct engine_opts eo = {.yes = o->yes, .tty = false, .grace_ms = 5000, .jn = &off,
					 .seen = preview_seen, .seen_ctx = &P};
		code = P.check_code = probe_quietly(plan, &eo, !text);
		journal_close(&off);
		P.checked = true;
		if (text)
			putchar('\n');
		if (code == EXIT_INTR)
			goto out;
	}
	preview_build(&P, plan, o->yes);
	if (!strcmp(format, "json"))
		preview_json(&P, stdout);
	else if (!strcmp(format, "markdown"))
		preview_markdown(&P, stdout);
	else
		preview_text(&P, stdout);
	fflush(stdout);
out:
	if (ui_on)
		ui_close();
	if (err.n || err.nwarn)
		rb_error_print(&err, "runbook");
	rb_error_release(&err);
	preview_free(&P);
	plan_free(plan);
	runbook_free(rb);
	free(path);
	return code;
}
