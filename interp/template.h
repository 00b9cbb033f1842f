/* template.h — `{{ name }}` templates.
 *
 * A template is parsed once at load time into literal text and
 * placeholders.  In shell text, each placeholder is given the quoting its
 * position needs (decided by a small shell lexer at parse time), so a value
 * can never change the shape of the command:
 *   unquoted        → one single-quoted word ('it'\''s')
 *   inside "…"      → $ ` " \ escaped
 *   inside '…', `…`, ${…}, a comment or a here-document → load-time error
 * `{{ name | raw }}` inserts the value verbatim; `{{ "text" }}` inserts the
 * literal text verbatim (how to write docker's `{{.Names}}`). */
#ifndef RB_TEMPLATE_H
#define RB_TEMPLATE_H

#include "util.h"

enum tmpl_mode {
	TMPL_TEXT,  /* messages, paths, env values: verbatim */
	TMPL_SHELL, /* run/check/undo: quoted by position */
	TMPL_REGEX, /* patterns: values match themselves literally */
};

enum seg_quote { QUOTE_NONE, QUOTE_WORD, QUOTE_DQ, QUOTE_REGEX };

struct tseg {
	char *text;      /* literal text, or the name of a placeholder */
	bool is_name;
	bool raw;        /* `| raw` */
	enum seg_quote quote;
	struct pos pos;
};

struct tmpl {
	char *src;       /* the text as written */
	enum tmpl_mode mode;
	struct pos pos;
	struct tseg *segs;
	size_t n, cap;
};

/* Parses src; positions are computed from at (the scalar's position).
 * Returns the template (caller frees with tmpl_free) or NULL after adding
 * every problem found to err. */
struct tmpl *tmpl_parse(const char *src, struct pos at, enum tmpl_mode mode, struct rb_error *err);
/* The same, with locate mapping the nth placeholder of src to where it is
 * written (see doc_locate); NULL: counted from at. */
typedef struct pos (*tmpl_locate_fn)(void *ctx, size_t nth);
struct tmpl *tmpl_parse_at(const char *src, struct pos at, enum tmpl_mode mode, struct rb_error *err,
			   tmpl_locate_fn locate, void *ctx);
void tmpl_free(struct tmpl *t);
/* A template holding text verbatim, with no placeholders (caller frees). */
struct tmpl *tmpl_literal(const char *text, struct pos at);
bool tmpl_is_constant(const struct tmpl *t);

/* Looks a name up for rendering.  Returns the value (borrowed, valid until
 * the next lookup) or NULL when unknown; sets *secret when the value must
 * be masked in anything shown or written. */
typedef const char *(*tmpl_lookup_fn)(void *ctx, const char *name, bool *secret);

enum render_flags {
	RENDER_MASK = 1, /* secrets appear as *** (plans, logs, events) */
};

/* Appends the rendering of t to out.  Returns 0, or -1 with *bad set to
 * the first unknown name (borrowed from t). */
int tmpl_render(const struct tmpl *t, tmpl_lookup_fn lookup, void *ctx, int flags, struct sbuf *out,
		const char **bad);
/* The same, and *secret_used set when any inserted value was secret (so a
 * value derived from a secret is masked like one). */
int tmpl_render_ex(const struct tmpl *t, tmpl_lookup_fn lookup, void *ctx, int flags, struct sbuf *out,
		   const char **bad, bool *secret_used);

/* Appends value v as placeholder s inserts it: quoted for its position
 * unless `| raw`.  (tmpl_render does this for each name; plan previews
 * call it themselves to show stand-ins for run-time values verbatim.) */
void tmpl_insert(struct sbuf *out, const struct tseg *s, const char *v);

/* Calls fn for every name t reads (t may be NULL). */
void tmpl_each_name(const struct tmpl *t, void (*fn)(void *ctx, const char *name, struct pos at), void *ctx);

/* Shell quoting primitives, exposed for tests. */
void shell_quote_word(struct sbuf *out, const char *v);
void shell_quote_dq(struct sbuf *out, const char *v);

/* Is name a syntactically valid template name (a.b-c.d)? */
bool tmpl_valid_name(const char *name);

#endif
