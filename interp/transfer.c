/* transfer.c — the upload, download and write steps.
 *
 * Every transfer is atomic where it lands: the bytes go to a temporary
 * name beside the destination, get their mode, are synced, and only then
 * renamed over it — a crash or a dropped connection leaves the old file
 * or the new one, never half of one.  Files are streamed in chunks, so
 * memory stays flat whatever their size.
 *
 *   upload   {src: file on the operator's machine, dest: path on the host, mode}
 *   download {src: path on the host, dest: file on the operator's machine}
 *   write    {path: path on the host, content: text, mode}
 *
 * Paths on the operator's machine are taken from the runbook's folder
 * when relative; paths on the host from the step's cwd, else the host's
 * default folder (the login folder over SSH).  As the login user the
 * transport does the work (SFTP for SSH hosts, plain files locally); with
 * sudo, which SFTP cannot do, a small shell script run through sudo
 * receives or sends the bytes on stdin/stdout. */
#include "fault.h"
#include "steps.h"

#include "engine.h"
#include "journal.h"
#include "sig.h"
#include "snapshot.h"
#include "template.h"
#include "ui.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmpl_source(void *ctx, const struct tmpl *t)
{
	return t ? xstrdup(t->src) : NULL;
}

char *transfer_describe(const struct step *st, char *(*render)(void *ctx, const struct tmpl *t), void *ctx)
{
	if (!render)
		render = tmpl_source;
	char *src = render(ctx, st->xsrc), *dest = render(ctx, st->xdest);
	struct sbuf sb = {0};
	const char *k = st->kind->key;
	if (st->kind == &extract_undo_kind) {
		sbuf_addf(&sb, "put back what %s held before the extract", dest ? dest : "?");
		free(src);
		free(dest);
		return sbuf_detach(&sb);
	}
	if (!strcmp(k, "archive") || !strcmp(k, "extract")) {
		bool ar = !strcmp(k, "archive");
		sbuf_addf(&sb, "%s %s \xe2\x86\x92 %s", k, src ? src : "?", dest ? dest : "?");
		struct sbuf opt = {0};
		if (ar && st->xformat >= 0)
			sbuf_addf(&opt, "%s", snap_format_name((enum snap_format)st->xformat));
		if (ar && st->xlevel >= 0)
			sbuf_addf(&opt, "%slevel %d", opt.len ? ", " : "", st->xlevel);
		for (size_t i = 0; ar && i < st->nxexcl; i++)
			sbuf_addf(&opt, "%s%s%s", opt.len ? (i ? " " : ", ") : "", i ? "" : "excluding ", st->xexcl[i]);
		if (!ar && st->xstrip)
			sbuf_addf(&opt, "strip %d", st->xstrip);
		if (!ar && st->xoverwrite)
			sbuf_addf(&opt, "%soverwrite", opt.len ? ", " : "");
		if (opt.len)
			sbuf_addf(&sb, " (%s)", sbuf_str(&opt));
		sbuf_release(&opt);
		free(src);
		free(dest);
		return sbuf_detach(&sb);
	}
	if (!strcmp(k, "write"))
		sbuf_addf(&sb, "write %s", dest ? dest : "?");
	else
		sbuf_addf(&sb, "%s %s \xe2\x86\x92 %s", k, src ? src : "?", dest ? dest : "?");
	if (st->xmode >= 0)
		sbuf_addf(&sb, " (mode %04o)", st->xmode);
	free(src);
	free(dest);
	return sbuf_detach(&sb);
}

/* --- paths ----------------------------------------------------------------- */

/* A path on the operator's machine: relative ones from the runbook's folder. */
char *xfer_here_path(struct step_exec *x, const char *p)
{
	const char *dir = x->eng->plan->rb->dir;
	if (p[0] == '/' || !dir || !*dir)
		return xstrdup(p);
	return xasprintf("%s/%s", dir, p);
}

/* A path on the host: relative ones from the step's cwd when it has one. */
char *xfer_host_path(struct step_exec *x, const char *p, const char *cwd)
{
	if (p[0] == '/' || !cwd)
		return xstrdup(p);
	return xasprintf("%s/%s", cwd, p);
}

long long xfer_deadline(struct step_exec *x)
{
	struct scope *sc;
	const struct step *s = pstep_nearest(x->ps, NEAREST_TIMEOUT, &sc);
	x->timeout_ms = s ? s->timeout_ms : 0;
	return s ? now_ms() + s->timeout_ms : 0;
}

/* --- local files --------------------------------------------------------- */

