/* runs.h — the runs recorded in a state folder: finding one by id, prefix
 * or runbook name, listing them newest first, and telling their state
 * (running, interrupted, paused, failed, succeeded…). */
#ifndef RB_RUNS_H
#define RB_RUNS_H

#include "journal.h"

struct run_info {
	char *id, *dir;
	struct run_state rs;
	bool replayed;        /* rs is valid */
	char *error;          /* why the journal could not be read */
	bool live;            /* a process holds this run's lock right now */
	const char *state;    /* see run_state_name */
};

/* Every run in STATE/runs, replayed, newest first.  Returns the count. */
size_t runs_list(const char *state_dir, struct run_info **out);
void runs_free(struct run_info *v, size_t n);

/* Finds one run by exact id, unique prefix, or runbook name (its newest
 * run).  Returns the run folder's id (malloc'ed), or NULL with err set. */
char *run_find(const char *state_dir, const char *arg, struct rb_error *err);

/* Replays one run and tells its state.  0, or -1 with err set. */
int run_open(const char *state_dir, const char *id, struct run_info *ri, struct rb_error *err);
void run_info_release(struct run_info *ri);

/* "running", "interrupted", "connection lost", "paused", "failed",
 * "succeeded", "precondition failed", "rollback failed", or "unreadable". */
const char *run_state_name(const struct run_state *rs, bool live);
/* Can `resume` continue it? */
bool run_unfinished(const struct run_info *ri);

#endif
