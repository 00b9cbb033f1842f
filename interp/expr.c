/* expr.c — see expr.h.  A recursive-descent parser over a tiny lexer. */
#include "expr.h"

#include "regex.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum ekind { E_OR, E_AND, E_NOT, E_CMP, E_STR, E_NUM, E_BOOL, E_NAME };
enum cmpop { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_MATCH };

struct expr {
	enum ekind kind;
	enum cmpop op;
	struct expr *a, *b;
	char *text; /* string literal, number text, or name */
	bool bval;
	struct regex *re; /* =~ with a literal pattern: compiled at load */
	struct pos pos;
};

struct parser {
	const char *src, *p;
	struct pos at;
	struct rb_error *err;
	bool failed;
	int depth;
};

static struct pos ppos(struct parser *ps, const char *where)
{
	struct pos p = ps->at;
	p.col += (int)(where - ps->src);
	return p;
}

static void perr(struct parser *ps, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void perr(struct parser *ps, const char *where, const char *fmt, ...)
{
	if (ps->failed)
		return;
	ps->failed = true;
	struct sbuf sb = {0};
	va_list ap;
	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	rb_error_at(ps->err, ppos(ps, where), "in 'when': %s", sbuf_str(&sb));
	sbuf_release(&sb);
}

static void skip_ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

static bool is_word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

/* Accepts keyword kw as a whole word. */
static bool accept_kw(struct parser *ps, const char *kw)
{
	skip_ws(ps);
	size_t n = strlen(kw);
	if (strncmp(ps->p, kw, n) == 0 && !is_word_char(ps->p[n])) {
		ps->p += n;
		return true;
	}
	return false;
}

static struct expr *new_expr(enum ekind k, struct pos pos)
{
	struct expr *e = xcalloc(1, sizeof(*e));
	e->kind = k;
	e->pos = pos;
	return e;
}

static struct expr *parse_or(struct parser *ps);

static struct expr *parse_atom(struct parser *ps)
{
	skip_ws(ps);
	const char *start = ps->p;
	struct pos pos = ppos(ps, start);
	char c = *ps->p;
	if (c == '(') {
		if (++ps->depth > 64) {
			perr(ps, start, "%s", "too deeply nested");
			return NULL;
		}
		ps->p++;
		struct expr *e = parse_or(ps);
		ps->depth--;
		skip_ws(ps);
		if (!e)
			return NULL;
		if (*ps->p != ')') {
			expr_free(e);
			perr(ps, ps->p, "expected ')' to close the '(' at column %d", pos.col);
			return NULL;
		}
		ps->p++;
		return e;
	}
	if (c == '"' || c == '\'') {
		ps->p++;
		struct sbuf sb = {0};
		while (*ps->p && *ps->p != c) {
			/* only \" and \\ are escapes: regexes keep their backslashes */
			if (*ps->p == '\\' && c == '"' && (ps->p[1] == '"' || ps->p[1] == '\\'))
				ps->p++;
			sbuf_addc(&sb, *ps->p++);
		}
		if (!*ps->p) {
			sbuf_release(&sb);
			perr(ps, start, "%s", "unterminated string");
			return NULL;
		}
		ps->p++;
		struct expr *e = new_expr(E_STR, pos);
		e->text = sbuf_detach(&sb);
		return e;
	}
	if (isdigit((unsigned char)c) || (c == '-' && isdigit((unsigned char)ps->p[1]))) {
		char *end;
		strtod(ps->p, &end);
		struct expr *e = new_expr(E_NUM, pos);
		e->text = xstrndup(ps->p, (size_t)(end - ps->p));
		ps->p = end;
		return e;
	}
	if (isalpha((unsigned char)c) || c == '_') {
		const char *q = ps->p;
		while (is_word_char(*q))
			q++;
		char *word = xstrndup(ps->p, (size_t)(q - ps->p));
		if (!strcmp(word, "true") || !strcmp(word, "false")) {
			struct expr *e = new_expr(E_BOOL, pos);
			e->bval = word[0] == 't';
			free(word);
			ps->p = q;
			return e;
		}
		if (!strcmp(word, "and") || !strcmp(word, "or") || !strcmp(word, "not")) {
			perr(ps, start, "expected a value, found '%s'", word);
			free(word);
			return NULL;
		}
		if (!tmpl_valid_name(word)) {
			perr(ps, start, "invalid name '%s'", word);
			free(word);
			return NULL;
		}
		ps->p = q;
		struct expr *e = new_expr(E_NAME, pos);
		e->text = word;
		return e;
	}
	if (!c)
		perr(ps, start, "%s", "unexpected end of expression");
	else if (c == '{')
		perr(ps, start, "%s", "names are written without '{{ }}' in 'when'");
	else {
		char tmp[2] = {c, 0};
		perr(ps, start, "unexpected '%s'", tmp);
	}
	return NULL;
}

static struct expr *parse_cmp(struct parser *ps)
{
	struct expr *a = parse_atom(ps);
	if (!a)
		return NULL;
	skip_ws(ps);
	static const struct {
		const char *tok;
		enum cmpop op;
	} ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE},
		   {"=~", OP_MATCH}, {"<", OP_LT}, {">", OP_GT}};
	for (size_t i = 0; i < ARRAY_LEN(ops); i++) {
		size_t n = strlen(ops[i].tok);
		if (strncmp(ps->p, ops[i].tok, n) != 0)
			continue;
		struct expr *e = new_expr(E_CMP, ppos(ps, ps->p));
		ps->p += n;
		e->op = ops[i].op;
		e->a = a;
		e->b = parse_atom(ps);
		if (!e->b) {
			expr_free(e);
			return NULL;
		}
		if (e->op == OP_MATCH && e->b->kind == E_STR) {
			char *msg;
			size_t off;
			e->re = regex_compile(e->b->text, false, &msg, &off);
			if (!e->re) {
				ps->failed = true;
				struct pos p = e->b->pos;
				p.col += 1 + (int)off;
				rb_error_at(ps->err, p, "in 'when': bad regular expression: %s", msg);
				free(msg);
				expr_free(e);
				return NULL;
			}
		}
		return e;
	}
	if (*ps->p == '=' && ps->p[1] != '=') {
		perr(ps, ps->p, "%s", "'=' is not an operator: use '=='");
		expr_free(a);
		return NULL;
	}
	return a;
}

