/* remote.c — see remote.h. */
#include "remote.h"

#include "co.h"
#include "json.h"
#include "rundir.h"
#include "runs.h"
#include "sig.h"
#include "ssh.h"
#include "ui.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- which hosts ----------------------------------------------------------- */

/* The SSH hosts a run uses, each once, in order. */
struct host_set {
	struct host **v;
	size_t n, cap;
};

static void add_host(struct host_set *S, struct host *h)
{
	if (h->local)
		return;
	for (size_t j = 0; j < S->n; j++)
		if (S->v[j] == h)
			return;
	VEC_PUSH(S->v, S->n, S->cap, h);
}

static void add_hosts(struct host_set *S, const struct pstep *ps, size_t nps)
{
	for (size_t i = 0; i < nps; i++) {
		for (size_t k = 0; k < ps[i].nhosts; k++)
			add_host(S, ps[i].hosts[k]);
		add_hosts(S, ps[i].undo, ps[i].nundo);
	}
}

static struct host **remote_hosts(const struct plan *p, size_t *n)
{
	struct host_set S = {0};
	/* the target's hosts are locked even when no step runs there */
	for (size_t i = 0; i < p->ntarget; i++)
		add_host(&S, p->target_hosts[i]);
	add_hosts(&S, p->pre, p->npre);
	add_hosts(&S, p->steps, p->nsteps);
	add_hosts(&S, p->fin, p->nfin);
	*n = S.n;
	return S.v;
}

int remote_connect(struct plan *p, struct rb_error *err)
{
	size_t n;
	struct host **v = remote_hosts(p, &n);
	int rc = 0;
	for (size_t i = 0; i < n && !sig_interrupted(); i++) {
		if (host_connect(v[i], err) < 0)
			rc = -1;
	}
	free(v);
	return sig_interrupted() ? -1 : rc;
}

/* --- paths on the host ------------------------------------------------------ */

static char *rpath(const struct host *h, const char *rest)
{
	return xasprintf("%s/%s", h->state_dir, rest);
}

/* The state folder and its runs/, shared by every user of the host like
 * /tmp: 1777, so that another operator's lock can be seen and refused. */
static int ensure_base(struct host *h, char **why)
{
	const char *dirs[2] = {h->state_dir, NULL};
	char *runs = rpath(h, "runs");
	dirs[1] = runs;
	for (int i = 0; i < 2; i++) {
		bool exists;
		if (ssh_mkdir(h->tr, dirs[i], 0755, &exists, why) < 0) {
			if (!exists) {
				free(runs);
				return -1;
			}
			continue;
		}
		if (ssh_chmod(h->tr, dirs[i], 01777, why) < 0) {
			free(runs);
			return -1;
		}
	}
	free(runs);
	return 0;
}

/* --- locks ----------------------------------------------------------------- */

