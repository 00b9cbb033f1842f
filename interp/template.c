/* template.c — see template.h. */
#include "template.h"

#include "regex.h"

#include <stdlib.h>
#include <string.h>

static const char *const filters[] = {"raw"};

void shell_quote_word(struct sbuf *out, const char *v)
{
	sbuf_addc(out, '\'');
	for (; *v; v++) {
		if (*v == '\'')
			sbuf_adds(out, "'\\''");
		else
			sbuf_addc(out, *v);
	}
	sbuf_addc(out, '\'');
}

void shell_quote_dq(struct sbuf *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '$' || *v == '`' || *v == '"' || *v == '\\')
			sbuf_addc(out, '\\');
		sbuf_addc(out, *v);
	}
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Dot-separated segments of letters, digits, _ and -; only the first must
 * start with a letter or _ (ids such as steps.1st.rc may start with a
 * digit), and no segment starts with '-'. */
bool tmpl_valid_name(const char *name)
{
	const char *p = name;
	for (bool first = true;; first = false) {
		const char *start = p;
		while (name_char(*p))
			p++;
		if (p == start || *start == '-' || (first && *start >= '0' && *start <= '9'))
			return false;
		if (*p == '\0')
			return true;
		if (*p != '.')
			return false;
		p++;
	}
}

/* --- the shell-position lexer -------------------------------------------- */

enum frame { F_UNQ, F_DQ, F_SQ, F_BQ, F_PARAM, F_COMMENT, F_HEREDOC };

struct lexer {
	enum frame stack[64];
	int depth[64]; /* open parentheses inside an F_UNQ command substitution */
	int cases[64]; /* open `case … esac` inside an F_UNQ frame: their `x)`
			* patterns close no parenthesis */
	int top;
	bool escaped;    /* previous char was an unpaired backslash */
	bool word_start; /* at the start of a shell word (for '#') */
	/* here-documents: a `<<WORD` seen; the body starts at the next newline */
	bool heredoc_pending;
	char delim[64];
	size_t delim_len;
	bool reading_delim;
	struct sbuf line; /* current line inside a here-document body */
	bool overflow;
	/* `case` and `esac` are keywords only where a command starts: the
	 * current word, and whether it began at such a position */
	char word[8];
	size_t wlen;
	bool word_cmd, cmd_pos;
	/* quotes inside ${…} depend on the shell and on the outer quoting:
	 * after one, no placeholder of this template can be placed safely */
	bool uncertain;
	bool after_dollar; /* the last character was an unescaped '$' */
};

static bool reserved_word(const char *w)
{
	static const char *const kw[] = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time"};
	for (size_t i = 0; i < ARRAY_LEN(kw); i++)
		if (!strcmp(kw[i], w))
			return true;
	return false;
}

/* A word of an F_UNQ frame ended. */
static void end_word(struct lexer *lx)
{
	if (!lx->wlen)
		return;
	lx->word[lx->wlen < sizeof(lx->word) ? lx->wlen : sizeof(lx->word) - 1] = '\0';
	bool kw = lx->word_cmd && lx->wlen < sizeof(lx->word);
	if (kw && !strcmp(lx->word, "case"))
		lx->cases[lx->top]++;
	else if (kw && !strcmp(lx->word, "esac") && lx->cases[lx->top] > 0)
		lx->cases[lx->top]--;
	lx->cmd_pos = kw && reserved_word(lx->word);
	lx->wlen = 0;
}

static void word_char(struct lexer *lx, char c)
{
	if (lx->wlen == 0)
		lx->word_cmd = lx->cmd_pos;
	if (lx->wlen < sizeof(lx->word))
		lx->word[lx->wlen] = c;
	lx->wlen++;
}

static void lex_push(struct lexer *lx, enum frame f)
{
	if (lx->top + 1 >= (int)ARRAY_LEN(lx->stack)) {
		lx->overflow = true;
		return;
	}
	lx->stack[++lx->top] = f;
	lx->depth[lx->top] = 0;
	lx->cases[lx->top] = 0;
	/* a command substitution starts a command; anything else is in a word */
	lx->wlen = 0;
	lx->cmd_pos = f == F_UNQ;
}

static void lex_pop(struct lexer *lx)
{
	if (lx->top > 0)
		lx->top--;
	/* back in the word that held the quote or substitution */
	lx->wlen = sizeof(lx->word);
	lx->word_cmd = false;
	lx->cmd_pos = false;
}

