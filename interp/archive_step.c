/* archive_step.c — the archive and extract steps, and extract's undo.
 *
 *   archive {path: folder on the host, to: archive here, format, exclude, level}
 *   extract {from: archive here, to: folder on the host, strip, overwrite}
 *
 * The archive always lands on the operator's machine, the folder is on
 * the step's host.  A local folder is read with libarchive's disk reader;
 * any other (an SSH host, or sudo) is read by `tar` on the host, whose
 * stream comes through the command's channel into libarchive here — the
 * target never stages a copy, its disk may be full.  Extraction runs the
 * other way: the archive is verified against its manifest before anything
 * is written, then streamed (as a pax tar) into `tar -x` on the host, or
 * written by libarchive locally, into a new folder beside `to`, which then
 * takes `to`'s place.  The previous contents are kept beside it, under a
 * name made of the run's and the step's ids, for the undo:
 *
 *   .NAME.rb-new-XXXXXX        the extraction, until it is complete
 *   .NAME.rb-prev-RUN-STEP     what `to` held (an empty file: nothing)
 *   .NAME.rb-undone-RUN-STEP   the extraction, while the undo runs
 *
 * Every part can be run again after a crash: a second extract finds the
 * saved previous contents and replaces only its own earlier result; a
 * second undo finds the previous contents already back.
 *
 * The libarchive side of a remote archive or extract runs on a thread of
 * its own (a pump), fed by or feeding a pipe, so that hashing and
 * compressing overlap the transfer and other hosts' tasks go on. */
#include "steps.h"

#include "co.h"
#include "engine.h"
#include "glob.h"
#include "rundir.h"
#include "sig.h"
#include "snapshot.h"
#include "template.h"
#include "ui.h"

#include <archive.h>
#include <dirent.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- small things ------------------------------------------------------------ */

static void human(char *buf, size_t n, long long b)
{
	if (b < 1024)
		snprintf(buf, n, "%lld bytes", b);
	else if (b < 1024 * 1024)
		snprintf(buf, n, "%.1f KiB", (double)b / 1024);
	else if (b < 1024LL * 1024 * 1024)
		snprintf(buf, n, "%.1f MiB", (double)b / (1024 * 1024));
	else
		snprintf(buf, n, "%.2f GiB", (double)b / (1024.0 * 1024 * 1024));
}

/* Stops the libarchive loops: the operator's Ctrl-C, the step's
 * timeout, or the other side of a pump giving up. */
struct stopper {
	long long deadline;
	atomic_bool abort;
};

static char *stop_check(void *ctx)
{
	struct stopper *s = ctx;
	if (sig_interrupted())
		return xstrdup("interrupted");
	if (s->deadline && now_ms() >= s->deadline)
		return xstrdup("timed out");
	if (atomic_load(&s->abort))
		return xstrdup("stopped");
	return NULL;
}

/* Sets x's outcome from a libarchive-side failure. */
static int failed(struct step_exec *x, char *why, long long deadline)
{
	if (sig_interrupted()) {
		x->interrupted = true;
		free(why);
		x->why = xasprintf("interrupted by %s", sig_interrupt_text());
	} else if (deadline && now_ms() >= deadline) {
		/* whatever broke off last (a verification, a stream) */
		free(why);
		char d[32];
		format_duration(d, sizeof(d), x->timeout_ms);
		x->why = xasprintf("timed out after %s", d);
	} else {
		/* names in it come from an archive: nothing reaches the
		 * terminal raw */
		x->why = snap_printable(why ? why : "failed");
		free(why);
	}
	return -1;
}

/* x's outcome from a command it ran: 0 when the command ran and ok
 * says its status is fine, else -1 with x->why (and x->interrupted,
 * x->lost, x->rc) set. */
static int outcome(struct step_exec *x, const struct exec_result *res, bool ok, struct collect *c, const char *what)
{
	if (res->lost) {
		x->interrupted = x->lost = true;
		x->why = xstrdup(res->error);
	} else if (res->error) {
		x->why = xasprintf("%s: %s", what, res->error);
	} else if (res->interrupted) {
		x->interrupted = true;
		x->why = xasprintf("interrupted by %s", sig_interrupt_text());
	} else if (res->timed_out) {
		char d[32];
		format_duration(d, sizeof(d), x->timeout_ms);
		x->why = xasprintf("timed out after %s", d);
	} else if (res->cancelled) {
		x->why = xasprintf("%s was stopped", what);
	} else if (!ok) {
		x->rc = res->rc;
		char *e = collect_err(c);
		x->why = xasprintf("%s failed (exit %d)%s%s", what, res->rc, *e ? ": " : "", e);
		free(e);
	} else {
		return 0;
	}
	return -1;
}

/* Runs a shell script as the step (sudo, env, cwd, timeout).  0 when it
 * exited 0, else -1 with x's outcome set. */
static int sh_run(struct step_exec *x, const char *script, int in_fd, struct collect *c, const char *what)
{
	struct exec_sink sink = {collect_data, c, NULL, &c->cancel};
	struct exec_result res;
	exec_command_io(x, script, in_fd, &sink, &res);
	int rc = outcome(x, &res, res.rc == 0, c, what);
	exec_result_release(&res);
	return rc;
}

/* A note to the operator, with any secret the paths hold masked (the
 * log masks by itself). */