static bool pid_alive(long long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

enum take { TAKE_OK, TAKE_HELD, TAKE_ERROR };

/* One attempt at h's lock.  *who: the holder when HELD; *note: a warning
 * when a lock was taken over. */
static enum take take_one(struct host *h, const struct lock_holder *me, const char *mine, char **who, char **note,
			  char **why)
{
	char *dir = rpath(h, "lock"), *file = rpath(h, "lock/holder.json");
	enum take r = TAKE_ERROR;
	bool exists;
	if (ssh_mkdir(h->tr, dir, 0755, &exists, why) == 0) {
		r = ssh_put_bytes(h->tr, file, mine, strlen(mine), 0644, false, why) == 0 ? TAKE_OK : TAKE_ERROR;
		if (r == TAKE_ERROR) {
			/* an empty lock folder would refuse every later run */
			char *ignored = NULL;
			ssh_rmdir(h->tr, dir, &ignored);
			free(ignored);
		}
		goto out;
	}
	if (!exists)
		goto out;
	free(*why);
	*why = NULL;
	char *text = NULL;
	size_t n;
	if (ssh_get_bytes(h->tr, file, &text, &n, why) < 0) {
		free(*why);
		*why = NULL;
		*who = xasprintf("a runbook whose details are missing (%s holds no holder.json: a start that was cut "
				 "short?)", dir);
		r = TAKE_HELD;
		goto out;
	}
	char *perr = NULL;
	struct jv *v = json_parse(text, n, &perr);
	free(perr);
	const char *run = v ? jv_str(v, "run") : NULL, *machine = v ? jv_str(v, "machine") : NULL;
	long long pid = v ? jv_int(v, "pid", 0) : 0;
	char *desc = lock_holder_describe(text, NULL);
	bool same_run = run && !strcmp(run, me->run);
	bool here = machine && !strcmp(machine, me->machine);
	if (same_run || (here && !pid_alive(pid))) {
		if (ssh_put_bytes(h->tr, file, mine, strlen(mine), 0644, false, why) == 0) {
			r = TAKE_OK;
			if (!(same_run && here && pid == me->pid))
				*note = xasprintf("took over the lock on %s held by %s (%s)", h->name, desc,
						  same_run ? "the same run" : "that process is gone");
		}
	} else {
		*who = xasprintf("%s (remote lock %s)", desc, dir);
		r = TAKE_HELD;
	}
	free(desc);
	jv_free(v);
	free(text);
out:
	free(dir);
	free(file);
	return r;
}

static void unlock_one(struct remote_host *rh, const char *run_id)
{
	struct host *h = rh->h;
	if (!rh->locked || !h->tr || ssh_lost(h->tr))
		return;
	char *dir = rpath(h, "lock"), *file = rpath(h, "lock/holder.json");
	char *text = NULL, *why = NULL;
	size_t n;
	/* only our own: a lock broken and taken by someone else stays theirs */
	if (ssh_get_bytes(h->tr, file, &text, &n, &why) == 0) {
		char *run = NULL;
		char *d = lock_holder_describe(text, &run);
		if (run && !strcmp(run, run_id) && ssh_unlink(h->tr, file, &why) == 0)
			ssh_rmdir(h->tr, dir, &why);
		free(d);
		free(run);
	}
	free(why);
	free(text);
	free(dir);
	free(file);
	rh->locked = false;
}

int remote_lock(struct remote *R, struct plan *p, const struct lock_holder *me, long long wait_ms,
		struct rb_error *err)
{
	size_t n;
	struct host **v = remote_hosts(p, &n);
	R->v = xcalloc(n + 1, sizeof(*R->v));
	R->run_id = xstrdup(me->run);
	char *mine = lock_holder_json(me);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct remote_host *rh = &R->v[R->n++];
		rh->h = v[i];
		char *why = NULL;
		if (ensure_base(rh->h, &why) < 0) {
			rb_error_add(err, "host '%s': cannot prepare %s for the lock and the journal mirror: %s (set "
					  "'state_dir' in the inventory to a folder the user can write)",
				     rh->h->name, rh->h->state_dir, why);
			free(why);
			rc = -1;
			break;
		}
		long long until = now_ms() + wait_ms;
		for (;;) {
			char *who = NULL, *note = NULL;
			enum take t = take_one(rh->h, me, mine, &who, &note, &why);
			if (t == TAKE_OK) {
				rh->locked = true;
				if (note)
					VEC_PUSH(err->warns, err->nwarn, err->warncap, note);
				break;
			}
			if (t == TAKE_ERROR) {
				rb_error_add(err, "host '%s': cannot take the remote lock: %s", rh->h->name, why);
				free(why);
				rc = -1;
				break;
			}
			if (now_ms() >= until || sig_interrupted()) {
				rb_error_add(err,
					     "host '%s' is locked by %s; once you are sure that run is over, "
					     "'runbook lock %s --break' breaks it",
					     rh->h->name, who, rh->h->name);
				free(who);
				rc = -1;
				break;
			}
			free(who);
			struct pollfd pf = {sig_fd(), POLLIN, 0};
			if (poll(&pf, 1, 1000) > 0)
				sig_drain();
		}
	}
	R->holder = mine;
	free(v);
	if (rc < 0) {
		for (size_t i = 0; i < R->n; i++)
			unlock_one(&R->v[i], R->run_id);
	}
	return rc;
}

/* --- the mirror -------------------------------------------------------------- */

/* The state folder is shared like /tmp: a run's folder must be the login
 * user's own (owner, 0700, a real folder), or another account of the
 * host could plant a journal and a runbook there for a resume to run. */
static int own_dir(struct host *h, const char *dir, char **why)
{
	unsigned long me, uid, mode, hmode;
	char *e = NULL;
	if (ssh_lstat(h->tr, ".", &me, &hmode, &e) < 0 || ssh_lstat(h->tr, dir, &uid, &mode, why) < 0) {
		if (e && !*why)
			*why = e;
		else
			free(e);
		return -1;
	}
	free(e);
	if (uid != me || (mode & 0170000) != 0040000 || (mode & 077)) {
		*why = xasprintf("%s on %s is not the login user's own 0700 folder (owner %lu, mode %04lo): it is not "
				 "used",
				 dir, h->name, uid, mode & 07777);
		return -1;
	}
	return 0;
}

