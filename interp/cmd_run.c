/* cmd_run.c — `runbook run` and `runbook resume`: everything between the
 * command line and the engine.  A run is validated completely, its
 * target locked, and only then recorded: the run folder with the exact
 * runbook and module bytes, the resolved params (secrets left out) and
 * the journal's run_start record, all durable before the first step.
 * A resume replays the journal, refuses what it cannot continue safely,
 * and hands the engine what happened so far. */
#include "cli.h"
#include "engine.h"
#include "fault.h"
#include "hash.h"
#include "journal.h"
#include "lock.h"
#include "remote.h"
#include "runs.h"
#include "rundir.h"
#include "search.h"
#include "sig.h"
#include "steps.h"
#include "ui.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* A file the run depends on, hashed now. */
struct dep {
	const char *role;   /* runbook, module, inventory */
	char *name, *path;  /* path: absolute */
	char sha[65];
	const char *bytes;  /* runbook and modules: the exact bytes (borrowed) */
	size_t n;
	char *copy;         /* where the copy goes in the run folder */
};

struct deps {
	struct dep *v;
	size_t n, cap;
};

static char *abs_path(const char *p)
{
	char *r = realpath(p, NULL);
	return r ? r : xstrdup(p);
}

static void deps_add(struct deps *d, const char *role, const char *name, const char *path, const char *bytes,
		     size_t n, const char *copy)
{
	struct dep x = {.role = role, .name = xstrdup(name), .path = abs_path(path), .bytes = bytes, .n = n,
			.copy = copy ? xstrdup(copy) : NULL};
	sha256_buf(bytes, n, x.sha);
	VEC_PUSH(d->v, d->n, d->cap, x);
}

/* The runbook, every module it loaded, and the inventory. */
static int deps_collect(struct deps *d, const struct runbook *rb, const char *inventory, char **inv_bytes,
			struct rb_error *err)
{
	deps_add(d, "runbook", rb->name, rb->path, rb->doc->bytes, rb->doc->nbytes, "runbook.yml");
	for (size_t i = 0; i < rb->nmodules; i++) {
		const struct module *m = rb->modules[i];
		char *copy = xasprintf("modules/%s.yml", m->name);
		deps_add(d, "module", m->name, m->path, m->doc->bytes, m->doc->nbytes, copy);
		free(copy);
	}
	if (inventory) {
		size_t n;
		if (read_file(inventory, inv_bytes, &n) < 0) {
			rb_error_add(err, "cannot read the inventory %s: %s", inventory, strerror(errno));
			return -1;
		}
		/* an inventory may hold secrets: hashed, never copied */
		deps_add(d, "inventory", "inventory", inventory, *inv_bytes, n, NULL);
	}
	return 0;
}

static void deps_free(struct deps *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].name);
		free(d->v[i].path);
		free(d->v[i].copy);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

/* The files as a JSON array, into list (begun and ended here). */
static const char *deps_json(const struct deps *d, struct json *list)
{
	list->exact = true;
	json_begin_array(list);
	for (size_t i = 0; i < d->n; i++) {
		struct json j = {.exact = true};
		json_begin(&j);
		json_kstr(&j, "role", d->v[i].role);
		json_kstr(&j, "name", d->v[i].name);
		json_kstr(&j, "path", d->v[i].path);
		json_kstr(&j, "sha256", d->v[i].sha);
		if (d->v[i].copy)
			json_kstr(&j, "copy", d->v[i].copy);
		json_add_raw(list, json_end(&j));
		json_release(&j);
	}
	return json_end(list);
}

