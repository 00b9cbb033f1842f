/* cli.h — the parsed command line, and the commands main.c dispatches to:
 * cmd_run.c (run, resume, rollback), cmd_plan.c (plan), cmd_lint.c and
 * cmd_inspect.c (status, log, lock), cmd_trust.c (trust), cmd_archive.c
 * (archive verify, archive list). */
#ifndef RB_CLI_H
#define RB_CLI_H

#include "util.h"

struct opts {
	bool yes, dry_run, use_current, rerun_interrupted, brk, all, check, strict;
	int verbosity;
	long long lock_wait_ms;
	const char *state_dir, *inventory, *events, *target, *params_file, *format;
	const char *from_target;  /* resume --from-target HOST */
	const char **pnames, **pvalues;
	size_t np, pcap, vcap;
	const char **args;   /* the command and its arguments */
	size_t nargs, acap;
};

/* Prints "runbook: MESSAGE" and the --help pointer; returns exit 2. */
int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The runbook a command names (a file, or a name on the search path):
 * a malloc'ed path, or NULL after saying where it was looked for. */
char *runbook_arg(const char *arg);

int cmd_run(struct opts *o);
int cmd_plan(struct opts *o);
int cmd_lint(struct opts *o);
int cmd_resume(struct opts *o);
int cmd_rollback(struct opts *o);
int cmd_status(struct opts *o);
int cmd_log(struct opts *o);
int cmd_lock(struct opts *o);
int cmd_trust(struct opts *o);
int cmd_archive(struct opts *o);

struct host;
/* An SSH host by name: the inventory's entry, else the name as ssh would
 * take it (~/.ssh/config alias or DNS name).  NULL with err set. */
struct host *cli_ssh_host(const char *name, const char *inventory, struct rb_error *err);

#endif