/* A temporary file beside path (same folder: rename is atomic), 0600. */
static int temp_beside(const char *path, char **tmp)
{
	*tmp = xasprintf("%s.rb-tmp-XXXXXX", path);
	int fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

/* Syncs fd, gives it mode, closes it and renames tmp over path.  0, or
 * -1 with *why (tmp removed). */
static int land(int fd, const char *tmp, const char *path, int mode, char **why)
{
	if (fchmod(fd, (mode_t)mode) < 0 || fsync(fd) < 0) {
		*why = xasprintf("cannot finish %s: %s", path, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0 || (errno = fault_hit(FP_RENAME)) != 0 || rename(tmp, path) < 0) {
		*why = xasprintf("cannot put %s in place: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	fsync_parent(path);
	return 0;
}

/* Copies from into to until the end; src and dst name them in errors. */
static int copy_fd(int from, const char *src, int to, const char *dst, long long *n, long long deadline,
		   char **why)
{
	char buf[65536];
	*n = 0;
	for (;;) {
		if (deadline && now_ms() >= deadline) {
			*why = xstrdup("timed out");
			return -1;
		}
		ssize_t r = read(from, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*why = xasprintf("cannot read %s: %s", src, strerror(errno));
			return -1;
		}
		if (r == 0)
			return 0;
		if (write_full(to, buf, (size_t)r, FP_FILE_WRITE) < 0) {
			*why = xasprintf("cannot write %s: %s", dst, strerror(errno));
			return -1;
		}
		*n += r;
	}
}

/* --- with sudo: through a shell on the host ------------------------------- */

void collect_data(void *ctx, int stream, const char *buf, size_t n)
{
	struct collect *c = ctx;
	if (stream == 1 && c->fd >= 0) {
		if (!c->werr && write_full(c->fd, buf, n, FP_FILE_WRITE) < 0) {
			/* nobody reads any more: stop the command */
			c->werr = errno;
			c->cancel = true;
		}
	} else if (stream == 2) {
		/* the last 16 KiB: a failing command says why at the end */
		if (n > 16384) {
			buf += n - 16384;
			n = 16384;
		}
		if (c->err.len + n > 16384) {
			size_t drop = c->err.len + n - 16384;
			memmove(c->err.buf, c->err.buf + drop, c->err.len - drop);
			c->err.len -= drop;
			c->err.buf[c->err.len] = '\0';
		}
		sbuf_add(&c->err, buf, n);
	} else if (stream == 1 && c->out.len < 16384) {
		sbuf_add(&c->out, buf, n);
	}
}

void collect_release(struct collect *c)
{
	sbuf_release(&c->out);
	sbuf_release(&c->err);
}

char *collect_err(struct collect *c)
{
	const char *e = sbuf_str(&c->err);
	size_t n = strlen(e);
	while (n && (e[n - 1] == '\n' || e[n - 1] == ' '))
		n--;
	/* the end: where a failing command says why */
	return n > 600 ? xasprintf("…%.*s", 600, e + n - 600) : xstrndup(e, n);
}

/* Why a shell transfer failed, from its result and stderr. */
static char *shell_why(const struct exec_result *res, struct collect *c, const char *what)
{
	if (res->error)
		return xstrdup(res->error);
	if (res->timed_out)
		return xasprintf("%s timed out", what);
	if (res->interrupted)
		return xasprintf("%s was interrupted", what);
	char *e = collect_err(c);
	char *r = xasprintf("%s failed (exit %d)%s%s", what, res->rc, *e ? ": " : "", e);
	free(e);
	return r;
}

static int sudo_put(struct step_exec *x, int src_fd, const char *dest, int mode, char **why)
{
	/* the whole file or nothing: the script counts what it received */
	struct stat st;
	long long size = fstat(src_fd, &st) == 0 ? (long long)st.st_size : -1;
	struct sbuf cmd = {0};
	char *pattern = xasprintf("%s.rb-tmp-XXXXXX", dest);
	sbuf_adds(&cmd, "if [ -d ");
	shell_quote_word(&cmd, dest);
	sbuf_adds(&cmd, " ]; then echo \"runbook: ");
	shell_quote_dq(&cmd, dest);
	sbuf_adds(&cmd, " is a folder: give the file's full path\" >&2; exit 1; fi; umask 077 && t=$(mktemp ");
	shell_quote_word(&cmd, pattern);
	sbuf_addf(&cmd,
		  ") && { cat > \"$t\" && { [ %lld -lt 0 ] || [ \"$(wc -c < \"$t\")\" -eq %lld ]; } && chmod %o \"$t\" && "
		  "mv -f -- \"$t\" ",
		  size, size, mode);
	shell_quote_word(&cmd, dest);
	sbuf_adds(&cmd, " || { rm -f -- \"$t\"; exit 1; }; }");
	free(pattern);
	struct collect c = {.fd = -1};
	struct exec_sink sink = {collect_data, &c, NULL, &c.cancel};
	struct exec_result res;
	exec_command_io(x, sbuf_str(&cmd), src_fd, &sink, &res);
	int rc = 0;
	if (res.lost) {
		x->interrupted = x->lost = true;
		*why = xstrdup(res.error);
		rc = -1;
	} else if (res.error || res.rc || res.timed_out || res.interrupted) {
		x->interrupted = res.interrupted;
		*why = shell_why(&res, &c, "writing through sudo");
		rc = -1;
	}
	exec_result_release(&res);
	collect_release(&c);
	sbuf_release(&cmd);
	return rc;
}

static int sudo_get(struct step_exec *x, const char *src, int dst_fd, const char *dst, int *mode, char **why)
{
	struct sbuf cmd = {0};
	/* the mode first, on stderr, then the bytes */
	sbuf_adds(&cmd, "stat -c %a -- ");
	shell_quote_word(&cmd, src);
	sbuf_adds(&cmd, " >&2 && exec cat -- ");
	shell_quote_word(&cmd, src);
	struct collect c = {.fd = dst_fd};
	struct exec_sink sink = {collect_data, &c, NULL, &c.cancel};
	struct exec_result res;
	exec_command_io(x, sbuf_str(&cmd), -1, &sink, &res);
	int rc = 0;
	if (res.lost) {
		x->interrupted = x->lost = true;
		*why = xstrdup(res.error);
		rc = -1;
	} else if (res.error || res.rc || res.timed_out || res.interrupted) {
		x->interrupted = res.interrupted;
		*why = shell_why(&res, &c, "reading through sudo");
		rc = -1;
	} else if (c.werr) {
		*why = xasprintf("cannot write %s: %s", dst, strerror(c.werr));
		rc = -1;
	} else {
		*mode = (int)strtol(sbuf_str(&c.err), NULL, 8) & 0777;
	}
	exec_result_release(&res);
	collect_release(&c);
	sbuf_release(&cmd);
	return rc;
}

/* --- the steps ---------------------------------------------------------------- */

/* Puts bytes (src_fd, else buf/len) on the host as dest. */
static int put(struct step_exec *x, int src_fd, const char *buf, size_t len, const char *dest, int mode,
	       char **why)
{
	long long deadline = xfer_deadline(x);
	int rc;
	if (exec_uses_sudo(x)) {
		int fd = src_fd;
		if (fd < 0) {
			/* the content as a file to feed sudo's stdin */
			fd = memfd_create("runbook-write", MFD_CLOEXEC);
			if (fd < 0 || write_full(fd, buf, len, FP_FILE_WRITE) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
				*why = xasprintf("cannot stage the content: %s", strerror(errno));
				if (fd >= 0)
					close(fd);
				return -1;
			}
		}
		rc = sudo_put(x, fd, dest, mode, why);
		if (fd != src_fd)
			close(fd);
	} else {
		struct put_req r = {.dest = dest, .src_fd = src_fd, .buf = buf, .len = len, .mode = mode,
				    .deadline = deadline};
		bool lost = false;
		struct transport *t = exec_transport(x, why);
		rc = t ? t->ops->put(t, &r, why, &lost) : -1;
		if (lost)
			x->interrupted = x->lost = true;
	}
	return rc;
}

/* Renders a template of the step (for the command: not shell-quoted). */
static char *rend(struct step_exec *x, const struct tmpl *t)
{
	return t ? exec_render(x, t, 0) : NULL;
}

static char *render_masked(void *ctx, const struct tmpl *t)
{
	return t ? exec_render(ctx, t, RENDER_MASK) : NULL;
}

static char *shown(struct step_exec *x)
{
	return transfer_describe(x->st, render_masked, x);
}

/* After the transfer (rc): logs what was done, then runs the check. */
static int finish(struct step_exec *x, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int finish(struct step_exec *x, int rc, const char *fmt, ...)
{
	if (rc < 0)
		return -1;
	struct sbuf done = {0};
	va_list ap;
	va_start(ap, fmt);
	sbuf_vaddf(&done, fmt, ap);
	va_end(ap);
	stepio_log(x, "# %s\n", sbuf_str(&done));
	sbuf_release(&done);
	if (x->st->check)
		return step_check(x);
	return 0;
}

int xfer_begin(struct step_exec *x, const struct tmpl *ta, const struct tmpl *tb, struct xfer *X)
{
	X->a = rend(x, ta);
	X->b = rend(x, tb);
	X->cwd = exec_cwd(x);
	if (!X->a || !X->b || x->why)
		return -1;
	char *what = shown(x);
	stepio_log(x, "$ %s\n", what);
	free(what);
	return 0;
}

void xfer_end(struct xfer *X)
{
	free(X->a);
	free(X->b);
	free(X->cwd);
}

int run_upload(struct step_exec *x)
{
	struct xfer X = {0};
	int rc = -1;
	if (xfer_begin(x, x->st->xsrc, x->st->xdest, &X) < 0)
		goto out;
	const char *src = X.a, *dest = X.b, *cwd = X.cwd;
	char *from = xfer_here_path(x, src), *to = xfer_host_path(x, dest, cwd);
	int fd = open(from, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		x->why = xasprintf("cannot read %s: %s", from, fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
	} else {
		int mode = x->st->xmode >= 0 ? x->st->xmode : (int)(st.st_mode & 0777);
		rc = put(x, fd, NULL, 0, to, mode, &x->why);
		close(fd);
		rc = finish(x, rc, "uploaded %lld bytes to %s:%s (mode %04o)", (long long)st.st_size, x->host->name,
			    to, mode);
	}
	free(from);
	free(to);
out:
	xfer_end(&X);
	return rc;
}

int run_write(struct step_exec *x)
{
	struct xfer X = {0};
	int rc = -1;
	if (xfer_begin(x, x->st->xcontent, x->st->xdest, &X) < 0)
		goto out;
	const char *content = X.a, *dest = X.b, *cwd = X.cwd;
	char *to = xfer_host_path(x, dest, cwd);
	int mode = x->st->xmode >= 0 ? x->st->xmode : 0644;
	size_t len = strlen(content);
	rc = put(x, -1, content, len, to, mode, &x->why);
	rc = finish(x, rc, "wrote %zu bytes to %s:%s (mode %04o)", len, x->host->name, to, mode);
	free(to);
out:
	xfer_end(&X);
	return rc;
}

int run_download(struct step_exec *x)
{
	struct xfer X = {0};
	int rc = -1;
	char *tmp = NULL;
	if (xfer_begin(x, x->st->xsrc, x->st->xdest, &X) < 0)
		goto out;
	const char *src = X.a, *dest = X.b, *cwd = X.cwd;
	char *from = xfer_host_path(x, src, cwd), *to = xfer_here_path(x, dest);
	int fd = temp_beside(to, &tmp);
	if (fd < 0) {
		x->why = xasprintf("cannot create a file beside %s: %s", to, strerror(errno));
		free(from);
		free(to);
		goto out;
	}
	int mode = 0644;
	long long size = 0;
	if (exec_uses_sudo(x)) {
		rc = sudo_get(x, from, fd, to, &mode, &x->why);
		struct stat st;
		if (rc == 0 && fstat(fd, &st) == 0)
			size = st.st_size;
	} else {
		struct get_req r = {.src = from, .dst_fd = fd, .dst = to, .deadline = xfer_deadline(x)};
		bool lost = false;
		struct transport *t = exec_transport(x, &x->why);
		rc = t ? t->ops->get(t, &r, &x->why, &lost) : -1;
		if (lost)
			x->interrupted = x->lost = true;
		mode = r.mode;
		size = r.size;
	}
	if (rc == 0) {
		rc = land(fd, tmp, to, mode, &x->why);
	} else {
		close(fd);
		unlink(tmp);
	}
	rc = finish(x, rc, "downloaded %lld bytes from %s:%s to %s (mode %04o)", size, x->host->name, from, to,
		    mode);
	free(from);
	free(to);
out:
	free(tmp);
	xfer_end(&X);
	return rc;
}

/* --- the local transport's transfers (plain files) ---------------------------- */

int local_put(struct transport *t, const struct put_req *r, char **why, bool *lost)
{
	*lost = false;
	char *tmp;
	int fd = temp_beside(r->dest, &tmp);
	if (fd < 0) {
		*why = xasprintf("cannot create a file beside %s: %s", r->dest, strerror(errno));
		return -1;
	}
	long long n = 0;
	int rc = 0;
	if (r->src_fd >= 0) {
		rc = copy_fd(r->src_fd, "the source", fd, r->dest, &n, r->deadline, why);
	} else {
		if (write_full(fd, r->buf, r->len, FP_FILE_WRITE) < 0) {
			*why = xasprintf("cannot write %s: %s", r->dest, strerror(errno));
			rc = -1;
		}
	}
	if (rc < 0) {
		close(fd);
		unlink(tmp);
	} else {
		rc = land(fd, tmp, r->dest, r->mode, why);
	}
	free(tmp);
	return rc;
}

int local_get(struct transport *t, struct get_req *r, char **why, bool *lost)
{
	*lost = false;
	int fd = open(r->src, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*why = xasprintf("cannot read %s: %s", r->src, fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	r->mode = (int)(st.st_mode & 0777);
	int rc = copy_fd(fd, r->src, r->dst_fd, r->dst, &r->size, r->deadline, why);
	close(fd);
	return rc;
}
