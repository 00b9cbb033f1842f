/* jsonparse.c — a strict recursive-descent JSON reader (RFC 8259) for
 * what runbook itself wrote: journal records and run summaries.  Depth is
 * bounded so a hostile file cannot exhaust the stack. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct parser {
	const char *s, *end, *p;
	char *err;
};

static int fail(struct parser *P, const char *what)
{
	if (!P->err)
		P->err = xasprintf("%s at byte %zu", what, (size_t)(P->p - P->s) + 1);
	return -1;
}

static void ws(struct parser *P)
{
	while (P->p < P->end && (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r'))
		P->p++;
}

static int hex4(struct parser *P, unsigned *out)
{
	if (P->end - P->p < 4)
		return fail(P, "short \\u escape");
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = P->p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return fail(P, "bad \\u escape");
	}
	P->p += 4;
	*out = v;
	return 0;
}

static void utf8_put(struct sbuf *sb, unsigned cp)
{
	char b[4];
	if (cp < 0x80) {
		sbuf_addc(sb, (char)cp);
		return;
	}
	if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		sbuf_add(sb, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		sbuf_add(sb, b, 3);
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		sbuf_add(sb, b, 4);
	}
}

static int string(struct parser *P, char **out)
{
	struct sbuf sb = {0};
	P->p++; /* the opening quote */
	for (;;) {
		if (P->p >= P->end) {
			sbuf_release(&sb);
			return fail(P, "unterminated string");
		}
		unsigned char c = (unsigned char)*P->p;
		if (c == '"') {
			P->p++;
			break;
		}
		if (c < 0x20) {
			sbuf_release(&sb);
			return fail(P, "control character in a string");
		}
		if (c != '\\') {
			sbuf_addc(&sb, (char)c);
			P->p++;
			continue;
		}
		if (++P->p >= P->end) {
			sbuf_release(&sb);
			return fail(P, "unterminated string");
		}
		char e = *P->p++;
		unsigned cp;
		switch (e) {
		case '"': sbuf_addc(&sb, '"'); break;
		case '\\': sbuf_addc(&sb, '\\'); break;
		case '/': sbuf_addc(&sb, '/'); break;
		case 'b': sbuf_addc(&sb, '\b'); break;
		case 'f': sbuf_addc(&sb, '\f'); break;
		case 'n': sbuf_addc(&sb, '\n'); break;
		case 'r': sbuf_addc(&sb, '\r'); break;
		case 't': sbuf_addc(&sb, '\t'); break;
		case 'u':
			if (hex4(P, &cp) < 0) {
				sbuf_release(&sb);
				return -1;
			}
			if (cp >= 0xd800 && cp <= 0xdbff && P->end - P->p >= 6 && P->p[0] == '\\' && P->p[1] == 'u') {
				const char *save = P->p;
				unsigned lo;
				P->p += 2;
				if (hex4(P, &lo) < 0) {
					sbuf_release(&sb);
					return -1;
				}
				if (lo >= 0xdc00 && lo <= 0xdfff) {
					utf8_put(&sb, 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00));
					break;
				}
				P->p = save;
			}
			if (cp >= 0xdc80 && cp <= 0xdcff)
				sbuf_addc(&sb, (char)(cp & 0xff)); /* an escaped raw byte */
			else if (cp >= 0xd800 && cp <= 0xdfff)
				utf8_put(&sb, 0xfffd);
			else
				utf8_put(&sb, cp);
			break;
		default:
			sbuf_release(&sb);
			P->p--;
			return fail(P, "bad escape");
		}
	}
	*out = sb.buf ? sbuf_detach(&sb) : xstrdup("");
	return 0;
}

static int value(struct parser *P, struct jv *v, int depth);