/* The seq of a journal record (0 if it has none). */
static long long record_seq(const char *line)
{
	const char *p = strstr(line, "\"seq\":");
	return p ? strtoll(p + 6, NULL, 10) : 0;
}

static void mirror_broken(struct remote_host *rh, const char *why)
{
	if (rh->broken)
		return;
	rh->broken = true;
	ui_error("warning: the journal mirror on host '%s' stopped: %s (the local journal is complete; the next "
		 "resume brings the mirror up to date)",
		 rh->h->name, why);
}

static void mirror_write(struct remote *R, const char *line, size_t n)
{
	long long seq = -1;
	for (size_t i = 0; i < R->n; i++) {
		struct remote_host *rh = &R->v[i];
		if (!rh->jf || rh->broken)
			continue;
		if (rh->copied_seq) {
			if (seq < 0)
				seq = record_seq(line);
			if (seq <= rh->copied_seq)
				continue;
		}
		char *why = NULL;
		if (ssh_append(rh->jf, line, n, &why) < 0) {
			mirror_broken(rh, why);
			ssh_append_close(rh->jf);
			rh->jf = NULL;
		}
		free(why);
	}
}

/* Sends the queued records, in order; the caller is the writer. */
static void mirror_flush(struct remote *R)
{
	while (R->nsent < R->qbase + R->nq) {
		char *l = R->q[R->nsent - R->qbase];
		mirror_write(R, l, strlen(l));
		free(l);
		R->q[R->nsent++ - R->qbase] = NULL;
	}
	/* all sent: the array starts afresh */
	R->qbase += R->nq;
	R->nq = 0;
}

/* Hosts of a `parallel` step record in turn, and a write to a host
 * waits for its socket, letting other tasks run: records are queued
 * (copied: the journal reuses its buffer) and one writer sends them in
 * journal order, while each recorder waits until its own record is out. */
static void mirror_record(void *ctx, const char *line, size_t n)
{
	struct remote *R = ctx;
	VEC_PUSH(R->q, R->nq, R->qcap, xstrndup(line, n));
	size_t mine = R->qbase + R->nq; /* counted over the whole run */
	if (R->writing) {
		while (R->nsent < mine)
			co_poll(NULL, 0, 1);
		return;
	}
	R->writing = true;
	mirror_flush(R);
	R->writing = false;
}

/* Copies one local file of the run folder to the host's mirror; *last
 * (if given) gets the seq of its last line. */
static int put_file(struct remote_host *rh, const char *local, const char *remote, long long *last, char **why)
{
	char *bytes;
	size_t n;
	if (read_file(local, &bytes, &n) < 0) {
		if (errno == ENOENT)
			return 0;
		*why = xasprintf("cannot read %s: %s", local, strerror(errno));
		return -1;
	}
	if (last) {
		/* the start of the last complete line */
		size_t e = n;
		while (e && bytes[e - 1] == '\n')
			e--;
		size_t b = e;
		while (b && bytes[b - 1] != '\n')
			b--;
		char *l = xstrndup(bytes + b, e - b);
		*last = record_seq(l);
		free(l);
	}
	int rc = ssh_put_bytes(rh->h->tr, remote, bytes, n, 0600, false, why);
	free(bytes);
	return rc;
}

static int mirror_host(struct remote_host *rh, const char *run_dir, const char *run_id, char **why)
{
	struct host *h = rh->h;
	char *rel = xasprintf("runs/%s", run_id);
	char *dir = rpath(h, rel), *mods = xasprintf("%s/modules", dir);
	free(rel);
	bool exists;
	int rc = -1;
	if (ssh_mkdir(h->tr, dir, 0700, &exists, why) < 0 && !exists)
		goto out;
	free(*why);
	*why = NULL;
	if (own_dir(h, dir, why) < 0 || (ssh_mkdir(h->tr, mods, 0700, &exists, why) < 0 && !exists))
		goto out;
	free(*why);
	*why = NULL;
	static const char *const files[] = {"runbook.yml", "params.json"};
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		char *l = xasprintf("%s/%s", run_dir, files[i]), *r = xasprintf("%s/%s", dir, files[i]);
		int prc = put_file(rh, l, r, NULL, why);
		free(l);
		free(r);
		if (prc < 0)
			goto out;
	}
	char *lmods = xasprintf("%s/modules", run_dir);
	DIR *d = opendir(lmods);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *l = xasprintf("%s/%s", lmods, e->d_name), *r = xasprintf("%s/%s", mods, e->d_name);
		int prc = put_file(rh, l, r, NULL, why);
		free(l);
		free(r);
		if (prc < 0) {
			closedir(d);
			free(lmods);
			goto out;
		}
	}
	if (d)
		closedir(d);
	free(lmods);
	/* the journal as it is now, then each record as it is written */
	char *lj = xasprintf("%s/journal.jsonl", run_dir), *rj = xasprintf("%s/journal.jsonl", dir);
	int prc = put_file(rh, lj, rj, &rh->copied_seq, why);
	if (prc == 0)
		rh->jf = ssh_append_open(h->tr, rj, 0600, why);
	free(lj);
	free(rj);
	rc = rh->jf ? 0 : -1;
