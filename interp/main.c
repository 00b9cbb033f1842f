/* main.c — the command line: global options, then one command.  Exit codes
 * are DESIGN §4: 0 ok, 1 a step failed, 2 bad input (nothing ran),
 * 3 rollback failed, 4 paused, 5 a precondition failed, 130 interrupted. */
#include "cli.h"
#include "engine.h"
#include "rundir.h"
#include "search.h"
#include "sig.h"
#include "ui.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RUNBOOK_VERSION
#define RUNBOOK_VERSION "0.0.0"
#endif

static const char usage[] =
	"usage: runbook [global options] COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  run RUNBOOK [-p k=v]... [--params F] [--inventory F] [--target T] [--yes]\n"
	"                      validate RUNBOOK (a file or a name) and run it\n"
	"                      (--dry-run: the same as plan)\n"
	"  plan RUNBOOK [same options] [--format text|markdown|json] [--check]\n"
	"                      show what a run would do, step by step and per host,\n"
	"                      without running anything; --check also runs the\n"
	"                      preconditions and the probe steps (they only read)\n"
	"  lint FILE... [--strict]\n"
	"                      check runbooks and modules; --strict fails on warnings\n"
	"  resume [RUN] [--use-current] [--rerun-interrupted] [-p secret=v]\n"
	"                      continue a run that was interrupted, paused or failed\n"
	"                      (default: the most recent unfinished run); a run\n"
	"                      whose rollback began goes on rolling back\n"
	"  resume --from-target HOST [RUN] [--inventory F]\n"
	"                      continue a run from the journal mirror on an SSH\n"
	"                      host, when the machine that ran it is gone\n"
	"  rollback RUN [--yes] [--rerun-interrupted] [-p secret=v]\n"
	"                      undo what RUN completed, newest first (asks first\n"
	"                      unless --yes)\n"
	"  status [RUN] [--all] [--format text|json]\n"
	"                      recent runs, or one run step by step and what resume\n"
	"                      would do next\n"
	"  log RUN [STEP]      the output of a run's steps\n"
	"  lock TARGET [--break] [--inventory F]\n"
	"                      who holds the lock on a target (and, for an SSH host\n"
	"                      of the inventory, its lock on the host); --break\n"
	"                      removes it\n"
	"  trust HOST [--inventory F] [--yes]\n"
	"                      show the key an SSH host offers and pin it in its\n"
	"                      known_hosts once you confirm\n"
	"  archive verify FILE  check an archive against its manifest (FILE.manifest.json)\n"
	"  archive list FILE [--format text|json]\n"
	"                      what an archive holds, with each file's SHA-256 in json\n"
	"  list                the runbooks found on the search path\n"
	"\n"
	"global options:\n"
	"  --yes               approve every confirm step\n"
	"  --state-dir DIR     where runs are recorded (default $RUNBOOK_STATE_DIR,\n"
	"                      $XDG_STATE_HOME/runbook or ~/.local/state/runbook)\n"
	"  --inventory F       hosts, groups and param values\n"
	"  --events FILE       append one JSON object per event to FILE\n"
	"  --lock-wait DURATION  wait up to DURATION for a target's lock (run, resume,\n"
	"                      rollback)\n"
	"  -v, --verbose       show commands and check output\n"
	"  -q, --quiet         show only failures and the summary line\n"
	"  --help, --version\n"
	"\n"
	"exit codes: 0 ok, 1 a step failed (rolled back or stopped), 2 bad input\n"
	"(nothing ran), 3 the rollback failed (needs a human), 4 paused for a\n"
	"confirmation, 5 a precondition failed or an SSH host cannot be reached or\n"
	"trusted (nothing changed), 130 interrupted.\n";

static const char *const cmds[] = {"run", "list", "plan", "resume", "rollback", "status", "log", "lint",
				   "trust", "lock", "archive"};

int bad_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("runbook: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nrunbook: see 'runbook --help'\n", stderr);
	return EXIT_BAD;
}

