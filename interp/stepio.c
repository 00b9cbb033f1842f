/* stepio.c — the sink for a step's output.  Bytes are cut into lines; each
 * line is masked and written to the step log and the terminal, and matched
 * against expect/capture/diagnose.  Only the current line (at most 64 KiB:
 * longer lines are handled in pieces) and the first 64 KiB of each stream
 * are held, so memory stays flat whatever a step prints. */
#include "engine.h"

#include "fault.h"
#include "ui.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_BYTES 65536
#define KEEP_BYTES 65536

char *mask_secrets(const struct plan *p, const char *s, size_t n, size_t *outlen)
{
	struct sbuf sb = {0};
	sbuf_add(&sb, s, n);
	for (size_t i = 0; i < p->nsecrets; i++) {
		const char *sec = p->secrets[i];
		size_t sl = strlen(sec);
		if (!sl || sb.len < sl || !memmem(sb.buf, sb.len, sec, sl))
			continue;
		struct sbuf o = {0};
		size_t at = 0;
		const char *hit;
		while ((hit = memmem(sb.buf + at, sb.len - at, sec, sl))) {
			sbuf_add(&o, sb.buf + at, (size_t)(hit - (sb.buf + at)));
			sbuf_adds(&o, "***");
			at = (size_t)(hit - sb.buf) + sl;
		}
		sbuf_add(&o, sb.buf + at, sb.len - at);
		sbuf_release(&sb);
		sb = o;
	}
	if (outlen)
		*outlen = sb.len;
	return sbuf_detach(&sb);
}

/* A full log disk must not stop the step (the terminal still shows the
 * output, the journal keeps what later steps read): the log is closed
 * with one warning that says where it stops. */
static void write_all(struct step_exec *x, const char *s, size_t n)
{
	if (x->logfd < 0 || write_full(x->logfd, s, n, FP_LOG_WRITE) == 0)
		return;
	ui_note(x->depth, "warning", "cannot write the step log %s (%s): it stops here; the step goes on",
		x->logpath ? x->logpath : "", strerror(errno));
	close(x->logfd);
	x->logfd = -1;
}

static void flush_log(struct step_exec *x);

void stepio_log(struct step_exec *x, const char *fmt, ...)
{
	if (x->logfd < 0)
		return;
	struct sbuf sb = {0};
	va_list ap;
	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	size_t n;
	char *m = mask_secrets(x->eng->plan, sb.buf ? sb.buf : "", sb.len, &n);
	flush_log(x);
	write_all(x, m, n);
	free(m);
	sbuf_release(&sb);
}

struct groups {
	struct binding *b;
	size_t n, cap;
};

static void group_cb(void *ctx, const char *name, const char *val, size_t len)
{
	struct groups *g = ctx;
	struct binding b = {xstrdup(name), xstrndup(val, len), false, false};
	VEC_PUSH(g->b, g->n, g->cap, b);
}

static void match_line(struct step_exec *x, int stream, const char *line, size_t n)
{
	const struct step *st = x->st;
	if (x->expect_re[stream - 1] && !x->expect_hit[stream - 1] &&
	    regex_match(x->expect_re[stream - 1], line, n) == 1)
		x->expect_hit[stream - 1] = true;
	if (stream == 1)
		for (size_t i = 0; i < st->ncaps; i++)
			if (!x->cap_val[i] && x->cap_re[i] && regex_match(x->cap_re[i], line, n) == 1) {
				char *tmp = xstrndup(line, n);
				x->cap_val[i] = regex_capture(x->cap_re[i], tmp, st->caps[i].name);
				free(tmp);
			}
	for (size_t i = 0; i < st->ndiags; i++) {
		if (!x->diag_re[i])
			continue;
		bool seen = false;
		for (size_t h = 0; h < x->nhits; h++)
			if (x->hits[h].d == &st->diags[i])
				seen = true;
		if (seen || regex_match(x->diag_re[i], line, n) != 1)
			continue;
		char *tmp = xstrndup(line, n);
		struct groups g = {0};
		regex_each_named(x->diag_re[i], tmp, group_cb, &g);
		char *hint = NULL;
		if (st->diags[i].hint) {
			x->lk.extra = g.b;
			x->lk.nextra = g.n;
			struct sbuf sb = {0};
			const char *bad;
			/* the groups come from output, which may hold a secret */
			if (tmpl_render(st->diags[i].hint, plan_lookup, &x->lk, RENDER_MASK, &sb, &bad) == 0)
				hint = mask_secrets(x->eng->plan, sbuf_str(&sb), sb.len, NULL);
			else
				hint = xasprintf("(hint needs '%s', which is not known here)", bad);
			sbuf_release(&sb);
			x->lk.extra = NULL;
			x->lk.nextra = 0;
		} else {
			hint = xasprintf("output matched '%s'", st->diags[i].pat.t->src);
		}
		for (size_t k = 0; k < g.n; k++) {
			free(g.b[k].name);
			free(g.b[k].value);
		}
		free(g.b);
		free(tmp);
		x->hits = xrealloc(x->hits, (x->nhits + 1) * sizeof(*x->hits));
		x->hits[x->nhits].d = &st->diags[i];
		x->hits[x->nhits++].hint = hint;
	}
}

