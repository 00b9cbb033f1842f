/* util.c — see util.h. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void oom(void)
{
	static const char msg[] = "runbook: out of memory\n";
	ssize_t r = write(2, msg, sizeof(msg) - 1);
	(void)r;
	_exit(70);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	struct sbuf sb = {0};
	va_list ap;
	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	return sbuf_detach(&sb);
}

void grow_array(void **arr, size_t *cap, size_t need, size_t elt)
{
	if (need <= *cap)
		return;
	size_t c = *cap ? *cap : 4;
	while (c < need)
		c *= 2;
	*arr = xrealloc(*arr, c * elt);
	*cap = c;
}

static void sbuf_grow(struct sbuf *sb, size_t extra)
{
	if (sb->len + extra + 1 <= sb->cap)
		return;
	size_t c = sb->cap ? sb->cap : 64;
	while (c < sb->len + extra + 1)
		c *= 2;
	sb->buf = xrealloc(sb->buf, c);
	sb->cap = c;
}

void sbuf_add(struct sbuf *sb, const void *data, size_t n)
{
	sbuf_grow(sb, n);
	if (n)
		memcpy(sb->buf + sb->len, data, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void sbuf_adds(struct sbuf *sb, const char *s)
{
	sbuf_add(sb, s, strlen(s));
}

void sbuf_addc(struct sbuf *sb, char c)
{
	sbuf_add(sb, &c, 1);
}

void sbuf_vaddf(struct sbuf *sb, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	sbuf_grow(sb, (size_t)n);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
}

void sbuf_addf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sbuf_vaddf(sb, fmt, ap);
	va_end(ap);
}

const char *sbuf_str(struct sbuf *sb)
{
	return sb->buf ? sb->buf : "";
}

char *sbuf_detach(struct sbuf *sb)
{
	char *p = sb->buf ? sb->buf : xstrdup("");
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	return p;
}

void sbuf_reset(struct sbuf *sb)
{
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

void sbuf_release(struct sbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

static void add_msg(char ***arr, size_t *n, size_t *cap, struct pos at, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));
static void add_msg(char ***arr, size_t *n, size_t *cap, struct pos at, const char *fmt, va_list ap)
{
	struct sbuf sb = {0};
	if (at.file)
		sbuf_addf(&sb, "%s:%d:%d: ", at.file, at.line, at.col);
	sbuf_vaddf(&sb, fmt, ap);
	VEC_PUSH(*arr, *n, *cap, sbuf_detach(&sb));
}

void rb_error_at(struct rb_error *err, struct pos at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_msg(&err->msgs, &err->n, &err->cap, at, fmt, ap);
	va_end(ap);
}

void rb_error_add(struct rb_error *err, const char *fmt, ...)
{
	va_list ap;
	struct pos none = {0};
	va_start(ap, fmt);
	add_msg(&err->msgs, &err->n, &err->cap, none, fmt, ap);
	va_end(ap);
}

void rb_warn_at(struct rb_error *err, struct pos at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_msg(&err->warns, &err->nwarn, &err->warncap, at, fmt, ap);
	va_end(ap);
}

/* "file:line:col: …" → the numbers; messages without a position sort last. */
static void msg_pos(const char *m, size_t *flen, long *line, long *col)
{
	const char *c1 = strstr(m, ":");
	*flen = (size_t)-1;
	*line = *col = 0;
	while (c1) {
		char *end;
		long l = strtol(c1 + 1, &end, 10);
		if (end > c1 + 1 && *end == ':') {
			long c = strtol(end + 1, &end, 10);
			if (*end == ':') {
				*flen = (size_t)(c1 - m);
				*line = l;
				*col = c;
				return;
			}
		}
		c1 = strstr(c1 + 1, ":");
	}
}

/* Problems of one file in the order they appear in it; files in the order
 * they were first reported.  Insertion sort: lists are short, and stable. */
static void sort_by_position(char **msgs, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		char *m = msgs[i];
		size_t fl;
		long l, c;
		msg_pos(m, &fl, &l, &c);
		size_t j = i;
		while (j > 0) {
			size_t fl2;
			long l2, c2;
			msg_pos(msgs[j - 1], &fl2, &l2, &c2);
			if (fl == (size_t)-1 || fl2 != fl || strncmp(m, msgs[j - 1], fl) != 0 ||
			    l2 < l || (l2 == l && c2 <= c))
				break;
			msgs[j] = msgs[j - 1];
			j--;
		}
		msgs[j] = m;
	}
}

void rb_error_print(const struct rb_error *err, const char *prog)
{
	sort_by_position(err->msgs, err->n);
	sort_by_position(err->warns, err->nwarn);
	for (size_t i = 0; i < err->nwarn; i++)
		fprintf(stderr, "%s: warning: %s\n", prog, err->warns[i]);
	for (size_t i = 0; i < err->n; i++)
		fprintf(stderr, "%s: %s\n", prog, err->msgs[i]);
}