out:
	free(dir);
	free(mods);
	return rc;
}

void remote_mirror_start(struct remote *R, const char *run_dir, struct journal *jn)
{
	if (!R->n)
		return;
	free(R->run_dir);
	R->run_dir = xstrdup(run_dir);
	for (size_t i = 0; i < R->n; i++) {
		char *why = NULL;
		if (R->v[i].locked && mirror_host(&R->v[i], run_dir, R->run_id, &why) < 0)
			mirror_broken(&R->v[i], why ? why : "cannot write it");
		free(why);
	}
	jn->mirror = mirror_record;
	jn->mirror_ctx = R;
}

void remote_reconnected(void *ctx, struct host *h)
{
	struct remote *R = ctx;
	for (size_t i = 0; i < R->n; i++) {
		struct remote_host *rh = &R->v[i];
		if (rh->h != h || !rh->locked)
			continue;
		char *who = NULL, *note = NULL, *why = NULL;
		/* the lock folder survives a reboot in /var/tmp, not in /tmp */
		struct lock_holder me = {0};
		enum take t = TAKE_ERROR;
		/* the records of other hosts' tasks wait while the mirror is
		 * copied again: none is lost, none is sent twice */
		while (R->writing)
			co_poll(NULL, 0, 1);
		R->writing = true;
		if (ensure_base(h, &why) < 0) {
			ui_error("warning: host '%s' came back without its state folder %s, which cannot be made "
				 "again: %s",
				 h->name, h->state_dir, why);
			free(why);
			why = NULL;
		}
		char *perr = NULL;
		struct jv *v = json_parse(R->holder, strlen(R->holder), &perr);
		free(perr);
		me.run = v ? jv_str(v, "run") : NULL;
		me.machine = v ? jv_str(v, "machine") : NULL;
		me.pid = v ? jv_int(v, "pid", 0) : 0;
		if (me.run && me.machine)
			t = take_one(h, &me, R->holder, &who, &note, &why);
		jv_free(v);
		if (t == TAKE_HELD)
			ui_error("warning: host '%s' came back locked by %s: this run goes on, but check who else "
				 "works on it",
				 h->name, who);
		else if (t == TAKE_ERROR)
			ui_error("warning: cannot take the lock on host '%s' again: %s", h->name,
				 why ? why : "its holder is unreadable");
		free(who);
		free(note);
		free(why);
		why = NULL;
		ssh_append_close(rh->jf);
		rh->jf = NULL;
		if (R->run_dir && mirror_host(rh, R->run_dir, R->run_id, &why) < 0) {
			rh->broken = false;
			mirror_broken(rh, why ? why : "cannot write it");
		} else if (R->run_dir && rh->broken) {
			rh->broken = false;
			ui_error("note: the journal mirror on host '%s' is up to date again", h->name);
		}
		free(why);
		mirror_flush(R);
		R->writing = false;
	}
}

void remote_release(struct remote *R)
{
	for (size_t i = 0; i < R->n; i++) {
		ssh_append_close(R->v[i].jf);
		R->v[i].jf = NULL;
		unlock_one(&R->v[i], R->run_id);
	}
	free(R->v);
	free(R->run_id);
	free(R->holder);
	free(R->run_dir);
	free(R->q);
	memset(R, 0, sizeof(*R));
}

/* --- resume --from-target ------------------------------------------------------ */

/* Run ids end with -YYYYMMDD-HHMMSS-xxxx: newest first by that. */
static int by_time(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t lx = strlen(x), ly = strlen(y);
	const char *tx = lx > 20 ? x + lx - 20 : x, *ty = ly > 20 ? y + ly - 20 : y;
	return strcmp(ty, tx);
}

