/* rundir.h — the state folder and one folder per run:
 *   STATE/runs/RUN_ID/logs/NN-ID.log   (0700 folders, 0600 files)
 * STATE is --state-dir, $RUNBOOK_STATE_DIR, $XDG_STATE_HOME/runbook or
 * ~/.local/state/runbook. */
#ifndef RB_RUNDIR_H
#define RB_RUNDIR_H

#include "util.h"

#include <sys/types.h>

/* The state folder for this invocation (malloc'ed); option may be NULL. */
char *state_dir_path(const char *option);

/* A new run id: NAME-YYYYMMDD-HHMMSS-xxxx, sortable and readable. */
char *run_id_new(const char *runbook_name, char *started_iso, size_t n);

/* Creates STATE/runs/ID/logs with mode 0700 (parents too).  Returns the
 * run folder (malloc'ed) or NULL with err set. */
char *run_dir_create(const char *state_dir, const char *run_id, struct rb_error *err);

/* Removes a folder and everything in it, symlinks not followed, best
 * effort (a run folder that was never recorded, a half-fetched one). */
void remove_tree(const char *path);

/* Opens (appending) the log of one step.  Returns an fd or -1. */
int step_log_open(const char *run_dir, int number, const char *id, const char *host, char **path);

/* mkdir -p with mode; 0 or -1 (errno). */
int mkdir_p(const char *path, mode_t mode);

#endif
