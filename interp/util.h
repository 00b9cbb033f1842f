/* util.h — memory, string buffers, positioned errors and small parsers
 * shared by every part of the interpreter. */
#ifndef RB_UTIL_H
#define RB_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "fault.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation never fails: on exhaustion the process reports and exits 70,
 * because a half-built plan is worse than no run at all. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow *arr (of *cap elements of size elt) so that it holds at least need. */
void grow_array(void **arr, size_t *cap, size_t need, size_t elt);
#define VEC_PUSH(arr, n, cap, val)                                        \
	do {                                                              \
		grow_array((void **)&(arr), &(cap), (n) + 1, sizeof(*(arr))); \
		(arr)[(n)++] = (val);                                     \
	} while (0)

/* A growable NUL-terminated byte buffer.  All-zero is a valid empty value
 * (buf is NULL until the first add); sbuf_release frees it and resets. */
struct sbuf {
	char *buf;
	size_t len, cap;
};
void sbuf_add(struct sbuf *sb, const void *data, size_t n);
void sbuf_adds(struct sbuf *sb, const char *s);
void sbuf_addc(struct sbuf *sb, char c);
void sbuf_addf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_vaddf(struct sbuf *sb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
const char *sbuf_str(struct sbuf *sb); /* never NULL */
char *sbuf_detach(struct sbuf *sb);   /* caller owns the result */
void sbuf_reset(struct sbuf *sb);
void sbuf_release(struct sbuf *sb);

/* A position in a source file; file is not owned (it lives as long as the
 * loaded document).  line and col are 1-based. */
struct pos {
	const char *file;
	int line, col;
};

/* A list of user-facing problems, each already formatted as
 * "file:line:col: message".  Loading collects every problem of a file
 * before giving up, so one run of the tool shows them all. */
struct rb_error {
	char **msgs;
	size_t n, cap;
	size_t nwarn; /* warnings are kept apart: they never fail a load */
	char **warns;
	size_t warncap;
};
void rb_error_at(struct rb_error *err, struct pos at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void rb_error_add(struct rb_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rb_warn_at(struct rb_error *err, struct pos at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void rb_error_print(const struct rb_error *err, const char *prog);
/* The same as the compilers print them, which editors jump to:
 * "file:line:col: error: message" and "…: warning: message". */
void rb_error_print_located(const struct rb_error *err);
void rb_error_release(struct rb_error *err);

/* The closest candidate to word by edit distance, or NULL when none is
 * close enough to be a plausible typo. */
const char *did_you_mean(const char *word, const char *const *cands, size_t n);
/* Appends " — did you mean 'x'?" to sb when a suggestion exists. */
void sbuf_add_suggestion(struct sbuf *sb, const char *word, const char *const *cands, size_t n);

/* Durations: "90s", "10m", "1h30m", "500ms", "2h".  A bare number is
 * refused: "timeout: 10" is ambiguous.  Returns 0 and sets *ms, or -1. */
int parse_duration(const char *s, long long *ms);
/* "1.2s", "250ms", "3m04s" into buf. */
void format_duration(char *buf, size_t n, long long ms);

/* Reads a whole file.  Returns 0 and a malloc'ed NUL-terminated *out
 * (caller frees), or -1 with errno set. */
int read_file(const char *path, char **out, size_t *len);

/* Writes all n bytes to fd, through short writes and EINTR.  Returns 0,
 * or -1 with errno set (a write that takes nothing counts as EIO).  fp
 * names the fault point the tests can make fail or shorten (fault.h). */
int write_full(int fd, const void *buf, size_t n, enum fault_point fp);

/* Parses a non-negative decimal integer that fits in long long. */
int parse_uint(const char *s, long long *out);

bool str_has_suffix(const char *s, const char *suffix);
long long now_ms(void); /* CLOCK_MONOTONIC */
/* The wall-clock time now, UTC, as 2026-11-21T19:04:55.123Z (n ≥ 32). */
void iso_time_now(char *buf, size_t n);

#endif
