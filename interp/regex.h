/* regex.h — every regular expression of the interpreter goes through
 * PCRE2 here: param patterns (whole value), expectations, captures and
 * diagnoses (searched line by line). */
#ifndef RB_REGEX_H
#define RB_REGEX_H

#include "util.h"

struct regex;

/* Compiles pattern.  whole: the match must cover the whole subject.
 * Returns the regex (caller frees with regex_free), or NULL with a
 * message "…at offset N" in *msg (caller frees) and the 0-based offset
 * inside the pattern in *offset. */
struct regex *regex_compile(const char *pattern, bool whole, char **msg, size_t *offset);
void regex_free(struct regex *re);
const char *regex_source(const struct regex *re);

/* 1 on a match, 0 on none, -1 on a matching error (e.g. the match limit). */
int regex_match(struct regex *re, const char *s, size_t len);

/* After a successful regex_match on s: the text of the capture called name
 * if the pattern has such a named group, else group 1 if any, else the
 * whole match.  Returns a malloc'ed string. */
char *regex_capture(struct regex *re, const char *s, const char *name);

/* After a successful match on s: calls fn for each named group that took
 * part in the match. */
void regex_each_named(struct regex *re, const char *s,
		      void (*fn)(void *ctx, const char *name, const char *val, size_t len), void *ctx);

/* Does the pattern have a group called name? */
bool regex_has_group(const struct regex *re, const char *name);
int regex_group_count(const struct regex *re);

/* Appends text to sb with every regex metacharacter escaped, so that a
 * template value inside a pattern matches itself literally. */
void regex_quote(struct sbuf *sb, const char *text);

#endif