static void flush_log(struct step_exec *x)
{
	if (x->logfd >= 0 && x->logbuf.len)
		write_all(x, x->logbuf.buf, x->logbuf.len);
	sbuf_reset(&x->logbuf);
}

static void emit_line(struct step_exec *x, int stream, const char *line, size_t n)
{
	if (x->matching)
		match_line(x, stream, line, n);
	/* masking copies the line: only pay for it when there are secrets */
	size_t mn = n;
	char *m = x->eng->plan->nsecrets ? mask_secrets(x->eng->plan, line, n, &mn) : NULL;
	const char *shown = m ? m : line;
	if (x->logfd >= 0) {
		if (stream == 2)
			sbuf_add(&x->logbuf, "! ", 2);
		sbuf_add(&x->logbuf, shown, mn);
		sbuf_addc(&x->logbuf, '\n');
		if (x->logbuf.len >= 65536)
			flush_log(x);
	}
	if (x->show_output && (x->matching || ui_verbosity() > 0))
		ui_step_line(stream, shown, mn, x->ps->nhosts > 1 ? x->host->name : NULL, x->depth);
	free(m);
}

void stepio_data(void *ctx, int stream, const char *buf, size_t n)
{
	struct step_exec *x = ctx;
	struct stream *s = &x->out[stream - 1];
	if (!s->kept_all && x->matching) {
		size_t room = KEEP_BYTES - s->keep.len;
		sbuf_add(&s->keep, buf, n < room ? n : room);
		if (s->keep.len >= KEEP_BYTES)
			s->kept_all = true;
	}
	while (n > 0) {
		const char *nl = memchr(buf, '\n', n);
		size_t take = nl ? (size_t)(nl - buf) : n;
		if (s->line.len + take > LINE_MAX_BYTES) {
			/* An endless line: match and show it in pieces.  The last
			 * bytes stay for the next piece so that a secret across the
			 * cut is still masked whole. */
			size_t fit = LINE_MAX_BYTES - s->line.len;
			sbuf_add(&s->line, buf, fit);
			size_t keep = x->eng->plan->max_secret ? x->eng->plan->max_secret - 1 : 0;
			if (keep > s->line.len / 2)
				keep = s->line.len / 2;
			emit_line(x, stream, s->line.buf, s->line.len - keep);
			memmove(s->line.buf, s->line.buf + s->line.len - keep, keep);
			s->line.len = keep;
			s->line.buf[keep] = '\0';
			buf += fit;
			n -= fit;
			continue;
		}
		sbuf_add(&s->line, buf, take);
		if (!nl)
			break;
		size_t len = s->line.len;
		if (len && s->line.buf[len - 1] == '\r')
			len--;
		emit_line(x, stream, s->line.buf ? s->line.buf : "", len);
		sbuf_reset(&s->line);
		buf += take + 1;
		n -= take + 1;
	}
	/* once per chunk read: the log and the terminal stay live without a
	 * system call per line */
	flush_log(x);
	ui_flush();
}