static int members(struct parser *P, struct jv *v, int depth, bool obj)
{
	size_t cap = 0, kcap = 0;
	P->p++;
	ws(P);
	if (P->p < P->end && *P->p == (obj ? '}' : ']')) {
		P->p++;
		return 0;
	}
	for (;;) {
		ws(P);
		char *k = NULL;
		if (obj) {
			if (P->p >= P->end || *P->p != '"')
				return fail(P, "expected a key");
			if (string(P, &k) < 0)
				return -1;
			ws(P);
			if (P->p >= P->end || *P->p != ':') {
				free(k);
				return fail(P, "expected ':'");
			}
			P->p++;
		}
		struct jv item = {0};
		int rc = value(P, &item, depth + 1);
		/* key and value go in together, so release() frees both even
		 * when the value failed half-way */
		if (obj) {
			size_t nk = v->n;
			VEC_PUSH(v->k, nk, kcap, k);
		}
		VEC_PUSH(v->v, v->n, cap, item);
		if (rc < 0)
			return -1;
		ws(P);
		if (P->p < P->end && *P->p == ',') {
			P->p++;
			continue;
		}
		if (P->p < P->end && *P->p == (obj ? '}' : ']')) {
			P->p++;
			return 0;
		}
		return fail(P, obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int number(struct parser *P, struct jv *v)
{
	const char *q = P->p;
	if (q < P->end && *q == '-')
		q++;
	if (q >= P->end || *q < '0' || *q > '9')
		return fail(P, "bad number");
	if (*q == '0')
		q++;
	else
		while (q < P->end && *q >= '0' && *q <= '9')
			q++;
	if (q < P->end && *q == '.') {
		if (++q >= P->end || *q < '0' || *q > '9')
			return fail(P, "bad number");
		while (q < P->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < P->end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < P->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= P->end || *q < '0' || *q > '9')
			return fail(P, "bad number");
		while (q < P->end && *q >= '0' && *q <= '9')
			q++;
	}
	char *tmp = xstrndup(P->p, (size_t)(q - P->p));
	v->t = JV_NUM;
	v->num = strtod(tmp, NULL);
	free(tmp);
	P->p = q;
	return 0;
}

static int word(struct parser *P, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(P->end - P->p) < n || memcmp(P->p, w, n))
		return fail(P, "unexpected character");
	P->p += n;
	return 0;
}

static int value(struct parser *P, struct jv *v, int depth)
{
	if (depth >= MAX_DEPTH)
		return fail(P, "nested too deeply");
	ws(P);
	if (P->p >= P->end)
		return fail(P, "unexpected end");
	switch (*P->p) {
	case '{':
		v->t = JV_OBJ;
		return members(P, v, depth, true);
	case '[':
		v->t = JV_ARR;
		return members(P, v, depth, false);
	case '"':
		v->t = JV_STR;
		return string(P, &v->s);
	case 't':
		v->t = JV_BOOL;
		v->b = true;
		return word(P, "true");
	case 'f':
		v->t = JV_BOOL;
		return word(P, "false");
	case 'n':
		return word(P, "null");
	default:
		return number(P, v);
	}
}

static void release(struct jv *v)
{
	for (size_t i = 0; i < v->n; i++) {
		release(&v->v[i]);
		if (v->k)
			free(v->k[i]);
	}
	free(v->v);
	free(v->k);
	free(v->s);
}

struct jv *json_parse(const char *text, size_t n, char **err)
{
	struct parser P = {text, text + n, text, NULL};
	struct jv *v = xcalloc(1, sizeof(*v));
	if (value(&P, v, 0) == 0) {
		ws(&P);
		if (P.p != P.end)
			fail(&P, "trailing characters");
	}
	if (P.err) {
		jv_free(v);
		*err = P.err;
		return NULL;
	}
	return v;
}

void jv_free(struct jv *v)
{
	if (!v)
		return;
	release(v);
	free(v);
}

const struct jv *jv_get(const struct jv *o, const char *key)
{
	if (!o || o->t != JV_OBJ)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->k[i], key))
			return &o->v[i];
	return NULL;
}

const char *jv_str(const struct jv *o, const char *key)
{
	const struct jv *v = jv_get(o, key);
	return v && v->t == JV_STR ? v->s : NULL;
}

long long jv_int(const struct jv *o, const char *key, long long def)
{
	const struct jv *v = jv_get(o, key);
	if (!v || v->t != JV_NUM || !isfinite(v->num) || v->num > 9e18 || v->num < -9e18)
		return def;
	return (long long)v->num;
}

bool jv_bool(const struct jv *o, const char *key)
{
	const struct jv *v = jv_get(o, key);
	return v && v->t == JV_BOOL && v->b;
}
