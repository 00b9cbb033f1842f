/* runs.c — see runs.h. */
#include "runs.h"

#include "lock.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *run_state_name(const struct run_state *rs, bool live)
{
	bool rolling = rs->rollback == RB_OPEN;
	if (live)
		return rolling ? "rolling back" : "running";
	if (!rs->end)
		return rolling ? "rollback interrupted" : "interrupted"; /* killed or crashed: no run_end */
	switch (rs->exit_code) {
	case 0: return rs->rollback == RB_DONE ? "rolled back" : "succeeded";
	case 3: return "rollback failed";
	case 4: return rolling ? "rollback paused" : "paused";
	case 5: return "precondition failed";
	case 130: return rolling ? "rollback interrupted" : "interrupted";
	case 1: {
		/* stopped by a lost SSH connection: not over, resumable */
		const char *st = jv_str(rs->end, "status");
		if (st && strstr(st, "lost the connection"))
			return rolling ? "rollback interrupted" : "connection lost";
		return rs->rollback == RB_DONE ? "rolled back" : "failed";
	}
	default: return rs->rollback == RB_DONE ? "rolled back" : "failed";
	}
}

bool run_unfinished(const struct run_info *ri)
{
	return ri->replayed && !ri->live && strcmp(ri->state, "succeeded") != 0 && strcmp(ri->state, "rolled back") != 0;
}

/* Is a process holding one of this run's locks now? */
static bool run_live(const char *state_dir, const struct run_state *rs)
{
	const struct jv *locks = jv_get(rs->start, "locks");
	for (size_t i = 0; locks && locks->t == JV_ARR && i < locks->n; i++) {
		if (locks->v[i].t != JV_STR)
			continue;
		bool live;
		char *run = NULL;
		char *d = lock_describe(state_dir, locks->v[i].s, &live, &run);
		bool mine = live && run && !strcmp(run, rs->run_id);
		free(d);
		free(run);
		if (mine)
			return true;
	}
	return false;
}

int run_open(const char *state_dir, const char *id, struct run_info *ri, struct rb_error *err)
{
	memset(ri, 0, sizeof(*ri));
	ri->id = xstrdup(id);
	ri->dir = xasprintf("%s/runs/%s", state_dir, id);
	char *path = xasprintf("%s/journal.jsonl", ri->dir);
	struct rb_error e = {0};
	int rc = journal_replay(path, &ri->rs, &e);
	free(path);
	if (rc < 0) {
		ri->error = xstrdup(e.n ? e.msgs[0] : "unreadable journal");
		for (size_t i = 0; i < e.n; i++)
			rb_error_add(err, "%s", e.msgs[i]);
		rb_error_release(&e);
		ri->state = "unreadable";
		return -1;
	}
	rb_error_release(&e);
	ri->replayed = true;
	ri->live = run_live(state_dir, &ri->rs);
	ri->state = run_state_name(&ri->rs, ri->live);
	return 0;
}

void run_info_release(struct run_info *ri)
{
	free(ri->id);
	free(ri->dir);
	free(ri->error);
	run_state_release(&ri->rs);
	memset(ri, 0, sizeof(*ri));
}

static long long started_ms(const struct run_info *ri)
{
	if (ri->replayed && ri->rs.epoch_ms)
		return ri->rs.epoch_ms;
	struct stat st;
	if (stat(ri->dir, &st) == 0)
		return (long long)st.st_mtime * 1000;
	return 0;
}

static int newest_first(const void *a, const void *b)
{
	const struct run_info *x = a, *y = b;
	long long ta = started_ms(x), tb = started_ms(y);
	if (ta != tb)
		return ta < tb ? 1 : -1;
	return strcmp(y->id, x->id);
}

static char **run_ids(const char *state_dir, size_t *n)
{
	char *dir = xasprintf("%s/runs", state_dir);
	DIR *d = opendir(dir);
	free(dir);
	char **v = NULL;
	size_t cap = 0;
	*n = 0;
	if (!d)
		return NULL;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			VEC_PUSH(v, *n, cap, xstrdup(e->d_name));
	closedir(d);
	return v;
}

size_t runs_list(const char *state_dir, struct run_info **out)
{
	size_t n;
	char **ids = run_ids(state_dir, &n);
	struct run_info *v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		struct rb_error err = {0};
		run_open(state_dir, ids[i], &v[i], &err);
		rb_error_release(&err);
		free(ids[i]);
	}
	free(ids);
	qsort(v, n, sizeof(*v), newest_first);
	*out = v;
	return n;
}

void runs_free(struct run_info *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_info_release(&v[i]);
	free(v);
}

/* The runbook name part of an id: NAME-YYYYMMDD-HHMMSS-xxxx. */
static bool id_of_runbook(const char *id, const char *name)
{
	size_t n = strlen(name), len = strlen(id);
	return len == n + 21 && !strncmp(id, name, n) && id[n] == '-';
}

char *run_find(const char *state_dir, const char *arg, struct rb_error *err)
{
	size_t n;
	char **ids = run_ids(state_dir, &n);
	char *found = NULL;
	size_t nprefix = 0;
	const char *first = NULL;
	for (size_t i = 0; i < n && !found; i++)
		if (!strcmp(ids[i], arg))
			found = xstrdup(ids[i]);
	if (!found) {
		/* a runbook name: its newest run by recorded start (ids only
		 * hold the second, and end in a random part) — before prefixes,
		 * so that "db" never means a run of "db-migrate" */
		struct run_info best = {0};
		for (size_t i = 0; i < n; i++) {
			if (!id_of_runbook(ids[i], arg))
				continue;
			struct run_info ri;
			struct rb_error e = {0};
			run_open(state_dir, ids[i], &ri, &e);
			rb_error_release(&e);
			if (!best.id || newest_first(&ri, &best) < 0) {
				run_info_release(&best);
				best = ri;
			} else {
				run_info_release(&ri);
			}
		}
		if (best.id)
			found = xstrdup(best.id);
		run_info_release(&best);
	}
	for (size_t i = 0; i < n && !found; i++)
		if (!strncmp(ids[i], arg, strlen(arg)) && nprefix++ == 0)
			first = ids[i];
	if (!found && nprefix == 1)
		found = xstrdup(first);
	if (!found) {
		if (nprefix > 1)
			rb_error_add(err, "'%s' matches %zu runs: give more of the run id (see 'runbook status')", arg,
				     nprefix);
		else
			rb_error_add(err, "no run '%s' in %s/runs (see 'runbook status')", arg, state_dir);
	}
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return found;
}