void stepio_finish(struct step_exec *x)
{
	for (int i = 0; i < 2; i++)
		if (x->out[i].line.len) {
			emit_line(x, i + 1, x->out[i].line.buf, x->out[i].line.len);
			sbuf_reset(&x->out[i].line);
		}
	flush_log(x);
	ui_flush();
}

static struct regex *compile_pattern(struct step_exec *x, const struct pattern *p)
{
	if (!p)
		return NULL;
	struct sbuf sb = {0};
	const char *bad;
	if (tmpl_render(p->t, plan_lookup, &x->lk, 0, &sb, &bad) < 0) {
		if (!x->why)
			x->why = xasprintf("pattern '%s' needs '%s', which is not known here", p->t->src, bad);
		sbuf_release(&sb);
		return NULL;
	}
	char *msg;
	size_t off;
	struct regex *re = regex_compile(sbuf_str(&sb), false, &msg, &off);
	if (!re) {
		if (!x->why)
			x->why = xasprintf("pattern '%s': %s", p->t->src, msg);
		free(msg);
	}
	sbuf_release(&sb);
	return re;
}

/* Load-time regexes are borrowed; the ones compiled for this attempt
 * (templated patterns) are owned by x and freed by stepio_release. */
static struct regex *pattern_re(struct step_exec *x, const struct pattern *p, struct regex **owned)
{
	*owned = NULL;
	/* no pattern: a capture the step sets itself (archive.*) */
	if (!p || !p->t)
		return NULL;
	if (p->re)
		return p->re;
	*owned = compile_pattern(x, p);
	return *owned;
}

void stepio_begin(struct step_exec *x)
{
	const struct step *st = x->st;
	for (int i = 0; i < 2; i++) {
		sbuf_reset(&x->out[i].line);
		sbuf_reset(&x->out[i].keep);
		x->out[i].kept_all = false;
		x->expect_hit[i] = false;
	}
	x->expect_re[0] = pattern_re(x, st->expect_out, &x->own_expect[0]);
	x->expect_re[1] = pattern_re(x, st->expect_err, &x->own_expect[1]);
	x->cap_re = xcalloc(st->ncaps + 1, sizeof(*x->cap_re));
	x->cap_val = xcalloc(st->ncaps + 1, sizeof(*x->cap_val));
	x->own_caps = xcalloc(st->ncaps + 1, sizeof(*x->own_caps));
	for (size_t i = 0; i < st->ncaps; i++)
		x->cap_re[i] = pattern_re(x, &st->caps[i].pat, &x->own_caps[i]);
	x->diag_re = xcalloc(st->ndiags + 1, sizeof(*x->diag_re));
	x->own_diags = xcalloc(st->ndiags + 1, sizeof(*x->own_diags));
	for (size_t i = 0; i < st->ndiags; i++)
		x->diag_re[i] = pattern_re(x, &st->diags[i].pat, &x->own_diags[i]);
}

void stepio_release(struct step_exec *x)
{
	const struct step *st = x->st;
	regex_free(x->own_expect[0]);
	regex_free(x->own_expect[1]);
	x->own_expect[0] = x->own_expect[1] = NULL;
	for (size_t i = 0; x->own_caps && i < st->ncaps; i++)
		regex_free(x->own_caps[i]);
	for (size_t i = 0; x->own_diags && i < st->ndiags; i++)
		regex_free(x->own_diags[i]);
	free(x->own_caps);
	free(x->own_diags);
	x->own_caps = x->own_diags = NULL;
	for (size_t i = 0; x->cap_val && i < st->ncaps; i++)
		free(x->cap_val[i]);
	free(x->cap_val);
	free(x->cap_re);
	free(x->diag_re);
	x->cap_val = NULL;
	x->cap_re = NULL;
	x->diag_re = NULL;
	for (size_t i = 0; i < x->nhits; i++)
		free(x->hits[i].hint);
	free(x->hits);
	x->hits = NULL;
	x->nhits = 0;
	x->expect_re[0] = x->expect_re[1] = NULL;
}