char *runbook_arg(const char *arg)
{
	char *path = runbook_find(arg);
	if (!path)
		fprintf(stderr, "runbook: runbook '%s' not found (a file, or a name looked up in RUNBOOK_PATH, ./runbooks and %s/runbooks)\n",
			arg, RUNBOOK_DATADIR);
	return path;
}

static bool valid_pname(const char *s, size_t n)
{
	if (!n || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_'))
			return false;
	return true;
}

/* Options may come before or after the command and its arguments. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
#define NEED_VALUE()                                                         \
	do {                                                                 \
		if (i + 1 >= argc)                                           \
			return bad_usage("option '%s' needs a value", a);    \
	} while (0)
		if (!strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "--version"))
			continue; /* handled by main once the line is read */
		if (!strcmp(a, "--yes") || !strcmp(a, "-y"))
			o->yes = true;
		else if (!strcmp(a, "--dry-run"))
			o->dry_run = true;
		else if (!strcmp(a, "--from-target")) {
			NEED_VALUE();
			o->from_target = argv[++i];
		} else if (!strcmp(a, "--use-current"))
			o->use_current = true;
		else if (!strcmp(a, "--rerun-interrupted"))
			o->rerun_interrupted = true;
		else if (!strcmp(a, "--break"))
			o->brk = true;
		else if (!strcmp(a, "--all"))
			o->all = true;
		else if (!strcmp(a, "--check"))
			o->check = true;
		else if (!strcmp(a, "--strict"))
			o->strict = true;
		else if (!strcmp(a, "--lock-wait")) {
			NEED_VALUE();
			if (parse_duration(argv[++i], &o->lock_wait_ms) < 0)
				return bad_usage("--lock-wait %s: write a duration such as 30s, 5m or 1h", argv[i]);
		} else if (!strcmp(a, "--format")) {
			NEED_VALUE();
			o->format = argv[++i];
			if (!strcmp(o->format, "md"))
				o->format = "markdown";
			if (strcmp(o->format, "text") && strcmp(o->format, "json") && strcmp(o->format, "markdown"))
				return bad_usage("--format %s: write --format text, markdown or json", o->format);
		}
		else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
			o->verbosity = 1;
		else if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
			o->verbosity = -1;
		else if (!strcmp(a, "--state-dir")) {
			NEED_VALUE();
			o->state_dir = argv[++i];
		} else if (!strcmp(a, "--inventory") || !strcmp(a, "-i")) {
			NEED_VALUE();
			o->inventory = argv[++i];
		} else if (!strcmp(a, "--events")) {
			NEED_VALUE();
			o->events = argv[++i];
		} else if (!strcmp(a, "--target") || !strcmp(a, "-t")) {
			NEED_VALUE();
			o->target = argv[++i];
		} else if (!strcmp(a, "--params")) {
			NEED_VALUE();
			o->params_file = argv[++i];
		} else if (!strcmp(a, "-p") || !strcmp(a, "--param")) {
			NEED_VALUE();
			const char *kv = argv[++i];
			const char *eq = strchr(kv, '=');
			if (!eq || !valid_pname(kv, (size_t)(eq - kv)))
				return bad_usage("'-p %s': write -p NAME=VALUE", kv);
			char *name = xstrndup(kv, (size_t)(eq - kv));
			VEC_PUSH(o->pnames, o->np, o->pcap, name);
			o->np--;
			VEC_PUSH(o->pvalues, o->np, o->vcap, eq + 1);
		} else if (!strncmp(a, "-p", 2) && strchr(a, '=')) {
			const char *kv = a + 2;
			const char *eq = strchr(kv, '=');
			if (!valid_pname(kv, (size_t)(eq - kv)))
				return bad_usage("'%s': write -p NAME=VALUE", a);
			VEC_PUSH(o->pnames, o->np, o->pcap, xstrndup(kv, (size_t)(eq - kv)));
			o->np--;
			VEC_PUSH(o->pvalues, o->np, o->vcap, eq + 1);
		} else if (!strcmp(a, "--")) {
			for (i++; i < argc; i++)
				VEC_PUSH(o->args, o->nargs, o->acap, argv[i]);
		} else if (a[0] == '-' && a[1]) {
			return bad_usage("unknown option '%s'", a);
		} else {
			VEC_PUSH(o->args, o->nargs, o->acap, a);
		}
#undef NEED_VALUE
	}
	return 0;
}