/* Writes bytes to path (0600, durable). */
static int save(const char *path, const char *bytes, size_t n, struct rb_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rb_error_add(err, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if (write_full(fd, bytes, n, FP_FILE_WRITE) < 0) {
		rb_error_add(err, "cannot write %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		rb_error_add(err, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Does the mirrored journal text describe a run that can go on? */
static bool unfinished(const char *state_dir, const char *id, const char *text, size_t n)
{
	char *tmp = xasprintf("%s/.from-target-%ld.jsonl", state_dir, (long)getpid());
	struct rb_error e = {0};
	bool yes = false;
	unlink(tmp);
	if (save(tmp, text, n, &e) == 0) {
		struct run_state rs;
		if (journal_replay(tmp, &rs, &e) == 0) {
			const char *st = run_state_name(&rs, false);
			yes = strcmp(st, "succeeded") && strcmp(st, "rolled back");
			run_state_release(&rs);
		}
	}
	unlink(tmp);
	free(tmp);
	rb_error_release(&e);
	(void)id;
	return yes;
}

/* Copies the run from h's mirror into STATE/runs/ID; on failure nothing
 * is left there (a half copy would pass for a run to resume). */
static int fetch_run(struct host *h, const char *id, const char *state_dir, const char *journal, size_t jn,
		     struct rb_error *err);

static int fetch_whole(struct host *h, const char *id, const char *state_dir, const char *journal, size_t jn,
		       struct rb_error *err)
{
	if (fetch_run(h, id, state_dir, journal, jn, err) == 0)
		return 0;
	char *local = xasprintf("%s/runs/%s", state_dir, id);
	remove_tree(local);
	free(local);
	return -1;
}

static int fetch_run(struct host *h, const char *id, const char *state_dir, const char *journal, size_t jn,
		     struct rb_error *err)
{
	char *local = xasprintf("%s/runs/%s", state_dir, id);
	char *rel = xasprintf("runs/%s", id);
	char *rdir = rpath(h, rel);
	free(rel);
	int rc = -1;
	char *why = NULL;
	char *logs = xasprintf("%s/logs", local), *mods = xasprintf("%s/modules", local);
	if (mkdir_p(logs, 0700) < 0 || mkdir_p(mods, 0700) < 0) {
		rb_error_add(err, "cannot create %s: %s", local, strerror(errno));
		goto out;
	}
	char *jpath = xasprintf("%s/journal.jsonl", local);
	int src = save(jpath, journal, jn, err);
	free(jpath);
	if (src < 0)
		goto out;
	static const char *const files[] = {"runbook.yml", "params.json"};
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		char *r = xasprintf("%s/%s", rdir, files[i]), *text = NULL;
		size_t n;
		int g = ssh_get_bytes(h->tr, r, &text, &n, &why);
		free(r);
		if (g < 0) {
			if (i == 0) {
				rb_error_add(err, "host '%s': the mirror of run %s has no runbook: %s", h->name, id, why);
				goto out;
			}
			free(why);
			why = NULL;
			continue;
		}
		char *l = xasprintf("%s/%s", local, files[i]);
		int s = save(l, text, n, err);
		free(l);
		free(text);
		if (s < 0)
			goto out;
	}
	char *rmods = xasprintf("%s/modules", rdir);
	char **names = NULL;
	size_t nn = 0;
	if (ssh_list(h->tr, rmods, &names, &nn, &why) == 0) {
		for (size_t i = 0; i < nn; i++) {
			char *r = xasprintf("%s/%s", rmods, names[i]), *text = NULL;
			size_t n;
			bool ok = strchr(names[i], '/') == NULL && ssh_get_bytes(h->tr, r, &text, &n, &why) == 0;
			free(r);
			if (ok) {
				char *l = xasprintf("%s/%s", mods, names[i]);
				ok = save(l, text, n, err) == 0;
				free(l);
			}
			free(text);
			if (!ok) {
				if (!err->n)
					rb_error_add(err, "host '%s': cannot copy module %s of run %s: %s", h->name, names[i],
						     id, why ? why : "");
				for (size_t k = 0; k < nn; k++)
					free(names[k]);
				free(names);
				free(rmods);
				goto out;
			}
		}
	}
	for (size_t k = 0; k < nn; k++)
		free(names[k]);
	free(names);
	free(rmods);
	fsync_dir(mods);
	fsync_dir(local);
	rc = 0;
out:
	free(why);
	free(logs);
	free(mods);
	free(rdir);
	free(local);
	return rc;
}

int remote_fetch(struct host *h, const char *run_arg, const char *state_dir, char **run_id, struct rb_error *err)
{
	*run_id = NULL;
	if (host_connect(h, err) < 0)
		return -1;
	char *runs = rpath(h, "runs"), *why = NULL;
	char **names = NULL;
	size_t n = 0;
	int rc = -1;
	if (ssh_list(h->tr, runs, &names, &n, &why) < 0) {
		rb_error_add(err, "host '%s' holds no run mirror in %s: %s", h->name, runs, why);
		goto out;
	}
	qsort(names, n, sizeof(char *), by_time);
	char *runs_local = xasprintf("%s/runs", state_dir);
	if (mkdir_p(runs_local, 0700) < 0) {
		rb_error_add(err, "cannot create %s: %s", runs_local, strerror(errno));
		free(runs_local);
		goto out;
	}
	free(runs_local);
	size_t matches = 0;
	for (size_t i = 0; i < n && !*run_id; i++) {
		const char *id = names[i];
		if (run_arg && strcmp(id, run_arg) && strncmp(id, run_arg, strlen(run_arg)))
			continue;
		matches++;
		char *rd = xasprintf("%s/%s", runs, id);
		int own = own_dir(h, rd, &why);
		free(rd);
		if (own < 0) {
			/* not ours: said, and skipped */
			fprintf(stderr, "runbook: warning: %s\n", why);
			free(why);
			why = NULL;
			continue;
		}
		char *rj = xasprintf("%s/%s/journal.jsonl", runs, id), *text = NULL;
		size_t tn;
		int g = ssh_get_bytes(h->tr, rj, &text, &tn, &why);
		free(rj);
		if (g < 0) {
			free(why);
			why = NULL;
			continue;
		}
		if (run_arg || unfinished(state_dir, id, text, tn)) {
			char *local = xasprintf("%s/runs/%s", state_dir, id);
			struct stat st;
			if (stat(local, &st) == 0)
				rb_error_add(err, "run %s is already in %s: 'runbook resume %s' continues it from there", id,
					     local, id);
			else if (fetch_whole(h, id, state_dir, text, tn, err) == 0)
				*run_id = xstrdup(id);
			free(local);
			free(text);
			if (!*run_id)
				goto out;
			break;
		}
		free(text);
	}
	if (!*run_id) {
		if (run_arg)
			rb_error_add(err, "host '%s' has no mirror of a run %s in %s (%zu run%s mirrored there)", h->name,
				     run_arg, runs, n, n == 1 ? "" : "s");
		else
			rb_error_add(err, "host '%s' has no unfinished run in its mirror %s (%zu finished)", h->name, runs,
				     matches);
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(runs);
	free(why);
	return rc;
}

/* --- runbook lock HOST ------------------------------------------------------------ */

int remote_lock_show(struct host *h, bool brk, struct rb_error *err)
{
	if (host_connect(h, err) < 0)
		return -1;
	char *dir = rpath(h, "lock"), *file = rpath(h, "lock/holder.json");
	char *text = NULL, *why = NULL;
	size_t n;
	int rc = 0;
	bool held = ssh_get_bytes(h->tr, file, &text, &n, &why) == 0;
	if (!held) {
		char **names = NULL;
		size_t nn = 0;
		free(why);
		why = NULL;
		/* a lock folder without its holder file is held all the same */
		held = ssh_list(h->tr, dir, &names, &nn, &why) == 0;
		for (size_t i = 0; i < nn; i++)
			free(names[i]);
		free(names);
	}
	if (!held) {
		printf("%s (remote, %s): free\n", h->name, dir);
	} else {
		char *d = text ? lock_holder_describe(text, NULL) : xstrdup("a runbook whose details are missing");
		printf("%s (remote, %s): held by %s\n", h->name, dir, d);
		free(d);
		if (brk) {
			free(why);
			why = NULL;
			if ((text && ssh_unlink(h->tr, file, &why) < 0) || ssh_rmdir(h->tr, dir, &why) < 0) {
				rb_error_add(err, "host '%s': cannot break the lock: %s", h->name, why);
				rc = -1;
			} else {
				printf("%s (remote): lock broken\n", h->name);
			}
		}
	}
	free(text);
	free(why);
	free(dir);
	free(file);
	return rc;
}