static struct expr *parse_not(struct parser *ps)
{
	skip_ws(ps);
	struct pos pos = ppos(ps, ps->p);
	if (accept_kw(ps, "not")) {
		struct expr *inner = parse_not(ps);
		if (!inner)
			return NULL;
		struct expr *e = new_expr(E_NOT, pos);
		e->a = inner;
		return e;
	}
	return parse_cmp(ps);
}

static struct expr *parse_binary(struct parser *ps, bool is_or)
{
	struct expr *a = is_or ? parse_binary(ps, false) : parse_not(ps);
	if (!a)
		return NULL;
	for (;;) {
		struct pos pos = ppos(ps, ps->p);
		if (!accept_kw(ps, is_or ? "or" : "and"))
			return a;
		struct expr *b = is_or ? parse_binary(ps, false) : parse_not(ps);
		if (!b) {
			expr_free(a);
			return NULL;
		}
		struct expr *e = new_expr(is_or ? E_OR : E_AND, pos);
		e->a = a;
		e->b = b;
		a = e;
	}
}

static struct expr *parse_or(struct parser *ps)
{
	return parse_binary(ps, true);
}

struct expr *expr_parse(const char *src, struct pos at, struct rb_error *err)
{
	struct parser ps = {.src = src, .p = src, .at = at, .err = err};
	struct expr *e = parse_or(&ps);
	if (e) {
		skip_ws(&ps);
		if (*ps.p) {
			if (!strncmp(ps.p, "&&", 2) || !strncmp(ps.p, "||", 2))
				perr(&ps, ps.p, "'%s' is written '%s' here", ps.p[0] == '&' ? "&&" : "||",
				     ps.p[0] == '&' ? "and" : "or");
			else
				perr(&ps, ps.p, "unexpected '%s' after the expression", ps.p);
			expr_free(e);
			e = NULL;
		}
	}
	return e;
}

void expr_free(struct expr *e)
{
	if (!e)
		return;
	expr_free(e->a);
	expr_free(e->b);
	regex_free(e->re);
	free(e->text);
	free(e);
}

void expr_each_name(const struct expr *e, void (*fn)(void *ctx, const char *name, struct pos at), void *ctx)
{
	if (!e)
		return;
	if (e->kind == E_NAME)
		fn(ctx, e->text, e->pos);
	expr_each_name(e->a, fn, ctx);
	expr_each_name(e->b, fn, ctx);
}