static void list_cb(void *ctx, const char *name, const char *path)
{
	struct rb_error err = {0};
	struct doc *d = doc_load(path, &err);
	const char *desc = "";
	struct node *n = d ? node_get(d->root, "description") : NULL;
	if (n && n->kind == NODE_SCALAR)
		desc = n->str;
	size_t len = strcspn(desc, "\n");
	printf("%-28s %.*s\n", name, (int)len, desc);
	doc_free(d);
	rb_error_release(&err);
}

int main(int argc, char **argv)
{
	search_set_argv0(argv[0]);
	struct opts o = {0};
	int code = parse_args(argc, argv, &o);
	if (code)
		goto out;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			goto out;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("runbook %s\n", RUNBOOK_VERSION);
			goto out;
		}
	}
	if (!o.nargs) {
		fputs(usage, stderr);
		code = EXIT_BAD;
		goto out;
	}
	const char *cmd = o.args[0];
	/* an option a command does not take is refused, never ignored */
	bool plan = !strcmp(cmd, "plan") || (!strcmp(cmd, "run") && o.dry_run);
	if (o.check && !plan && strcmp(cmd, "run")) {
		code = bad_usage("--check is an option of 'plan'");
		goto out;
	}
	if ((plan || !strcmp(cmd, "lint")) && (o.events || o.lock_wait_ms)) {
		code = bad_usage("%s takes no %s: it runs nothing and locks nothing", plan ? "plan" : "lint",
				 o.events ? "--events" : "--lock-wait");
		goto out;
	}
	if (o.from_target && strcmp(cmd, "resume")) {
		code = bad_usage("--from-target is an option of 'resume'");
		goto out;
	}
	if (o.strict && strcmp(cmd, "lint")) {
		code = bad_usage("--strict is an option of 'lint'");
		goto out;
	}
	if (o.format && !plan && strcmp(cmd, "run") && strcmp(cmd, "status") && strcmp(cmd, "log") &&
	    strcmp(cmd, "archive")) {
		code = bad_usage("--format is an option of 'plan', 'status', 'log' and 'archive list'");
		goto out;
	}
	sig_init();
	if (!strcmp(cmd, "run"))
		code = cmd_run(&o);
	else if (!strcmp(cmd, "plan"))
		code = cmd_plan(&o);
	else if (!strcmp(cmd, "lint"))
		code = cmd_lint(&o);
	else if (!strcmp(cmd, "resume"))
		code = cmd_resume(&o);
	else if (!strcmp(cmd, "rollback"))
		code = cmd_rollback(&o);
	else if (!strcmp(cmd, "status"))
		code = cmd_status(&o);
	else if (!strcmp(cmd, "log"))
		code = cmd_log(&o);
	else if (!strcmp(cmd, "lock"))
		code = cmd_lock(&o);
	else if (!strcmp(cmd, "list")) {
		runbook_each(list_cb, NULL);
	} else if (!strcmp(cmd, "trust")) {
		code = cmd_trust(&o);
	} else if (!strcmp(cmd, "archive")) {
		code = cmd_archive(&o);
	} else {
		code = EXIT_BAD;
		struct sbuf sb = {0};
		sbuf_addf(&sb, "unknown command '%s'", cmd);
		sbuf_add_suggestion(&sb, cmd, cmds, ARRAY_LEN(cmds));
		fprintf(stderr, "runbook: %s\n", sbuf_str(&sb));
		sbuf_release(&sb);
	}
out:
	for (size_t i = 0; i < o.np; i++)
		free((char *)o.pnames[i]);
	free(o.pnames);
	free(o.pvalues);
	free(o.args);
	return code;
}