/* Feeds literal text through the lexer. */
static void lex_feed(struct lexer *lx, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		/* `${{ v }}` would become $'…', ANSI-C quoting in bash */
		lx->after_dollar = c == '$' && !lx->escaped && lx->stack[lx->top] != F_SQ &&
				   lx->stack[lx->top] != F_COMMENT && lx->stack[lx->top] != F_HEREDOC;
		char next = i + 1 < n ? s[i + 1] : '\0';
		enum frame f = lx->stack[lx->top];
		if (lx->reading_delim) {
			if (c == '\'' || c == '"' || c == '\\' || (c == '-' && lx->delim_len == 0))
				continue;
			if (c == ' ' || c == '\t') {
				if (lx->delim_len)
					lx->reading_delim = false;
				continue;
			}
			if (c == '\n' || c == ';' || c == '|' || c == '&' || c == '<' || c == '>' || c == ')') {
				lx->reading_delim = false;
			} else {
				if (lx->delim_len + 1 < sizeof(lx->delim))
					lx->delim[lx->delim_len++] = c;
				continue;
			}
		}
		if (f == F_HEREDOC) {
			if (c == '\n') {
				if (lx->line.len == lx->delim_len &&
				    (lx->delim_len == 0 || memcmp(sbuf_str(&lx->line), lx->delim, lx->delim_len) == 0))
					lex_pop(lx);
				else {
					/* allow <<- with leading tabs */
					const char *l = sbuf_str(&lx->line);
					while (*l == '\t')
						l++;
					if (strlen(l) == lx->delim_len && memcmp(l, lx->delim, lx->delim_len) == 0)
						lex_pop(lx);
				}
				sbuf_reset(&lx->line);
			} else {
				sbuf_addc(&lx->line, c);
			}
			continue;
		}
		if (lx->escaped) {
			lx->escaped = false;
			lx->word_start = false;
			continue;
		}
		switch (f) {
		case F_COMMENT:
			if (c == '\n') {
				lex_pop(lx);
				lx->word_start = true;
				if (lx->heredoc_pending) {
					lx->heredoc_pending = false;
					lex_push(lx, F_HEREDOC);
				}
			}
			break;
		case F_SQ:
			if (c == '\'')
				lex_pop(lx);
			break;
		case F_BQ:
			if (c == '\\')
				lx->escaped = true;
			else if (c == '`')
				lex_pop(lx);
			break;
		case F_PARAM:
			if (c == '"' || c == '\'' || c == '`' || (c == '$' && next == '('))
				lx->uncertain = true;
			if (c == '\\')
				lx->escaped = true;
			else if (c == '{')
				lx->depth[lx->top]++;
			else if (c == '}') {
				if (lx->depth[lx->top] > 0)
					lx->depth[lx->top]--;
				else
					lex_pop(lx);
			}
			break;
		case F_DQ:
			if (c == '\\')
				lx->escaped = true;
			else if (c == '"')
				lex_pop(lx);
			else if (c == '`')
				lex_push(lx, F_BQ);
			else if (c == '$' && next == '(') {
				lex_push(lx, F_UNQ);
				lx->word_start = true; /* a new command begins */
				lx->after_dollar = false;
				i++;
			} else if (c == '$' && next == '{') {
				lex_push(lx, F_PARAM);
				lx->after_dollar = false;
				i++;
			}
			break;
		case F_UNQ:
		case F_HEREDOC:
			if (c == '\\') {
				lx->escaped = true;
				break;
			}
			if (c == '#' && lx->word_start) {
				lex_push(lx, F_COMMENT);
				break;
			}
			bool ws = false;
			bool boundary = c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '&' || c == '|' ||
					c == '(' || c == ')' || c == '<' || c == '>';
			if (boundary) {
				end_word(lx);
				if (c == ';' || c == '&' || c == '|' || c == '(' || c == '\n')
					lx->cmd_pos = true;
			} else {
				word_char(lx, c);
			}
			if (c == '\'')
				lex_push(lx, F_SQ);
			else if (c == '"')
				lex_push(lx, F_DQ);
			else if (c == '`')
				lex_push(lx, F_BQ);
			else if (c == '$' && next == '(') {
				lex_push(lx, F_UNQ);
				lx->after_dollar = false;
				i++;
				ws = true;
			} else if (c == '$' && next == '{') {
				lex_push(lx, F_PARAM);
				lx->after_dollar = false;
				i++;
			} else if (c == '(') {
				lx->depth[lx->top]++;
				ws = true;
			} else if (c == ')') {
				if (lx->depth[lx->top] > 0) {
					lx->depth[lx->top]--;
					ws = true; /* `(true)#x`: a comment starts after a subshell */
				} else if (lx->cases[lx->top] > 0) {
					ws = true; /* the end of a case pattern */
					lx->cmd_pos = true;
				} else
					lex_pop(lx);
			} else if (c == '<' && next == '<' && i + 2 < n && s[i + 2] == '<') {
				i += 2; /* a here-string: the word after it is an ordinary word */
			} else if (c == '<' && next == '<') {
				i++;
				lx->heredoc_pending = true;
				lx->reading_delim = true;
				lx->delim_len = 0;
			} else if (c == '\n') {
				ws = true;
				if (lx->heredoc_pending) {
					lx->heredoc_pending = false;
					lex_push(lx, F_HEREDOC);
				}
			} else if (c == ' ' || c == '\t' || c == ';' || c == '&' || c == '|' || c == '<' || c == '>')
				ws = true;
			lx->word_start = ws;
			break;
		}
	}
}