static void note(struct step_exec *x, const char *tag, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(struct step_exec *x, const char *tag, const char *fmt, ...)
{
	struct sbuf sb = {0};
	va_list ap;
	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	size_t n;
	char *m = mask_secrets(x->eng->plan, sbuf_str(&sb), sb.len, &n);
	ui_note(x->depth, tag, "%s", m);
	free(m);
	sbuf_release(&sb);
}

/* Logs each line of text as a warning of the step. */
static void warn_lines(struct step_exec *x, const char *text)
{
	while (text && *text) {
		size_t n = strcspn(text, "\n");
		if (n) {
			stepio_log(x, "# warning: %.*s\n", (int)n, text);
			note(x, "warning", "%.*s", (int)n, text);
		}
		text += n + (text[n] == '\n');
	}
}

/* --- pumps: libarchive on a thread, the command on the main flow ------------ */

struct pump {
	pthread_t th;
	int (*body)(struct pump *p);
	int fd;                  /* the thread's end of the data pipe */
	int go[2];               /* archive: the main flow says whether to finish */
	int done[2];             /* the thread says it has ended */
	struct stopper stop;
	int rc;
	char *why;
	void *arg;
};

static void *pump_main(void *arg)
{
	struct pump *p = arg;
	p->rc = p->body(p);
	char b = 1;
	while (write(p->done[1], &b, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static void pump_close(struct pump *p)
{
	for (int i = 0; i < 2; i++) {
		if (p->done[i] >= 0)
			close(p->done[i]);
		if (p->go[i] >= 0)
			close(p->go[i]);
		p->done[i] = p->go[i] = -1;
	}
}

static int pump_start(struct pump *p, char **why)
{
	p->go[0] = p->go[1] = p->done[0] = p->done[1] = -1;
	if (pipe2(p->done, O_CLOEXEC) < 0 || pipe2(p->go, O_CLOEXEC) < 0) {
		*why = xasprintf("cannot create a pipe: %s", strerror(errno));
		pump_close(p);
		return -1;
	}
	/* signals stay with the main flow */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(&p->th, NULL, pump_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		*why = xasprintf("cannot start a thread: %s", strerror(e));
		pump_close(p);
		return -1;
	}
	return 0;
}

/* Waits for the thread (other hosts' tasks run meanwhile), then joins. */
static void pump_join(struct pump *p)
{
	for (;;) {
		struct pollfd pf = {.fd = p->done[0], .events = POLLIN};
		if (co_poll(&pf, 1, 1000) > 0)
			break;
	}
	pthread_join(p->th, NULL);
	pump_close(p);
}

/* --- names --------------------------------------------------------------------- */

/* `to` of an extract, split: its folder and its name.  NULL when it
 * cannot be a folder's path. */
struct target {
	char *to, *parent, *base;
	char *prev, *trash, *tmpl;
	char *stale;             /* tmpl without its XXXXXX */
};

static void target_release(struct target *t)
{
	free(t->to);
	free(t->parent);
	free(t->base);
	free(t->prev);
	free(t->trash);
	free(t->tmpl);
	free(t->stale);
}

static int target_of(struct step_exec *x, const char *path, const char *step_id, struct target *t)
{
	memset(t, 0, sizeof(*t));
	char *p = xstrdup(path);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	char *slash = strrchr(p, '/');
	const char *base = slash ? slash + 1 : p;
	if (!*base || !strcmp(base, ".") || !strcmp(base, "..") || !strcmp(p, "/")) {
		x->why = xasprintf("'to' must name a folder (not '%s')", path);
		free(p);
		return -1;
	}
	t->to = p;
	t->base = xstrdup(base);
	t->parent = slash ? (slash == p ? xstrdup("/") : xstrndup(p, (size_t)(slash - p))) : xstrdup(".");
	const char *sep = !strcmp(t->parent, "/") ? "" : "/";
	t->prev = xasprintf("%s%s.%s.rb-prev-%s-%s", t->parent, sep, t->base, x->eng->plan->run_id, step_id);
	t->trash = xasprintf("%s%s.%s.rb-undone-%s-%s", t->parent, sep, t->base, x->eng->plan->run_id, step_id);
	t->tmpl = xasprintf("%s%s.%s.rb-new-XXXXXX", t->parent, sep, t->base);
	t->stale = xasprintf("%s%s.%s.rb-new-", t->parent, sep, t->base);
	return 0;
}

static void sh_var(struct sbuf *sb, const char *name, const char *val)
{
	sbuf_addf(sb, "%s=", name);
	/* a relative path must not read as an option */
	if (val[0] == '-')
		sbuf_adds(sb, "./");
	shell_quote_word(sb, val);
	sbuf_addc(sb, '\n');
}

/* Is the folder state fit for an extract?  (The same test runs locally
 * and in the remote script.) */
static const char PRECHECK_SH[] =
	"if [ -L \"$to\" ] || { [ -e \"$to\" ] && [ ! -d \"$to\" ]; }; then\n"
	"  echo \"runbook: $to is not a folder\" >&2; exit 3; fi\n"
	"if [ ! -d \"$(dirname -- \"$to\")\" ]; then\n"
	"  echo \"runbook: $(dirname -- \"$to\") does not exist\" >&2; exit 3; fi\n"
	/* the new tree is made beside `to`, then renamed: not across a mount */
	"if [ -d \"$to\" ] && [ \"$(stat -c %d -- \"$to\")\" != \"$(stat -c %d -- \"$(dirname -- \"$to\")\")\" ]; then\n"
	"  echo \"runbook: $to is a mount point: extract into a folder inside it\" >&2; exit 3; fi\n"
	"if [ ! -e \"$prev\" ] && [ ! -L \"$prev\" ] && [ \"$ow\" = 0 ] && [ -d \"$to\" ] && [ -n \"$(ls -A -- \"$to\")\" ]; then\n"
	"  echo \"runbook: $to is not empty: give 'overwrite: true' to replace what it holds\" >&2; exit 3; fi\n"
	/* what a killed attempt left half written */
	"set +f\nfor d in \"$stale\"??????; do if [ -d \"$d\" ] && [ ! -L \"$d\" ]; then rm -rf -- \"$d\"; fi; done\nset -f\n";

/* Puts the complete extraction $t in place of $to, keeping what $to held
 * as $prev — unless an earlier attempt of this step already did (then
 * $to is that attempt's result, which goes). */
static const char SWAP_SH[] =
	"sync -f \"$t\" 2>/dev/null || sync\n"
	"if [ -e \"$prev\" ] || [ -L \"$prev\" ]; then rm -rf -- \"$to\" || exit 3; s=earlier\n"
	"elif [ -e \"$to\" ]; then mv -- \"$to\" \"$prev\" || { rm -rf -- \"$t\"; exit 3; }; s=kept\n"
	"else : > \"$prev\" || { rm -rf -- \"$t\"; exit 3; }; s=none\n"
	"fi\n"
	"if [ -e \"$to\" ]; then echo \"runbook: $to came back while it was replaced\" >&2; rm -rf -- \"$t\"; exit 3; fi\n"
	"mv -- \"$t\" \"$to\" || exit 3\n"
	"echo \"runbook-prev: $s\"\n";

static const char UNDO_SH[] =
	"if [ ! -e \"$prev\" ] && [ ! -L \"$prev\" ]; then\n"
	"  if [ -e \"$trash\" ] || [ -L \"$trash\" ]; then rm -rf -- \"$trash\" && : > \"$trash\"; exit 0; fi\n"
	"  echo \"runbook: the previous contents of $to ($prev) are gone: nothing to put back\" >&2; exit 3\n"
	"fi\n"
	"if [ -e \"$trash\" ] || [ -L \"$trash\" ]; then rm -rf -- \"$trash\" || exit 3; fi\n"
	"if [ -e \"$to\" ] || [ -L \"$to\" ]; then mv -- \"$to\" \"$trash\" || exit 3; fi\n"
	"if [ -d \"$prev\" ] && [ ! -L \"$prev\" ]; then mv -- \"$prev\" \"$to\" || exit 3\n"
	"else rm -f -- \"$prev\" || exit 3; fi\n"
	/* an empty file says the undo ran: run again (a resumed rollback), it
	 * finds nothing to do rather than "gone" */
	"rm -rf -- \"$trash\" && : > \"$trash\"\n";

static void target_vars(struct sbuf *sb, const struct target *t, bool overwrite)
{
	sbuf_adds(sb, "set -f\n");
	sh_var(sb, "to", t->to);
	sh_var(sb, "stale", t->stale);
	sh_var(sb, "prev", t->prev);
	sh_var(sb, "trash", t->trash);
	sh_var(sb, "tmpl", t->tmpl);
	sbuf_addf(sb, "ow=%d\n", overwrite ? 1 : 0);
}

/* --- archive --------------------------------------------------------------------- */

/* The remote side: tar on the host writes the tree to its stdout.  GNU
 * tar is asked for what libarchive reads back: pax, holes, xattrs. */
static char *tar_create_cmd(const char *path, bool zip)
{
	struct sbuf sb = {0};
	sbuf_adds(&sb, "set -f\np=");
	shell_quote_word(&sb, path);
	sbuf_adds(&sb, "\n[ -d \"$p\" ] || { echo \"runbook: $p is not a folder\" >&2; exit 3; }\n"
		       "cd -- \"$p\" || exit 3\n"
		       "if tar --version 2>/dev/null | grep -q 'GNU tar'; then\n"
		       "  exec tar --format=posix --sparse --xattrs '--xattrs-include=*'");
	if (zip)
		sbuf_adds(&sb, " --hard-dereference");
	sbuf_adds(&sb, " -cf - .\nfi\nexec tar -cf - .\n");
	return sbuf_detach(&sb);
}

struct archive_pump {
	struct snap_writer *w;
	struct snap_totals t;
};

static int archive_body(struct pump *p)
{
	struct archive_pump *ap = p->arg;
	int rc = snap_add_tar(ap->w, p->fd, &(struct snap_stop){stop_check, &p->stop}, &p->why);
	/* after the end of the archive, tar pads its last record: read it,
	 * or the command would be stopped for writing it */
	char buf[16384];
	ssize_t n;
	while (rc == 0 && ((n = read(p->fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)))
		;
	/* no more reading: a writer still sending gets EPIPE, not a hang */
	close(p->fd);
	p->fd = -1;
	char go = 0;
	while (read(p->go[0], &go, 1) < 0 && errno == EINTR)
		;
	if (rc == 0 && go == 1)
		rc = snap_writer_finish(ap->w, &(struct snap_stop){stop_check, &p->stop}, &ap->t, &p->why);
	return rc;
}

/* tar's exit 1 with only "changed as we read it" warnings: a live tree;
 * what arrived is consistent with its manifest. */
static bool tar_changed_only(const struct exec_result *res, struct collect *c)
{
	const char *e = sbuf_str(&c->err);
	return res->rc == 1 && strstr(e, "as we read it") && !strstr(e, "Cannot ") && !strstr(e, "ermission denied");
}

static int archive_remote(struct step_exec *x, struct snap_writer *w, const char *from, bool zip,
			  long long deadline, struct snap_totals *t)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		x->why = xasprintf("cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	struct archive_pump ap = {.w = w};
	struct pump p = {.body = archive_body, .fd = fds[0], .arg = &ap};
	p.stop.deadline = deadline;
	char *why = NULL;
	if (pump_start(&p, &why) < 0) {
		close(fds[0]);
		close(fds[1]);
		return failed(x, why, deadline);
	}
	char *cmd = tar_create_cmd(from, zip);
	struct collect c = {.fd = fds[1]};
	struct exec_sink sink = {collect_data, &c, NULL, &c.cancel};
	struct exec_result res;
	exec_command_io(x, cmd, -1, &sink, &res);
	free(cmd);
	close(fds[1]);
	bool ok = !res.error && !res.lost && !res.interrupted && !res.timed_out && !res.cancelled &&
		  (res.rc == 0 || tar_changed_only(&res, &c));
	char go = ok ? 1 : 0;
	if (!ok)
		atomic_store(&p.stop.abort, true);
	while (write(p.go[1], &go, 1) < 0 && errno == EINTR)
		;
	pump_join(&p);
	int rc = 0;
	/* the host's side first: its failure explains the stream's (a stop
	 * asked by the stream's reader is the stream's) */
	char *what = xasprintf("tar on %s", x->host->name);
	if (!res.cancelled && outcome(x, &res, ok, &c, what) < 0) {
		rc = -1;
	} else if (p.rc < 0) {
		rc = failed(x, p.why, deadline);
		p.why = NULL;
	} else {
		*t = ap.t;
		/* what tar said without failing: sockets left out, files that changed */
		char *e = collect_err(&c);
		warn_lines(x, e);
		free(e);
	}
	free(what);
	free(p.why);
	exec_result_release(&res);
	collect_release(&c);
	return rc;
}

/* Half-written archives of earlier attempts (a crash, a kill) beside to. */
static void remove_stale(struct step_exec *x, const char *to)
{
	char *dir = xstrdup(to);
	char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : to;
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	char *prefix = xasprintf("%s.rb-tmp-", base);
	char *mprefix = xasprintf("%s.manifest.json.rb-tmp-", base);
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		const char *n = de->d_name;
		if ((!strncmp(n, prefix, strlen(prefix)) && strlen(n) == strlen(prefix) + 6) ||
		    !strncmp(n, mprefix, strlen(mprefix))) {
			char *p = xasprintf("%s/%s", dir, n);
			if (unlink(p) == 0)
				stepio_log(x, "# removed %s, left by an interrupted attempt\n", p);
			free(p);
		}
	}
	if (d)
		closedir(d);
	free(prefix);
	free(mprefix);
	free(dir);
}

int run_archive(struct step_exec *x)
{
	const struct step *st = x->st;
	stepio_begin(x);
	struct xfer X;
	int rc = -1;
	if (xfer_begin(x, st->xsrc, st->xdest, &X) < 0)
		goto out;
	char *from = xfer_host_path(x, X.a, X.cwd), *to = xfer_here_path(x, X.b);
	enum snap_format fmt;
	struct stat sb;
	if (st->xformat >= 0)
		fmt = (enum snap_format)st->xformat;
	else if (snap_format_of_path(to, &fmt) < 0) {
		x->why = xasprintf("cannot tell the archive's format from '%s': end it in .tar.zst, .tar.gz, .tar or "
				   ".zip, or give 'format'", to);
		goto done;
	}
	int lo, hi;
	if (st->xlevel >= 0 && (!snap_format_levels(fmt, &lo, &hi) || st->xlevel < lo || st->xlevel > hi)) {
		x->why = hi < lo ? xasprintf("a %s archive takes no 'level'", snap_format_name(fmt))
				 : xasprintf("'level' of a %s archive is %d to %d", snap_format_name(fmt), lo, hi);
		goto done;
	}
	if (stat(to, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		x->why = xasprintf("%s is a folder: give the archive's file name", to);
		goto done;
	}
	/* its folder, made 0700 where missing: it will hold a copy of a
	 * host's data */
	char *dir = xstrdup(to);
	char *slash = strrchr(dir, '/');
	int made = slash && slash != dir ? (*slash = '\0', mkdir_p(dir, 0700)) : 0;
	free(dir);
	if (made < 0) {
		x->why = xasprintf("cannot create the folder of %s: %s", to, strerror(errno));
		goto done;
	}
	remove_stale(x, to);
	long long deadline = xfer_deadline(x);
	struct snap_spec sp = {.to = to,
			       .format = fmt,
			       .level = st->xlevel,
			       .excludes = st->xexcl,
			       .nexcludes = st->nxexcl,
			       .host = x->host->name,
			       .source = from};
	struct snap_totals t;
	char *why = NULL;
	struct snap_writer *w = snap_writer_new(&sp, &why);
	if (!w) {
		failed(x, why, deadline);
		goto done;
	}
	if (x->host->local && !exec_uses_sudo(x)) {
		struct stopper s = {.deadline = deadline};
		struct snap_stop stop = {stop_check, &s};
		if (snap_add_disk(w, from, &stop, &why) < 0 || snap_writer_finish(w, &stop, &t, &why) < 0)
			failed(x, why, deadline);
		else
			rc = 0;
	} else {
		rc = archive_remote(x, w, from, fmt == SNAP_ZIP, deadline, &t);
	}
	warn_lines(x, snap_writer_notes(w));
	snap_writer_free(w);
	if (rc == 0) {
		char in[32], out[32];
		human(in, sizeof(in), t.bytes);
		human(out, sizeof(out), t.archive_bytes);
		char *ex = t.excluded ? xasprintf(", %lld excluded", t.excluded) : xstrdup("");
		stepio_log(x, "# archived %lld entries (%s) from %s:%s into %s (%s, %s), verified%s\n# sha256 %s\n",
			   t.entries, in, x->host->name, from, to, out, snap_format_name(fmt), ex, t.sha256);
		note(x, "archive", "%lld entries (%s) into %s (%s, %s), verified%s", t.entries, in, to, out,
			snap_format_name(fmt), ex);
		free(ex);
		x->rc = 0;
		/* the captures archive.entries, archive.bytes, archive.sha256 */
		char *vals[3] = {xasprintf("%lld", t.entries), xasprintf("%lld", t.archive_bytes), xstrdup(t.sha256)};
		for (size_t i = 0; i < 3 && i < st->ncaps; i++) {
			free(x->cap_val[i]);
			x->cap_val[i] = vals[i];
			vals[i] = NULL;
			scope_set(x->lk.scope, st->caps[i].name, x->cap_val[i], false);
		}
		for (size_t i = 0; i < 3; i++)
			free(vals[i]);
		if (st->check)
			rc = step_check(x);
	}
done:
	free(from);
	free(to);
out:
	xfer_end(&X);
	return rc;
}

/* --- extract ----------------------------------------------------------------------- */

/* The paths an extraction may create: relative, no "..", never through a
 * symlink the archive itself made. */
struct safety {
	int strip;
	char **links;            /* symlinks made so far (sorted) */
	size_t nlinks, cap;
	const char *path;        /* the current entry's, stripped */
	const char *hardlink;    /* ...and its hard link's target */
	char *pathbuf, *linkbuf;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_link(struct safety *s, const char *p, size_t n)
{
	char *key = xstrndup(p, n);
	bool hit = s->nlinks && bsearch(&key, s->links, s->nlinks, sizeof(char *), cmp_str);
	free(key);
	return hit;
}

static const char *through_link(struct safety *s, const char *p)
{
	for (const char *q = strchr(p, '/'); q; q = strchr(q + 1, '/'))
		if (is_link(s, p, (size_t)(q - p)))
			return q;
	return NULL;
}

static void add_link(struct safety *s, const char *p)
{
	if (is_link(s, p, strlen(p)))
		return;
	VEC_PUSH(s->links, s->nlinks, s->cap, xstrdup(p));
	qsort(s->links, s->nlinks, sizeof(char *), cmp_str);
}

static void safety_release(struct safety *s)
{
	for (size_t i = 0; i < s->nlinks; i++)
		free(s->links[i]);
	free(s->links);
	free(s->pathbuf);
	free(s->linkbuf);
}

/* 1: the entry is stripped away; 0: s->path (and s->hardlink) are safe;
 * -1 with *why. */
static int safe_entry(struct safety *s, const struct mf_entry *m, char **why)
{
	/* the whole name first: a strip must not turn "/etc/x" or "../x"
	 * into something that looks safe */
	const char *bad = snap_unsafe_path(m->path);
	if (!bad && m->type == MF_HARDLINK && (bad = snap_unsafe_path(m->link))) {
		*why = xasprintf("the archive holds '%s', a hard link to '%s' (%s), outside 'to': refused", m->path,
				 m->link, bad);
		return -1;
	}
	const char *p = snap_strip(m->path, s->strip);
	s->path = p;
	s->hardlink = NULL;
	if (!bad && !p)
		return 1;
	if (bad || (bad = snap_unsafe_path(p))) {
		*why = xasprintf("the archive holds '%s' (%s), which would land outside 'to': refused", m->path, bad);
		return -1;
	}
	if (!strcmp(p, ".") && m->type != MF_DIR) {
		*why = xasprintf("the archive's top entry '%s' is a %s, not a folder: refused", m->path,
				 mf_type_name(m->type));
		return -1;
	}
	if (is_link(s, p, strlen(p))) {
		*why = xasprintf("the archive holds '%s' twice, first as a symlink: refused", m->path);
		return -1;
	}
	const char *q = through_link(s, p);
	if (q) {
		*why = xasprintf("the archive holds '%s', which would be written through its own symlink '%.*s': refused",
				 m->path, (int)(q - p), p);
		return -1;
	}
	if (m->type == MF_HARDLINK) {
		const char *l = snap_strip(m->link, s->strip);
		if (!l || (bad = snap_unsafe_path(l)) || through_link(s, l)) {
			*why = xasprintf("the archive holds '%s', a hard link to '%s', outside 'to': refused", m->path,
					 m->link);
			return -1;
		}
		s->hardlink = l;
	}
	if (m->type == MF_SYMLINK)
		add_link(s, p);
	return 0;
}

static int check_entry(void *ctx, struct archive_entry *ae, const struct mf_entry *m, char **why)
{
	int r = safe_entry(ctx, m, why);
	return r < 0 ? -1 : 1;
}

/* Writing locally with libarchive. */
struct disk_out {
	struct safety s;
	struct archive *d;
	const char *root;
	int flags;               /* archive_write_disk options */
	bool root_time;          /* the '.' entry's mtime, set once the */
	struct timespec mtime;   /* entries inside stop changing it */
};

static int disk_entry(void *ctx, struct archive_entry *ae, const struct mf_entry *m, char **why)
{
	struct disk_out *o = ctx;
	int r = safe_entry(&o->s, m, why);
	if (r)
		return r;
	free(o->s.pathbuf);
	o->s.pathbuf = strcmp(o->s.path, ".") ? xasprintf("%s/%s", o->root, o->s.path) : xstrdup(o->root);
	archive_entry_set_pathname(ae, o->s.pathbuf);
	if (!strcmp(o->s.path, ".") && archive_entry_mtime_is_set(ae)) {
		o->root_time = true;
		o->mtime.tv_sec = archive_entry_mtime(ae);
		o->mtime.tv_nsec = archive_entry_mtime_nsec(ae);
	}
	if (o->s.hardlink) {
		free(o->s.linkbuf);
		o->s.linkbuf = xasprintf("%s/%s", o->root, o->s.hardlink);
		archive_entry_set_hardlink(ae, o->s.linkbuf);
	}
	/* holes only where the archive has them: the sparse mode writes in
	 * 4 KiB pieces, looking for zeros */
	archive_write_disk_set_options(o->d, o->flags | (m->sparse ? ARCHIVE_EXTRACT_SPARSE : 0));
	if (archive_write_header(o->d, ae) < ARCHIVE_WARN) {
		*why = xasprintf("cannot create %s: %s", o->s.pathbuf, archive_error_string(o->d));
		return -1;
	}
	return 0;
}

static int disk_data(void *ctx, const void *buf, size_t n, long long off, char **why)
{
	struct disk_out *o = ctx;
	if (archive_write_data_block(o->d, buf, n, off) < ARCHIVE_WARN) {
		*why = xasprintf("cannot write %s: %s", o->s.pathbuf, archive_error_string(o->d));
		return -1;
	}
	return 0;
}

static int disk_done(void *ctx, const struct mf_entry *m, char **why)
{
	struct disk_out *o = ctx;
	if (archive_write_finish_entry(o->d) < ARCHIVE_WARN) {
		*why = xasprintf("cannot finish %s: %s", o->s.pathbuf, archive_error_string(o->d));
		return -1;
	}
	return 0;
}

/* A pax tar stream for `tar -x` on the host. */
struct tar_out {
	struct safety s;
	struct snap_out out;     /* the stream's writer */
	long long size;          /* of the entry being sent */
	int fd;                  /* the pipe */
	bool broken;             /* the stream failed: nothing more is sent */
};

/* A stream that broke off must not end like a whole one: once broken, no
 * zeros for the rest of the entry, no end-of-archive blocks. */
static la_ssize_t tar_out_write(struct archive *a, void *ctx, const void *buf, size_t n)
{
	struct tar_out *o = ctx;
	if (o->broken) {
		archive_set_error(a, ECANCELED, "abandoned");
		return -1;
	}
	if (write_full(o->fd, buf, n, FP_FILE_WRITE) < 0) {
		archive_set_error(a, errno, "%s", strerror(errno));
		return -1;
	}
	return (la_ssize_t)n;
}

static int tar_entry(void *ctx, struct archive_entry *ae, const struct mf_entry *m, char **why)
{
	struct tar_out *o = ctx;
	int r = safe_entry(&o->s, m, why);
	if (r)
		return r;
	archive_entry_set_pathname(ae, o->s.path);
	if (o->s.hardlink)
		archive_entry_set_hardlink(ae, o->s.hardlink);
	if (archive_write_header(o->out.a, ae) < ARCHIVE_WARN) {
		*why = xasprintf("cannot send '%s': %s", m->path, archive_error_string(o->out.a));
		return -1;
	}
	o->out.at = 0;
	o->size = m->type == MF_FILE ? m->size : 0;
	return 0;
}

static int tar_data(void *ctx, const void *buf, size_t n, long long off, char **why)
{
	struct tar_out *o = ctx;
	return snap_out_block(&o->out, buf, n, off, why);
}

static int tar_done(void *ctx, const struct mf_entry *m, char **why)
{
	struct tar_out *o = ctx;
	if (snap_out_fill(&o->out, o->size, why) < 0)
		return -1;
	if (archive_write_finish_entry(o->out.a) < ARCHIVE_WARN) {
		*why = xasprintf("cannot send the archive: %s", archive_error_string(o->out.a));
		return -1;
	}
	return 0;
}

struct extract_pump {
	const char *from;
	int strip;
	struct snap_totals t;
};

static int extract_body(struct pump *p)
{
	struct extract_pump *ep = p->arg;
	struct snap_stop stop = {stop_check, &p->stop};
	struct tar_out o = {.s.strip = ep->strip, .out = {archive_write_new(), 0, &stop}, .fd = p->fd};
	struct archive *a = o.out.a;
	archive_write_set_format_pax_restricted(a);
	archive_write_set_option(a, "pax", "hdrcharset", "BINARY");
	archive_write_set_bytes_in_last_block(a, 1);
	int rc = -1;
	if (archive_write_open2(a, &o, NULL, tar_out_write, NULL, NULL) != ARCHIVE_OK) {
		p->why = xasprintf("cannot start the stream: %s", archive_error_string(a));
	} else {
		struct snap_visit v = {tar_entry, tar_data, tar_done, &o};
		rc = snap_read(ep->from, NULL, &v, &stop, SNAP_AGAIN, &ep->t, &p->why);
		if (rc == 0 && archive_write_close(a) != ARCHIVE_OK) {
			p->why = xasprintf("cannot send the archive: %s", archive_error_string(a));
			rc = -1;
		}
	}
	o.broken = rc < 0;
	/* after a failed write libarchive is in its FATAL state, where
	 * archive_write_free() skips the close that frees its output buffer
	 * (a leak in Debian 12's libarchive 3.6, its issue #1568): close
	 * first; being broken, the stream gets nothing more */
	if (rc < 0)
		archive_write_close(a);
	archive_write_free(a);
	close(p->fd);
	p->fd = -1;
	safety_release(&o.s);
	return rc;
}

/* What the swap said of the previous contents: kept, none or earlier. */
static void prev_state(struct collect *c, char *state, size_t n)
{
	const char *p = strstr(sbuf_str(&c->out), "runbook-prev: ");
	snprintf(state, n, "%.*s", p ? (int)strcspn(p + 14, "\n") : 0, p ? p + 14 : "");
}

/* On the host (SSH, or sudo): tar -x into a new folder beside `to`, fed
 * by the pump; then, only once both sides succeeded, the swap.  Two
 * commands, so that a stream that broke off (a timeout, Ctrl-C, a read
 * error here) never lets a partial tree take `to`'s place: tar may end
 * well on a stream cut between two entries. */
static int extract_remote(struct step_exec *x, const char *from, const struct target *tg, long long deadline,
			  struct snap_totals *t, char *state, size_t nstate)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		x->why = xasprintf("cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	struct extract_pump ep = {.from = from, .strip = x->st->xstrip};
	struct pump p = {.body = extract_body, .fd = fds[1], .arg = &ep};
	p.stop.deadline = deadline;
	char *why = NULL;
	if (pump_start(&p, &why) < 0) {
		close(fds[0]);
		close(fds[1]);
		return failed(x, why, deadline);
	}
	struct sbuf sb = {0};
	target_vars(&sb, tg, x->st->xoverwrite);
	sbuf_adds(&sb, PRECHECK_SH);
	sbuf_adds(&sb, "t=$(mktemp -d \"$tmpl\") || exit 3\n"
		       "echo \"runbook-tmp: $t\"\n"
		       /* the mode and owner `to` has, or would get: an archive
			* without its '.' entry (strip) leaves them so */
		       "if [ -d \"$to\" ]; then chmod \"$(stat -c %a -- \"$to\")\" \"$t\" &&\n"
		       "  { [ \"$(id -u)\" != 0 ] || chown \"$(stat -c %u:%g -- \"$to\")\" \"$t\"; }\n"
		       "else chmod \"$(printf %o $((0777 & ~0$(umask))))\" \"$t\"; fi || { rm -rf -- \"$t\"; exit 3; }\n"
		       "x=\nif tar --version 2>/dev/null | grep -q 'GNU tar'; then x='--xattrs --xattrs-include=* --warning=no-unknown-keyword'; fi\n"
		       "if ! tar -xpf - -C \"$t\" $x; then rm -rf -- \"$t\"; exit 4; fi\n");
	struct collect c = {.fd = -1};
	int rc = sh_run(x, sbuf_str(&sb), fds[0], &c, "the restore");
	close(fds[0]);
	atomic_store(&p.stop.abort, rc < 0);
	pump_join(&p);
	const char *tl = strstr(sbuf_str(&c.out), "runbook-tmp: ");
	char *tmp = tl ? xstrndup(tl + 13, strcspn(tl + 13, "\n")) : NULL;
	sbuf_reset(&sb);
	if (rc == 0 && p.rc < 0) {
		rc = failed(x, p.why, deadline);
		p.why = NULL;
	} else if (rc < 0 && p.rc < 0 && x->rc == 4 && p.why && strcmp(p.why, "stopped")) {
		/* tar failed because the stream did: say why the stream did */
		free(x->why);
		x->why = snap_printable(p.why);
	}
	struct collect c2 = {.fd = -1};
	if (rc == 0 && tmp) {
		target_vars(&sb, tg, x->st->xoverwrite);
		sh_var(&sb, "t", tmp);
		sbuf_adds(&sb, SWAP_SH);
		rc = sh_run(x, sbuf_str(&sb), -1, &c2, "the swap");
		if (rc == 0) {
			*t = ep.t;
			prev_state(&c2, state, nstate);
		}
	} else if (tmp && !x->lost) {
		/* what came is not the archive: away with it (if this fails, the
		 * next attempt removes it) */
		sbuf_adds(&sb, "rm -rf -- ");
		shell_quote_word(&sb, tmp);
		char *was = x->why;
		int was_rc = x->rc;
		bool was_int = x->interrupted, was_lost = x->lost;
		x->why = NULL;
		if (sh_run(x, sbuf_str(&sb), -1, &c2, "removing the partial restore") < 0)
			stepio_log(x, "# %s\n", x->why);
		free(x->why);
		x->why = was;
		x->rc = was_rc;
		x->interrupted = was_int;
		x->lost = was_lost;
	} else if (rc == 0) {
		rc = -1;
		x->why = xstrdup("the restore did not say where it extracted");
	}
	free(tmp);
	free(p.why);
	collect_release(&c);
	collect_release(&c2);
	sbuf_release(&sb);
	return rc;
}

static int extract_local(struct step_exec *x, const char *from, const struct target *tg, long long deadline,
			 struct snap_totals *t, char *state, size_t nstate)
{
	struct sbuf sb = {0};
	struct collect c = {.fd = -1};
	target_vars(&sb, tg, x->st->xoverwrite);
	sbuf_adds(&sb, PRECHECK_SH);
	int rc = sh_run(x, sbuf_str(&sb), -1, &c, "the restore");
	sbuf_release(&sb);
	collect_release(&c);
	if (rc < 0)
		return -1;
	char *tmp = xstrdup(tg->tmpl);
	if (!mkdtemp(tmp)) {
		x->why = xasprintf("cannot create a folder beside %s: %s", tg->to, strerror(errno));
		free(tmp);
		return -1;
	}
	/* the mode `to` has, or would get (see extract_remote) */
	struct stat st;
	mode_t um = umask(0);
	umask(um);
	if (stat(tg->to, &st) == 0) {
		chmod(tmp, st.st_mode & 07777);
		if (geteuid() == 0 && chown(tmp, st.st_uid, st.st_gid) < 0)
			stepio_log(x, "# cannot give %s the owner of %s: %s\n", tmp, tg->to, strerror(errno));
	} else {
		chmod(tmp, 0777 & ~um);
	}
	struct disk_out o = {.s.strip = x->st->xstrip, .root = tmp};
	o.d = archive_write_disk_new();
	o.flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_XATTR |
		  ARCHIVE_EXTRACT_FFLAGS | ARCHIVE_EXTRACT_SECURE_NODOTDOT;
	if (geteuid() == 0)
		o.flags |= ARCHIVE_EXTRACT_OWNER;
	archive_write_disk_set_options(o.d, o.flags);
	archive_write_disk_set_standard_lookup(o.d);
	struct stopper s = {.deadline = deadline};
	struct snap_visit v = {disk_entry, disk_data, disk_done, &o};
	char *why = NULL;
	rc = snap_read(from, NULL, &v, &(struct snap_stop){stop_check, &s}, SNAP_AGAIN, t, &why);
	if (rc == 0 && archive_write_close(o.d) != ARCHIVE_OK) {
		why = xasprintf("cannot finish the restore: %s", archive_error_string(o.d));
		rc = -1;
	}
	if (rc == 0 && o.root_time) {
		struct timespec ts[2] = {o.mtime, o.mtime};
		utimensat(AT_FDCWD, tmp, ts, 0);
	}
	archive_write_free(o.d);
	safety_release(&o.s);
	if (rc < 0) {
		failed(x, why, deadline);
		sbuf_adds(&sb, "rm -rf -- ");
		shell_quote_word(&sb, tmp);
		if (system(sbuf_str(&sb)) != 0)
			stepio_log(x, "# could not remove %s\n", tmp);
		sbuf_release(&sb);
		free(tmp);
		return -1;
	}
	target_vars(&sb, tg, x->st->xoverwrite);
	sh_var(&sb, "t", tmp);
	sbuf_adds(&sb, SWAP_SH);
	struct collect c2 = {.fd = -1};
	rc = sh_run(x, sbuf_str(&sb), -1, &c2, "the swap");
	if (rc == 0)
		prev_state(&c2, state, nstate);
	collect_release(&c2);
	sbuf_release(&sb);
	free(tmp);
	return rc;
}

int run_extract(struct step_exec *x)
{
	const struct step *st = x->st;
	struct xfer X;
	int rc = -1;
	if (xfer_begin(x, st->xsrc, st->xdest, &X) < 0)
		goto out;
	char *from = xfer_here_path(x, X.a), *to = xfer_host_path(x, X.b, X.cwd);
	struct target tg;
	if (target_of(x, to, x->ps->id, &tg) < 0)
		goto done;
	long long deadline = xfer_deadline(x);
	/* proven whole and safe before anything is written */
	struct stopper s = {.deadline = deadline};
	struct safety sf = {.strip = st->xstrip};
	struct snap_visit check = {check_entry, NULL, NULL, &sf};
	struct snap_totals t;
	char *why = NULL;
	int vr = snap_read(from, NULL, &check, &(struct snap_stop){stop_check, &s}, 0, &t, &why);
	safety_release(&sf);
	if (vr < 0) {
		failed(x, why, deadline);
		target_release(&tg);
		goto done;
	}
	stepio_log(x, "# %s verified against its manifest: %lld entries, sha256 %s\n", from, t.entries, t.sha256);
	char state[16] = "";
	if (x->host->local && !exec_uses_sudo(x))
		rc = extract_local(x, from, &tg, deadline, &t, state, sizeof(state));
	else
		rc = extract_remote(x, from, &tg, deadline, &t, state, sizeof(state));
	if (rc == 0) {
		char in[32];
		human(in, sizeof(in), t.bytes);
		char *before = !strcmp(state, "none") ? xstrdup("it did not exist before (the undo removes it)")
			       : xasprintf("what it held before is kept in %s (the undo puts it back)", tg.prev);
		stepio_log(x, "# restored %lld entries (%s) into %s:%s; %s\n", t.entries, in, x->host->name, tg.to, before);
		note(x, "extract", "%lld entries (%s) into %s, verified; %s", t.entries, in, tg.to, before);
		free(before);
		x->rc = 0;
		if (st->check)
			rc = step_check(x);
	}
	target_release(&tg);
done:
	free(from);
	free(to);
out:
	xfer_end(&X);
	return rc;
}

/* The undo of an extract (the step carries the extract's templates). */
int run_extract_undo(struct step_exec *x)
{
	const struct step *st = x->st;
	struct xfer X;
	int rc = -1;
	if (xfer_begin(x, st->xsrc, st->xdest, &X) < 0)
		goto out;
	char *to = xfer_host_path(x, X.b, X.cwd);
	struct target tg;
	const char *of = x->uc ? x->uc->unit->id : x->ps->id;
	if (target_of(x, to, of, &tg) == 0) {
		struct sbuf sb = {0};
		target_vars(&sb, &tg, true);
		sbuf_adds(&sb, UNDO_SH);
		struct collect c = {.fd = -1};
		rc = sh_run(x, sbuf_str(&sb), -1, &c, "putting the previous contents back");
		if (rc == 0) {
			stepio_log(x, "# %s:%s holds again what it held before the extract\n", x->host->name, tg.to);
			x->rc = 0;
		}
		collect_release(&c);
		sbuf_release(&sb);
		target_release(&tg);
	}
	free(to);
out:
	xfer_end(&X);
	return rc;
}