/* --- evaluation ---------------------------------------------------------- */

struct val {
	char *s; /* owned */
	bool is_bool, b;
};

/* Decimal numbers only: strtod alone would also take "0x10", "inf" and
 * "nan", which are text to an operator. */
static bool as_number(const char *s, double *out)
{
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	bool digits = false;
	while (isdigit((unsigned char)*p)) {
		p++;
		digits = true;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			p++;
			digits = true;
		}
	}
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p)
		return false;
	*out = strtod(s, NULL);
	return true;
}

static bool truthy(const struct val *v)
{
	if (v->is_bool)
		return v->b;
	return !(v->s[0] == '\0' || !strcmp(v->s, "false") || !strcmp(v->s, "0"));
}

struct evalctx {
	tmpl_lookup_fn lookup;
	void *ctx;
	const char **bad;
};

static int eval(const struct expr *e, struct evalctx *ec, struct val *out);

static int eval_cmp(const struct expr *e, struct evalctx *ec)
{
	struct val a = {0}, b = {0};
	int rc = -1;
	if (eval(e->a, ec, &a) < 0 || eval(e->b, ec, &b) < 0)
		goto out;
	if (e->op == OP_MATCH) {
		struct regex *re = e->re;
		char *msg = NULL;
		size_t off;
		if (!re)
			re = regex_compile(b.s, false, &msg, &off);
		if (!re) {
			*ec->bad = "a bad regular expression on the right of '=~'";
			free(msg);
			goto out;
		}
		int m = regex_match(re, a.s, strlen(a.s));
		if (re != e->re)
			regex_free(re);
		rc = m > 0;
		goto out;
	}
	double x, y;
	int c;
	if (as_number(a.s, &x) && as_number(b.s, &y))
		c = x < y ? -1 : x > y ? 1 : 0;
	else
		c = strcmp(a.s, b.s);
	switch (e->op) {
	case OP_EQ: rc = c == 0; break;
	case OP_NE: rc = c != 0; break;
	case OP_LT: rc = c < 0; break;
	case OP_LE: rc = c <= 0; break;
	case OP_GT: rc = c > 0; break;
	case OP_GE: rc = c >= 0; break;
	case OP_MATCH: break;
	}
out:
	free(a.s);
	free(b.s);
	return rc;
}

static int eval(const struct expr *e, struct evalctx *ec, struct val *out)
{
	switch (e->kind) {
	case E_STR:
	case E_NUM:
		out->s = xstrdup(e->text);
		return 0;
	case E_BOOL:
		out->s = xstrdup(e->bval ? "true" : "false");
		out->is_bool = true;
		out->b = e->bval;
		return 0;
	case E_NAME: {
		bool secret;
		const char *v = ec->lookup(ec->ctx, e->text, &secret);
		if (!v) {
			*ec->bad = e->text;
			return -1;
		}
		out->s = xstrdup(v);
		return 0;
	}
	default:
		break;
	}
	int r;
	if (e->kind == E_CMP) {
		r = eval_cmp(e, ec);
	} else if (e->kind == E_NOT) {
		struct val v = {0};
		if (eval(e->a, ec, &v) < 0)
			return -1;
		r = !truthy(&v);
		free(v.s);
	} else {
		struct val v = {0};
		if (eval(e->a, ec, &v) < 0)
			return -1;
		bool t = truthy(&v);
		free(v.s);
		/* short-circuit: the right side may read names not yet produced */
		if ((e->kind == E_AND && !t) || (e->kind == E_OR && t))
			r = t;
		else {
			struct val w = {0};
			if (eval(e->b, ec, &w) < 0)
				return -1;
			r = truthy(&w);
			free(w.s);
		}
	}
	if (r < 0)
		return -1;
	out->s = xstrdup(r ? "true" : "false");
	out->is_bool = true;
	out->b = r;
	return 0;
}

int expr_eval(const struct expr *e, tmpl_lookup_fn lookup, void *ctx, const char **bad)
{
	struct evalctx ec = {lookup, ctx, bad};
	struct val v = {0};
	if (eval(e, &ec, &v) < 0)
		return -1;
	int r = truthy(&v);
	free(v.s);
	return r;
}