/* --- parsing ------------------------------------------------------------- */

static struct pos offset_pos(struct pos at, const char *src, size_t off)
{
	struct pos p = at;
	int line = 0;
	size_t last_nl = 0;
	bool any = false;
	for (size_t i = 0; i < off; i++)
		if (src[i] == '\n') {
			line++;
			last_nl = i + 1;
			any = true;
		}
	if (!any) {
		p.col = at.col + (int)off;
	} else {
		p.line = at.line + line;
		p.col = (int)(off - last_nl) + 1;
	}
	return p;
}

static void add_seg(struct tmpl *t, const char *text, size_t n, bool is_name, struct pos pos)
{
	struct tseg s = {0};
	s.text = xstrndup(text, n);
	s.is_name = is_name;
	s.pos = pos;
	VEC_PUSH(t->segs, t->n, t->cap, s);
}

struct tmpl *tmpl_parse(const char *src, struct pos at, enum tmpl_mode mode, struct rb_error *err)
{
	return tmpl_parse_at(src, at, mode, err, NULL, NULL);
}

struct tmpl *tmpl_parse_at(const char *src, struct pos at, enum tmpl_mode mode, struct rb_error *err,
			   tmpl_locate_fn locate, void *lctx)
{
	size_t nth = 0;
	struct tmpl *t = xcalloc(1, sizeof(*t));
	t->src = xstrdup(src);
	t->mode = mode;
	t->pos = at;
	size_t nerr = err->n;
	struct lexer lx = {0};
	lx.word_start = true;
	lx.cmd_pos = true;
	const char *p = src, *lit = src;
	while ((p = strstr(p, "{{")) != NULL) {
		size_t off = (size_t)(p - src);
		struct pos ppos = locate ? locate(lctx, nth) : offset_pos(at, src, off);
		nth++;
		if (p > lit) {
			add_seg(t, lit, (size_t)(p - lit), false, at);
			if (mode == TMPL_SHELL)
				lex_feed(&lx, lit, (size_t)(p - lit));
		}
		const char *q = p + 2;
		while (*q == ' ' || *q == '\t')
			q++;
		/* {{ "literal" }} or {{ 'literal' }} */
		if (*q == '"' || *q == '\'') {
			char quote = *q++;
			const char *start = q;
			while (*q && *q != quote)
				q++;
			if (!*q) {
				rb_error_at(err, ppos, "unterminated string in template");
				break;
			}
			size_t litlen = (size_t)(q - start);
			q++;
			while (*q == ' ' || *q == '\t')
				q++;
			if (q[0] != '}' || q[1] != '}') {
				rb_error_at(err, ppos, "expected '}}' after the string in template");
				break;
			}
			/* The literal is the author's own text: feed it to the lexer
			 * as literal shell text, unquoted by us. */
			add_seg(t, start, litlen, false, ppos);
			if (mode == TMPL_SHELL)
				lex_feed(&lx, start, litlen);
			p = lit = q + 2;
			continue;
		}
		const char *close = strstr(q, "}}");
		if (!close) {
			rb_error_at(err, ppos, "unterminated '{{' (no closing '}}')");
			break;
		}
		/* name [| filter] */
		const char *bar = memchr(q, '|', (size_t)(close - q));
		const char *name_end = bar ? bar : close;
		while (name_end > q && (name_end[-1] == ' ' || name_end[-1] == '\t'))
			name_end--;
		char *name = xstrndup(q, (size_t)(name_end - q));
		bool raw = false;
		bool bad = false;
		if (!*name) {
			rb_error_at(err, ppos, "empty template '{{ }}'");
			bad = true;
		} else if (!tmpl_valid_name(name)) {
			rb_error_at(err, ppos, "invalid name '%s' in template", name);
			bad = true;
		}
		if (bar) {
			const char *f = bar + 1;
			while (*f == ' ' || *f == '\t')
				f++;
			const char *fe = close;
			while (fe > f && (fe[-1] == ' ' || fe[-1] == '\t'))
				fe--;
			char *filter = xstrndup(f, (size_t)(fe - f));
			if (strcmp(filter, "raw") == 0)
				raw = true;
			else {
				struct sbuf sb = {0};
				sbuf_addf(&sb, "unknown filter '%s' in template", filter);
				sbuf_add_suggestion(&sb, filter, filters, ARRAY_LEN(filters));
				rb_error_at(err, ppos, "%s", sbuf_str(&sb));
				sbuf_release(&sb);
				bad = true;
			}
			free(filter);
		}
		if (!bad) {
			enum seg_quote qk = QUOTE_NONE;
			if (mode == TMPL_REGEX)
				qk = QUOTE_REGEX;
			else if (mode == TMPL_SHELL && !raw) {
				enum frame f = lx.stack[lx.top];
				const char *why = NULL;
				if (lx.escaped)
					why = "right after a backslash";
				else if (lx.after_dollar)
					why = "right after '$' (write the value alone, or use env)";
				else if (f == F_SQ)
					why = "inside '…' (single quotes): use \"…\" or leave it unquoted";
				else if (f == F_BQ)
					why = "inside `…` (backquotes): use $(…)";
				else if (f == F_PARAM)
					why = "inside ${…}";
				else if (f == F_COMMENT)
					why = "inside a shell comment";
				else if (lx.uncertain)
					why = "after quotes inside ${…}, whose meaning depends on the shell: pass the value through env";
				else if (f == F_HEREDOC || lx.reading_delim)
					why = "inside a here-document: pass the value as an argument or through env";
				else if (lx.overflow)
					why = "in a command nested too deeply to analyse";
				if (why)
					rb_error_at(err, ppos,
						    "template '{{ %s }}' cannot be quoted safely %s", name, why);
				qk = f == F_DQ ? QUOTE_DQ : QUOTE_WORD;
			}
			add_seg(t, name, strlen(name), true, ppos);
			t->segs[t->n - 1].raw = raw;
			t->segs[t->n - 1].quote = qk;
			/* the value is one word part: a following '#' is not a comment,
			 * and the word it is in is no keyword */
			lx.word_start = false;
			lx.after_dollar = false;
			if (lx.stack[lx.top] == F_UNQ)
				word_char(&lx, 'x');
		}
		free(name);
		p = lit = close + 2;
	}
	if (*lit && err->n == nerr)
		add_seg(t, lit, strlen(lit), false, at);
	sbuf_release(&lx.line);
	if (err->n != nerr) {
		tmpl_free(t);
		return NULL;
	}
	return t;
}