/* Writes a file of the run folder durably, mode 0600. */
static int write_durable(const char *path, const char *bytes, size_t n, struct rb_error *err)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = -1;
	if (fd >= 0) {
		if (write_full(fd, bytes, n, FP_FILE_WRITE) == 0 && fsync(fd) == 0)
			rc = 0;
		int e = errno;
		close(fd);
		errno = e;
	}
	if (rc == 0 && ((errno = fault_hit(FP_RENAME)) != 0 || rename(tmp, path) < 0))
		rc = -1;
	if (rc < 0) {
		rb_error_add(err, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

/* The exact bytes of the runbook and its modules.  With keep_old, a copy
 * that differs is first renamed NAME.before-resume-SEQ. */
static int save_copies(const char *run_dir, const struct deps *d, long long seq, struct rb_error *err)
{
	char *mods = xasprintf("%s/modules", run_dir);
	bool any_module = false;
	for (size_t i = 0; i < d->n; i++)
		any_module |= !strcmp(d->v[i].role, "module");
	if (any_module && mkdir_p(mods, 0700) < 0) {
		rb_error_add(err, "cannot create %s: %s", mods, strerror(errno));
		free(mods);
		return -1;
	}
	free(mods);
	for (size_t i = 0; i < d->n; i++) {
		if (!d->v[i].copy)
			continue;
		char *path = xasprintf("%s/%s", run_dir, d->v[i].copy);
		if (seq > 0) {
			char *old = NULL;
			size_t n;
			if (read_file(path, &old, &n) == 0 && (n != d->v[i].n || memcmp(old, d->v[i].bytes, n))) {
				char *kept = xasprintf("%s.before-resume-%lld", path, seq);
				if (rename(path, kept) < 0)
					rb_error_add(err, "cannot keep the old copy %s: %s", path, strerror(errno));
				free(kept);
			}
			free(old);
		}
		int rc = write_durable(path, d->v[i].bytes, d->v[i].n, err);
		free(path);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static char *params_json(const struct plan *p, bool exact)
{
	struct json list = {.exact = exact};
	json_begin_array(&list);
	for (size_t i = 0; i < p->nparams; i++) {
		const struct param_value *pv = &p->params[i];
		struct json j = {.exact = exact};
		json_begin(&j);
		json_kstr(&j, "name", pv->def->name);
		if (pv->def->secret)
			json_kbool(&j, "secret", true); /* its value is never written */
		else
			json_kstr(&j, "value", pv->value);
		json_kstr(&j, "source", pv->source);
		json_add_raw(&list, json_end(&j));
		json_release(&j);
	}
	json_end(&list);
	return sbuf_detach(&list.sb);
}

static void plan_leaves_json(struct plan *p, struct json *list, struct pstep *v, size_t n, int phase)
{
	for (size_t i = 0; i < n; i++) {
		const struct pstep *ps = &v[i];
		if (step_is_header(ps->st))
			continue;
		struct json j = {.exact = true}, hosts = {.exact = true};
		json_begin(&j);
		json_kstr(&j, "id", ps->id);
		char *title = step_title(p, ps);
		json_kstr(&j, "title", title);
		free(title);
		json_kstr(&j, "kind", ps->st->kind->key);
		json_kint(&j, "number", ps->number);
		json_kint(&j, "phase", phase);
		json_kbool(&j, "check", ps->st->check != NULL);
		if (ps->unit)
			json_kstr(&j, "undo", ps->unit->id);
		json_begin_array(&hosts);
		for (size_t h = 0; h < ps->nhosts; h++)
			json_add_str(&hosts, ps->hosts[h]->name);
		json_kraw(&j, "hosts", json_end(&hosts));
		json_release(&hosts);
		json_add_raw(list, json_end(&j));
		json_release(&j);
	}
}

static char *plan_json(struct plan *p)
{
	struct json list = {.exact = true};
	json_begin_array(&list);
	plan_leaves_json(p, &list, p->pre, p->npre, 0);
	plan_leaves_json(p, &list, p->steps, p->nsteps, 1);
	plan_leaves_json(p, &list, p->fin, p->nfin, 2);
	json_end(&list);
	return sbuf_detach(&list.sb);
}

/* The hosts of the target, which the run locks. */
static char **target_names(const struct plan *p)
{
	char **v = xcalloc(p->ntarget + 1, sizeof(char *));
	for (size_t i = 0; i < p->ntarget; i++)
		v[i] = p->target_hosts[i]->name;
	return v;
}

/* What run and resume hold between the command line and the engine's end. */
struct session {
	struct deps deps;
	char *inv_bytes;      /* the inventory's bytes, hashed in deps */
	struct locks locks;
	struct remote remote; /* the SSH hosts' locks and journal mirrors */
	struct journal jn;
	bool ui_on;
};

/* Releases everything in S, then prints and releases err. */
static void session_end(struct session *S, struct rb_error *err)
{
	/* unlocked while the connections are still open (they close with
	 * the plan's hosts) */
	S->jn.mirror = NULL;
	remote_release(&S->remote);
	if (S->ui_on)
		ui_close();
	journal_close(&S->jn);
	locks_release(&S->locks);
	if (err->n || err->nwarn)
		rb_error_print(err, "runbook");
	rb_error_release(err);
	deps_free(&S->deps);
	free(S->inv_bytes);
}

static void print_warnings(struct rb_error *err)
{
	for (size_t i = 0; i < err->nwarn; i++) {
		fprintf(stderr, "runbook: warning: %s\n", err->warns[i]);
		free(err->warns[i]);
	}
	err->nwarn = 0;
}

static int take_locks(struct locks *ls, const char *state, struct plan *p, const struct lock_holder *me,
		      long long wait_ms, struct rb_error *err)
{
	char **names = target_names(p);
	int rc = locks_take(ls, state, (const char *const *)names, p->ntarget, me, wait_ms, err);
	free(names);
	print_warnings(err);
	return rc;
}

static int ui_start(const struct opts *o, struct rb_error *err)
{
	struct ui_opts uo = {
		.color = ui_color_default(),
		.verbosity = o->verbosity,
		.events_path = o->events,
	};
	return ui_init(&uo, err);
}

/* The terminal and events, the target's locks, then the SSH hosts:
 * connected (host keys checked) and locked before anything is recorded
 * or run.  0, or the exit code with err set: 2 (a lock is held), 5 (a
 * host cannot be reached or trusted: nothing changed), 130 when
 * interrupted. */
static int session_start(struct session *S, const struct opts *o, const char *state, struct plan *plan,
			 const char *runbook, struct rb_error *err)
{
	if (ui_start(o, err) < 0)
		return EXIT_BAD;
	S->ui_on = true;
	char now[40];
	iso_time_now(now, sizeof(now));
	struct lock_holder me = {plan->run_id, runbook, user_name(), machine_name(), now, (long long)getpid()};
	if (take_locks(&S->locks, state, plan, &me, o->lock_wait_ms, err) < 0)
		return sig_interrupted() ? EXIT_INTR : EXIT_BAD;
	if (remote_connect(plan, err) < 0)
		return sig_interrupted() ? EXIT_INTR : EXIT_PRECOND;
	int rc = remote_lock(&S->remote, plan, &me, o->lock_wait_ms, err);
	print_warnings(err);
	if (rc < 0)
		return sig_interrupted() ? EXIT_INTR : EXIT_BAD;
	return 0;
}

static int engine_opts_from(const struct opts *o, struct engine_opts *eo, struct rb_error *err)
{
	*eo = (struct engine_opts){.yes = o->yes, .tty = isatty(0), .grace_ms = 5000,
				   .rerun_interrupted = o->rerun_interrupted};
	const char *g = getenv("RUNBOOK_KILL_GRACE");
	if (g && parse_duration(g, &eo->grace_ms) < 0) {
		rb_error_add(err, "RUNBOOK_KILL_GRACE: invalid duration '%s'", g);
		return -1;
	}
	return 0;
}

int cmd_run(struct opts *o)
{
	if (o->nargs != 2)
		return bad_usage("%s", o->nargs < 2 ? "'run' needs a runbook (a file or a name)"
						    : "'run' takes one runbook");
	if (o->dry_run)
		return cmd_plan(o);
	/* `--check` means a dry run elsewhere (Ansible): never run on it */
	if (o->check || o->format)
		return bad_usage("%s is a plan option: 'runbook plan' (or 'run --dry-run') previews; 'run' runs",
				 o->check ? "--check" : "--format");
	const char *arg = o->args[1];
	char *path = runbook_arg(arg);
	if (!path)
		return EXIT_BAD;
	struct rb_error err = {0};
	int code = EXIT_BAD;
	struct plan *plan = NULL;
	char *state = NULL, *run_id = NULL, *run_dir = NULL;
	bool recorded = false; /* the run_start record is durable */
	struct session S = {.jn = {.fd = -1}};
	struct runbook *rb = runbook_load(path, &err);
	if (!rb)
		goto out;
	char started[64];
	run_id = run_id_new(rb->name, started, sizeof(started));
	state = state_dir_path(o->state_dir);
	char *planned_dir = xasprintf("%s/runs/%s", state, run_id);
	struct run_input in = {
		.pnames = o->pnames,
		.pvalues = o->pvalues,
		.np = o->np,
		.params_file = o->params_file,
		.inventory = o->inventory,
		.target = o->target,
		.run_id = run_id,
		.run_dir = planned_dir,
		.started = started,
	};
	plan = plan_resolve(rb, &in, &err);
	free(planned_dir);
	if (!plan)
		goto out;
	struct engine_opts eo;
	if (engine_opts_from(o, &eo, &err) < 0 || deps_collect(&S.deps, rb, o->inventory, &S.inv_bytes, &err) < 0)
		goto out;
	int sc = session_start(&S, o, state, plan, rb->name, &err);
	if (sc) {
		code = sc;
		goto out;
	}
	/* Everything is valid and the target is ours: only now is the run
	 * recorded on disk. */
	run_dir = run_dir_create(state, run_id, &err);
	if (!run_dir || save_copies(run_dir, &S.deps, 0, &err) < 0)
		goto out;
	char *params = params_json(plan, false);
	char *pfile = xasprintf("%s/params.json", run_dir);
	char *ptext = xasprintf("%s\n", params);
	int prc = write_durable(pfile, ptext, strlen(ptext), &err);
	free(pfile);
	free(ptext);
	free(params);
	if (prc < 0 || journal_create(&S.jn, run_dir, &err) < 0)
		goto out;
	struct json *j = journal_begin(&S.jn, "run_start");
	json_kint(j, "version", 1);
	json_kstr(j, "run", run_id);
	json_kstr(j, "runbook", rb->name);
	json_kstr(j, "path", S.deps.v[0].path);
	json_kstr(j, "target", plan->target);
	json_kstr(j, "on_failure", rb->on_failure_stop ? "stop" : "rollback");
	json_kstr(j, "user", user_name());
	json_kstr(j, "machine", machine_name());
	json_kint(j, "pid", (long long)getpid());
	json_kstr(j, "boot_id", boot_id());
	json_kstr(j, "started", started);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	json_kint(j, "epoch_ms", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	char *pj = params_json(plan, true), *planj = plan_json(plan);
	struct json files = {0}, locks = {.exact = true};
	json_begin_array(&locks);
	for (size_t i = 0; i < plan->ntarget; i++)
		json_add_str(&locks, plan->target_hosts[i]->name);
	json_kraw(j, "params", pj);
	json_kraw(j, "files", deps_json(&S.deps, &files));
	json_kraw(j, "plan", planj);
	json_kraw(j, "locks", json_end(&locks));
	json_release(&locks);
	if (o->inventory) {
		char *ai = abs_path(o->inventory);
		json_kstr(j, "inventory", ai);
		free(ai);
	}
	if (o->params_file) {
		char *ap = abs_path(o->params_file);
		json_kstr(j, "params_file", ap);
		free(ap);
	}
	free(pj);
	free(planj);
	json_release(&files);
	/* the run_start record, then the folder's entries, durable before
	 * the first step */
	/* the entries that lead to the journal: the run folder (and its
	 * modules/), runs/ and the state folder (both may be new) */
	char *runs = xasprintf("%s/runs", state), *mods = xasprintf("%s/modules", run_dir);
	if (access(mods, F_OK) == 0)
		fsync_dir(mods);
	free(mods);
	if (journal_commit(&S.jn, true) < 0 || fsync_dir(run_dir) < 0 || fsync_dir(runs) < 0 || fsync_dir(state) < 0) {
		rb_error_add(&err, "cannot record the run in %s: %s", run_dir,
			     strerror(S.jn.error ? S.jn.error : errno));
		free(runs);
		goto out;
	}
	free(runs);
	recorded = true;
	remote_mirror_start(&S.remote, run_dir, &S.jn);
	eo.jn = &S.jn;
	eo.reconnected = remote_reconnected;
	eo.reconnected_ctx = &S.remote;
	code = engine_run(plan, &eo);
out:
	session_end(&S, &err);
	/* a run folder whose run_start never became durable: nothing ran */
	if (run_dir && !recorded)
		remove_tree(run_dir);
	plan_free(plan);
	runbook_free(rb);
	free(path);
	free(state);
	free(run_id);
	free(run_dir);
	return code;
}

/* --- resume ----------------------------------------------------------------- */

/* The most recent run that resume can continue. */
static char *latest_unfinished(const char *state)
{
	struct run_info *v;
	size_t n = runs_list(state, &v);
	char *id = NULL;
	for (size_t i = 0; i < n && !id; i++)
		if (run_unfinished(&v[i]))
			id = xstrdup(v[i].id);
	runs_free(v, n);
	return id;
}

static const struct jfile *recorded(const struct run_state *rs, const char *role, const char *name)
{
	for (size_t i = 0; i < rs->nfiles; i++)
		if (!strcmp(rs->files[i].role, role) && (!name || (rs->files[i].name && !strcmp(rs->files[i].name, name))))
			return &rs->files[i];
	return NULL;
}

/* Lists every difference between the files the run recorded and those
 * loaded now.  Returns the number of differences. */
static int compare_files(const struct run_state *rs, const struct deps *d, struct sbuf *out)
{
	int n = 0;
	for (size_t i = 0; i < d->n; i++) {
		const struct dep *x = &d->v[i];
		const struct jfile *f = recorded(rs, x->role, strcmp(x->role, "inventory") ? x->name : NULL);
		if (!f) {
			sbuf_addf(out, "  %s %s (%s) is new since the run started\n", x->role, x->name, x->path);
			n++;
		} else if (strcmp(f->sha256, x->sha)) {
			sbuf_addf(out, "  %s %s changed since the run started\n", x->role, x->path);
			n++;
		}
	}
	for (size_t i = 0; i < rs->nfiles; i++) {
		const struct jfile *f = &rs->files[i];
		bool found = false;
		for (size_t k = 0; k < d->n; k++)
			if (!strcmp(d->v[k].role, f->role) &&
			    (!strcmp(f->role, "inventory") || (f->name && !strcmp(d->v[k].name, f->name))))
				found = true;
		if (!found) {
			sbuf_addf(out, "  %s %s (%s) is no longer used\n", f->role, f->name ? f->name : "", f->path);
			n++;
		}
	}
	return n;
}

/* Reads a secret from the terminal without echo; NULL when none. */
static char *ask_secret(const char *name)
{
	if (!isatty(0))
		return NULL;
	struct termios t, quiet;
	if (tcgetattr(0, &t) < 0)
		return NULL;
	quiet = t;
	quiet.c_lflag &= (tcflag_t)~ECHO;
	fprintf(stderr, "secret param '%s' (given with -p when the run started): ", name);
	fflush(stderr);
	tcsetattr(0, TCSAFLUSH, &quiet);
	char buf[4096];
	int r = ui_read_answer(buf, sizeof(buf));
	tcsetattr(0, TCSAFLUSH, &t);
	fputc('\n', stderr);
	return r < 0 ? NULL : xstrdup(buf);
}

/* -p for the resumed plan: the recorded values of every param that is
 * not secret, then secrets given again on this command line (or asked
 * for).  Secrets from the environment, a params file or the inventory are
 * read again from there by plan_resolve. */
static bool rb_has_param(const struct runbook *rb, const char *name)
{
	for (size_t i = 0; i < rb->nparams; i++)
		if (!strcmp(rb->params[i].name, name))
			return true;
	return false;
}

/* -p for the resumed plan: the recorded values of every param that is
 * not secret, then secrets given again on this command line (or asked
 * for).  Secrets from the environment, a params file or the inventory are
 * read again from there by plan_resolve.  With --use-current, a param the
 * runbook no longer has is dropped, and one it gained may be given with
 * -p.  0, -1 with err set, or EXIT_INTR when the operator interrupted. */
static int resume_params(const struct opts *o, const struct run_state *rs, const struct runbook *rb,
			 struct run_input *in, char ***own, size_t *nown, struct rb_error *err)
{
	const struct jv *params = jv_get(rs->start, "params");
	size_t cap = 0, vcap = 0, np = 0, ocap = 0;
	for (size_t i = 0; i < o->np; i++) {
		bool secret = false, known = false;
		for (size_t k = 0; params && params->t == JV_ARR && k < params->n; k++)
			if (jv_str(&params->v[k], "name") && !strcmp(jv_str(&params->v[k], "name"), o->pnames[i])) {
				known = true;
				secret = jv_bool(&params->v[k], "secret");
			}
		if (!known && o->use_current && rb_has_param(rb, o->pnames[i])) {
			VEC_PUSH(in->pnames, np, cap, o->pnames[i]);
			np--;
			VEC_PUSH(in->pvalues, np, vcap, o->pvalues[i]);
			continue;
		}
		if (!known || !secret) {
			rb_error_add(err, "-p %s: %s", o->pnames[i],
				     known ? "params keep the values the run started with; only secret params are given again"
					   : "the run has no such param (a param the runbook gained is given with --use-current)");
			return -1;
		}
	}
	for (size_t k = 0; params && params->t == JV_ARR && k < params->n; k++) {
		const struct jv *pv = &params->v[k];
		const char *name = jv_str(pv, "name"), *value = jv_str(pv, "value"), *source = jv_str(pv, "source");
		if (!name)
			continue;
		if (!rb_has_param(rb, name)) {
			if (o->use_current)
				fprintf(stderr, "runbook: --use-current: param '%s' is gone from the runbook: its recorded "
						"value is dropped\n", name);
			continue; /* without --use-current the changed file was refused */
		}
		if (!jv_bool(pv, "secret")) {
			if (value) {
				VEC_PUSH(in->pnames, np, cap, name);
				np--;
				VEC_PUSH(in->pvalues, np, vcap, value);
			}
			continue;
		}
		const char *given = NULL;
		for (size_t i = 0; i < o->np; i++)
			if (!strcmp(o->pnames[i], name))
				given = o->pvalues[i];
		if (!given && source && !strcmp(source, "-p")) {
			char *v = ask_secret(name);
			if (!v && sig_interrupted()) {
				in->np = np;
				return EXIT_INTR;
			}
			if (!v) {
				rb_error_add(err, "secret param '%s' was given with -p when the run started and is not "
						  "recorded: give it again (runbook resume %s -p %s=...)",
					     name, rs->run_id, name);
				in->np = np;
				return -1;
			}
			VEC_PUSH(*own, *nown, ocap, v);
			given = v;
		}
		if (!given && source && !strcmp(source, "env")) {
			/* read again from the environment by plan_resolve: an empty
			 * secret would reach the undos unnoticed */
			for (size_t d = 0; d < rb->nparams; d++) {
				const struct param_def *def = &rb->params[d];
				if (strcmp(def->name, name) || !def->env || param_env_value(def))
					continue;
				bool rolling = o->nargs && !strcmp(o->args[0], "rollback");
				rb_error_add(err, "secret param '%s' came from $%s when the run started, and %s is empty or "
						  "not set now: set it again, or give it (runbook %s %s -p %s=...)",
					     name, def->env, def->env, rolling ? "rollback" : "resume", rs->run_id, name);
				in->np = np;
				return -1;
			}
		}
		if (given) {
			VEC_PUSH(in->pnames, np, cap, name);
			np--;
			VEC_PUSH(in->pvalues, np, vcap, given);
		}
	}
	in->np = np;
	return 0;
}

/* Names the steps that --use-current adds or drops, by id and host. */
static void report_plan_changes(const struct run_state *rs, struct plan *p)
{
	struct pstep *lists[3] = {p->pre, p->steps, p->fin};
	size_t counts[3] = {p->npre, p->nsteps, p->nfin};
	for (int l = 0; l < 3; l++)
		for (size_t i = 0; i < counts[l]; i++) {
			const struct pstep *ps = &lists[l][i];
			if (step_is_header(ps->st))
				continue;
			bool found = false;
			for (size_t k = 0; k < rs->nplan && !found; k++)
				found = !strcmp(rs->plan[k].id, ps->id);
			if (!found)
				fprintf(stderr, "runbook: --use-current: step '%s' is new: it runs when reached\n", ps->id);
		}
	for (size_t k = 0; k < rs->nplan; k++) {
		bool found = false;
		for (int l = 0; l < 3 && !found; l++)
			for (size_t i = 0; i < counts[l] && !found; i++)
				found = !strcmp(lists[l][i].id, rs->plan[k].id);
		if (!found) {
			const struct step_state *s = run_state_step(rs, rs->plan[k].id, NULL);
			fprintf(stderr, "runbook: --use-current: step '%s' was removed%s%s%s\n", rs->plan[k].id,
				s ? " (it was " : "", s ? s->status : "", s ? ")" : "");
		}
	}
}

/* Interrupted command steps without a check, which only an operator (or
 * --rerun-interrupted) can settle.  Lists them into out; returns how many.
 * A rollback settles its undos; the forward steps it leaves alone. */
static int unsettled(const struct run_state *rs, struct plan *p, bool rolling_back, bool asked, struct sbuf *out)
{
	int n = 0;
	bool fin = engine_finally_carries(p, rs, asked);
	if (rolling_back) {
		for (size_t i = 0; i < rs->nundos; i++) {
			const struct step_state *s = &rs->undos[i];
			const struct pstep *u = plan_undo_step(p, s->id);
			if (!u || u->st->kind->action != ACT_RUN || u->st->check ||
			    (strcmp(s->status, "started") && strcmp(s->status, "interrupted")))
				continue;
			sbuf_addf(out, "  undo %s of %s%s%s\n", s->id, s->of, strcmp(s->for_host, "local") ? " @" : "",
				  strcmp(s->for_host, "local") ? s->for_host : "");
			n++;
		}
	}
	struct pstep *lists[2] = {p->steps, p->fin};
	size_t counts[2] = {p->nsteps, p->nfin};
	for (int l = rolling_back ? 1 : 0; l < 2; l++) {
		if (l == 1 && !fin)
			break;
		for (size_t i = 0; i < counts[l]; i++) {
			const struct pstep *ps = &lists[l][i];
			if (ps->st->kind->action != ACT_RUN || ps->st->check || step_runs_again_safely(ps->st))
				continue;
			for (size_t h = 0; h < ps->nhosts; h++) {
				const struct step_state *s = run_state_step(rs, ps->id, ps->hosts[h]->name);
				/* a step whose command never started just runs */
				if (s && s->end && jv_bool(s->end, "not_started"))
					continue;
				if (s && (!strcmp(s->status, "started") || !strcmp(s->status, "interrupted"))) {
					sbuf_addf(out, "  step %d (%s)%s%s\n", ps->number, ps->id,
						  ps->nhosts > 1 ? " @" : "", ps->nhosts > 1 ? ps->hosts[h]->name : "");
					n++;
				}
			}
		}
	}
	return n;
}

/* Asks the operator before `runbook rollback` changes anything: what
 * would be undone, then y/N.  0 to go on, else the exit code. */
static int confirm_rollback(const struct opts *o, struct plan *plan, const struct run_state *rs)
{
	struct sbuf sb = {0};
	rollback_preview(plan, rs, &sb);
	printf("Rolling back run %s (%s on %s) undoes, newest first:\n%s", rs->run_id, rs->runbook, rs->target,
	       sbuf_str(&sb));
	sbuf_release(&sb);
	if (o->yes) {
		printf("approved by --yes\n");
		fflush(stdout);
		return 0;
	}
	printf("Roll back now? [y/N] ");
	fflush(stdout);
	char ans[64];
	if (ui_read_answer(ans, sizeof(ans)) < 0)
		return sig_interrupted() ? EXIT_INTR : EXIT_BAD;
	if (ui_answer_yes(ans))
		return 0;
	printf("not rolled back: nothing was changed\n");
	return EXIT_BAD;
}

/* resume, and rollback: both continue a recorded run. */
static int continue_run(struct opts *o, bool rollback)
{
	const char *cmd = rollback ? "rollback" : "resume";
	if (o->nargs > 2 || (rollback && o->nargs != 2))
		return bad_usage(rollback ? "'rollback' takes one run id" : "'resume' takes at most one run id");
	if (o->target || o->params_file || (o->inventory && !o->from_target))
		return bad_usage("%s continues with the target, params and inventory the run started with%s", cmd,
				 o->inventory ? " (--inventory goes with --from-target, to find the host)" : "");
	if (o->from_target && rollback)
		return bad_usage("--from-target is an option of 'resume'");
	if (rollback && !o->yes && !isatty(0)) {
		fprintf(stderr, "runbook: rollback asks for a confirmation: run it from a terminal, or give --yes\n");
		return EXIT_BAD;
	}
	struct rb_error err = {0};
	int code = EXIT_BAD;
	char *state = state_dir_path(o->state_dir), *id = NULL;
	char **own = NULL;
	size_t nown = 0;
	struct run_info ri = {0};
	struct runbook *rb = NULL;
	struct plan *plan = NULL;
	struct session S = {.jn = {.fd = -1}};
	struct run_input in = {0};
	struct sbuf sb = {0};

	if (o->from_target) {
		/* the operator's machine that ran it is gone: the host's mirror */
		struct host *h = cli_ssh_host(o->from_target, o->inventory, &err);
		int f = h ? remote_fetch(h, o->nargs == 2 ? o->args[1] : NULL, state, &id, &err) : -1;
		host_free(h);
		if (f < 0)
			goto out;
		printf("runbook: copied run %s from the journal mirror on %s into %s/runs\n", id, o->from_target, state);
	} else if (o->nargs == 2)
		id = run_find(state, o->args[1], &err);
	else if (!(id = latest_unfinished(state)))
		rb_error_add(&err, "no unfinished run to resume in %s (see 'runbook status')", state);
	if (!id || run_open(state, id, &ri, &err) < 0)
		goto out;
	const struct run_state *rs = &ri.rs;
	if (ri.live) {
		bool live;
		char *who = NULL;
		const struct jv *lk = jv_get(rs->start, "locks");
		if (lk && lk->t == JV_ARR && lk->n && lk->v[0].t == JV_STR)
			who = lock_describe(state, lk->v[0].s, &live, NULL);
		rb_error_add(&err, "run %s is still running (%s)", id, who ? who : "its lock is held");
		free(who);
		goto out;
	}
	bool rolled_back = !strcmp(ri.state, "rolled back"); /* and ended: finally too */
	if (rollback && (!rs->pre_passed || rolled_back)) {
		printf("run %s %s: there is nothing to roll back\n", id,
		       rolled_back ? "was rolled back already" : "never got past its preconditions");
		code = EXIT_OK;
		goto out;
	}
	if (!rollback && rolled_back) {
		rb_error_add(&err, "run %s was rolled back: there is nothing to resume (start a new run)", id);
		goto out;
	}
	if (!rollback && !strcmp(ri.state, "succeeded")) {
		rb_error_add(&err, "run %s already succeeded: there is nothing to resume", id);
		goto out;
	}
	const struct jfile *rf = recorded(rs, "runbook", NULL);
	if (!rf) {
		rb_error_add(&err, "%s: the run records no runbook file", rs->path);
		goto out;
	}
	char *copy = xasprintf("%s/%s", ri.dir, rf->copy ? rf->copy : "runbook.yml");
	const char *rbpath = rf->path;
	if (access(rf->path, R_OK) < 0) {
		if (!o->from_target) {
			rb_error_add(&err, "the runbook %s is gone (%s); the bytes that ran are in %s", rf->path,
				     strerror(errno), copy);
			free(copy);
			goto out;
		}
		/* another machine: the exact bytes that ran, with their modules
		 * beside them in modules/ */
		rbpath = copy;
	}
	rb = runbook_load(rbpath, &err);
	free(copy);
	if (!rb)
		goto out;
	const char *inventory = o->from_target && o->inventory ? o->inventory : jv_str(rs->start, "inventory");
	if (deps_collect(&S.deps, rb, inventory, &S.inv_bytes, &err) < 0)
		goto out;
	if (compare_files(rs, &S.deps, &sb) && !o->use_current) {
		rb_error_add(&err, "run %s cannot be %s as it is: files changed since it started:\n%s"
				   "  give --use-current to continue with the current text (steps are matched by id)",
			     id, rollback ? "rolled back" : "resumed", sbuf_str(&sb));
		goto out;
	}
	in.target = rs->target;
	in.inventory = inventory;
	in.params_file = jv_str(rs->start, "params_file");
	in.run_id = rs->run_id;
	in.run_dir = ri.dir;
	in.started = jv_str(rs->start, "started");
	int prc = resume_params(o, rs, rb, &in, &own, &nown, &err);
	if (prc == EXIT_INTR) {
		code = EXIT_INTR;
		goto out;
	}
	if (prc < 0)
		goto out;
	plan = plan_resolve(rb, &in, &err);
	if (!plan) {
		rb_error_add(&err, "(resuming %s: params keep their recorded values; secret params are read again "
				   "from where they came from)", id);
		goto out;
	}
	sbuf_reset(&sb);
	if (o->use_current)
		report_plan_changes(rs, plan);
	/* nothing any undo could take back: the run stays as it is */
	if (rollback && rs->rollback == RB_NONE && rollback_preview(plan, rs, NULL) == 0) {
		printf("run %s: nothing to roll back (no step with an undo completed)\n", id);
		code = EXIT_OK;
		goto out;
	}
	if (unsettled(rs, plan, engine_rolls_back(plan, rs, rollback), rollback, &sb) && !o->rerun_interrupted &&
	    !isatty(0)) {
		rb_error_add(&err, "run %s: these steps were interrupted and have no check to tell whether they took "
				   "effect:\n%s  look at their logs ('runbook log %s'), then %s with "
				   "--rerun-interrupted to run them again, or from a terminal to decide one by one",
			     id, sbuf_str(&sb), id, cmd);
		goto out;
	}
	struct engine_opts eo;
	if (engine_opts_from(o, &eo, &err) < 0)
		goto out;
	int sc = session_start(&S, o, state, plan, rb->name, &err);
	if (sc) {
		code = sc;
		goto out;
	}
	/* The target is ours now.  Another resume of this run may have gone
	 * between our first read and the lock: read again, and go on only
	 * if nothing was appended meanwhile. */
	struct run_state again;
	struct rb_error e2 = {0};
	int same = journal_replay(rs->path, &again, &e2) == 0 && again.nrecs == rs->nrecs &&
		   again.good_len == rs->good_len && again.torn_bytes == rs->torn_bytes;
	run_state_release(&again);
	rb_error_release(&e2);
	if (!same) {
		rb_error_add(&err, "run %s changed while this resume was starting (another resume of it ran "
				   "meanwhile): see 'runbook status %s', then resume again",
			     id, id);
		goto out;
	}
	if (rollback) {
		int c = confirm_rollback(o, plan, rs);
		if (c) {
			code = c;
			goto out;
		}
	}
	if (journal_reopen(&S.jn, rs, &err) < 0)
		goto out;
	if (rs->torn_line)
		fprintf(stderr, "runbook: warning: %s:%d: dropped a torn last record (%zu bytes): the write that made "
				"it never finished\n", rs->path, rs->torn_line, rs->torn_bytes);
	if (o->use_current && save_copies(ri.dir, &S.deps, S.jn.seq + 1, &err) < 0)
		goto out;
	struct json *j = journal_begin(&S.jn, "resume");
	json_kint(j, "pid", (long long)getpid());
	json_kstr(j, "user", user_name());
	json_kstr(j, "machine", machine_name());
	json_kstr(j, "boot_id", boot_id());
	json_kbool(j, "use_current", o->use_current);
	json_kbool(j, "rerun_interrupted", o->rerun_interrupted);
	if (rollback)
		json_kstr(j, "command", "rollback");
	struct json files = {0};
	json_kraw(j, "files", deps_json(&S.deps, &files));
	json_release(&files);
	if (o->use_current) {
		char *planj = plan_json(plan);
		json_kraw(j, "plan", planj);
		free(planj);
	}
	if (journal_commit(&S.jn, true) < 0) {
		rb_error_add(&err, "cannot write the journal %s: %s", S.jn.path, strerror(S.jn.error));
		goto out;
	}
	remote_mirror_start(&S.remote, ri.dir, &S.jn);
	eo.jn = &S.jn;
	eo.reconnected = remote_reconnected;
	eo.reconnected_ctx = &S.remote;
	eo.prior = rs;
	eo.rollback = rollback;
	code = engine_run(plan, &eo);
out:
	session_end(&S, &err);
	sbuf_release(&sb);
	free(in.pnames);
	free(in.pvalues);
	for (size_t i = 0; i < nown; i++)
		free(own[i]);
	free(own);
	plan_free(plan);
	runbook_free(rb);
	run_info_release(&ri);
	free(id);
	free(state);
	return code;
}

int cmd_resume(struct opts *o)
{
	return continue_run(o, false);
}

int cmd_rollback(struct opts *o)
{
	return continue_run(o, true);
}
