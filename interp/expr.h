/* expr.h — `when:` expressions.
 *
 *   expr  := or ;  or := and ('or' and)* ;  and := not ('and' not)*
 *   not   := 'not' not | cmp ;  cmp := atom [(== != < <= > >= =~) atom]
 *   atom  := '(' expr ')' | "str" | 'str' | number | true | false | name
 *
 * Comparisons are numeric when both sides are numbers, textual otherwise;
 * `=~` searches with PCRE2.  A lone value is true unless it is empty,
 * "false" or "0". */
#ifndef RB_EXPR_H
#define RB_EXPR_H

#include "template.h"

struct expr;

/* Parses src (positions from at).  Returns the tree (caller frees with
 * expr_free) or NULL with the problem added to err. */
struct expr *expr_parse(const char *src, struct pos at, struct rb_error *err);
void expr_free(struct expr *e);

/* Calls fn for every name the expression reads, with its position. */
void expr_each_name(const struct expr *e, void (*fn)(void *ctx, const char *name, struct pos at), void *ctx);

/* Evaluates.  Returns 1 (true), 0 (false) or -1 with *bad set to the first
 * unknown name, or to a message on a regex error. */
int expr_eval(const struct expr *e, tmpl_lookup_fn lookup, void *ctx, const char **bad);

#endif