/* "file:line:col: KIND: message", or "runbook: KIND: message". */
static void print_located(const char *m, const char *kind)
{
	size_t flen;
	long line, col;
	msg_pos(m, &flen, &line, &col);
	char pre[64];
	if (flen != (size_t)-1) {
		int n = snprintf(pre, sizeof(pre), ":%ld:%ld: ", line, col);
		if (n > 0 && (size_t)n < sizeof(pre) && !strncmp(m + flen, pre, (size_t)n)) {
			fprintf(stderr, "%.*s%s%s: %s\n", (int)(flen + (size_t)n), m, "", kind, m + flen + (size_t)n);
			return;
		}
	}
	fprintf(stderr, "runbook: %s: %s\n", kind, m);
}

void rb_error_print_located(const struct rb_error *err)
{
	sort_by_position(err->msgs, err->n);
	sort_by_position(err->warns, err->nwarn);
	for (size_t i = 0; i < err->n; i++)
		print_located(err->msgs[i], "error");
	for (size_t i = 0; i < err->nwarn; i++)
		print_located(err->warns[i], "warning");
}

void rb_error_release(struct rb_error *err)
{
	for (size_t i = 0; i < err->n; i++)
		free(err->msgs[i]);
	for (size_t i = 0; i < err->nwarn; i++)
		free(err->warns[i]);
	free(err->msgs);
	free(err->warns);
	memset(err, 0, sizeof(*err));
}

/* Optimal string alignment distance: Levenshtein plus adjacent swaps. */
static size_t osa_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return (size_t)-1;
	size_t d[66][66];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb];
}

const char *did_you_mean(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t bestd = (size_t)-1;
	size_t wl = strlen(word);
	for (size_t i = 0; i < n; i++) {
		size_t d = osa_distance(word, cands[i]);
		if (d < bestd) {
			bestd = d;
			best = cands[i];
		}
	}
	/* A third of the word's length, at least 1, at most 3 edits. */
	size_t limit = wl / 3;
	if (limit < 1)
		limit = 1;
	if (limit > 3)
		limit = 3;
	return best && bestd <= limit ? best : NULL;
}

void sbuf_add_suggestion(struct sbuf *sb, const char *word, const char *const *cands, size_t n)
{
	const char *s = did_you_mean(word, cands, n);
	if (s)
		sbuf_addf(sb, " \xe2\x80\x94 did you mean '%s'?", s);
}

int parse_duration(const char *s, long long *ms)
{
	long long total = 0;
	const char *p = s;
	int parts = 0;
	if (!*p)
		return -1;
	while (*p) {
		if (*p < '0' || *p > '9')
			return -1;
		long long v = 0;
		while (*p >= '0' && *p <= '9') {
			v = v * 10 + (*p - '0');
			if (v > 1000000000LL)
				return -1;
			p++;
		}
		long long mult;
		if (p[0] == 'm' && p[1] == 's') {
			mult = 1;
			p += 2;
		} else if (*p == 'h') {
			mult = 3600000;
			p++;
		} else if (*p == 'm') {
			mult = 60000;
			p++;
		} else if (*p == 's') {
			mult = 1000;
			p++;
		} else if (*p == 'd') {
			mult = 86400000;
			p++;
		} else {
			return -1;
		}
		total += v * mult;
		if (total > 366LL * 86400000)
			return -1;
		parts++;
	}
	*ms = total;
	return parts ? 0 : -1;
}

void format_duration(char *buf, size_t n, long long ms)
{
	if (ms < 1000)
		snprintf(buf, n, "%lldms", ms);
	else if (ms < 60000)
		snprintf(buf, n, "%lld.%llds", ms / 1000, (ms % 1000) / 100);
	else if (ms < 3600000)
		snprintf(buf, n, "%lldm%02llds", ms / 60000, (ms / 1000) % 60);
	else
		snprintf(buf, n, "%lldh%02lldm", ms / 3600000, (ms / 60000) % 60);
}

int read_file(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
		int e = S_ISDIR(st.st_mode) ? EISDIR : errno;
		close(fd);
		errno = e;
		return -1;
	}
	struct sbuf sb = {0};
	char tmp[65536];
	for (;;) {
		ssize_t r = read(fd, tmp, sizeof(tmp));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			sbuf_release(&sb);
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		sbuf_add(&sb, tmp, (size_t)r);
	}
	close(fd);
	if (len)
		*len = sb.len;
	*out = sbuf_detach(&sb);
	return 0;
}

int write_full(int fd, const void *buf, size_t n, enum fault_point fp)
{
	const char *p = buf;
	(void)fp; /* unused without RUNBOOK_FAULTS */
	while (n > 0) {
		size_t want = n;
		int fe = fault_hit(fp);
		if (fe == FAULT_SHORT) {
			want = n > 1 ? n / 2 : 1;
		} else if (fe) {
			/* what a disk that fills up does: part of it, then the error */
			ssize_t r = write(fd, p, n / 2);
			(void)r;
			errno = fe;
			return -1;
		}
		ssize_t w = write(fd, p, want);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int parse_uint(const char *s, long long *out)
{
	long long v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > 1000000000000LL)
			return -1;
	}
	*out = v;
	return 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void iso_time_now(char *buf, size_t n)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char s[32];
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%s.%03dZ", s, (int)(ts.tv_nsec / 1000000) % 1000);
}