struct tmpl *tmpl_literal(const char *text, struct pos at)
{
	struct tmpl *t = xcalloc(1, sizeof(*t));
	t->src = xstrdup(text);
	t->mode = TMPL_TEXT;
	t->pos = at;
	if (*text)
		add_seg(t, text, strlen(text), false, at);
	return t;
}

void tmpl_free(struct tmpl *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->segs[i].text);
	free(t->segs);
	free(t->src);
	free(t);
}

bool tmpl_is_constant(const struct tmpl *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->segs[i].is_name)
			return false;
	return true;
}

int tmpl_render(const struct tmpl *t, tmpl_lookup_fn lookup, void *ctx, int flags, struct sbuf *out,
		const char **bad)
{
	return tmpl_render_ex(t, lookup, ctx, flags, out, bad, NULL);
}

void tmpl_each_name(const struct tmpl *t, void (*fn)(void *ctx, const char *name, struct pos at), void *ctx)
{
	for (size_t i = 0; t && i < t->n; i++)
		if (t->segs[i].is_name)
			fn(ctx, t->segs[i].text, t->segs[i].pos);
}

void tmpl_insert(struct sbuf *out, const struct tseg *s, const char *v)
{
	if (s->raw) {
		sbuf_adds(out, v);
		return;
	}
	switch (s->quote) {
	case QUOTE_NONE:
		sbuf_adds(out, v);
		break;
	case QUOTE_WORD:
		shell_quote_word(out, v);
		break;
	case QUOTE_DQ:
		shell_quote_dq(out, v);
		break;
	case QUOTE_REGEX:
		regex_quote(out, v);
		break;
	}
}

int tmpl_render_ex(const struct tmpl *t, tmpl_lookup_fn lookup, void *ctx, int flags, struct sbuf *out,
		   const char **bad, bool *secret_used)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct tseg *s = &t->segs[i];
		if (!s->is_name) {
			sbuf_adds(out, s->text);
			continue;
		}
		bool secret = false;
		const char *v = lookup(ctx, s->text, &secret);
		if (!v) {
			if (bad)
				*bad = s->text;
			return -1;
		}
		if (secret && secret_used)
			*secret_used = true;
		if (secret && (flags & RENDER_MASK)) {
			sbuf_adds(out, "***");
			continue;
		}
		tmpl_insert(out, s, v);
	}
	return 0;
}
