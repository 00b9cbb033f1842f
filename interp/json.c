/* json.c — see json.h. */
#include "json.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_len(const unsigned char *p)
{
	size_t n;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0; /* continuation bytes, overlong C0/C1, F5–FF */
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if (n == 3 && p[0] == 0xe0 && p[1] < 0xa0)
		return 0; /* overlong */
	if (n == 3 && p[0] == 0xed && p[1] >= 0xa0)
		return 0; /* surrogates */
	if (n == 4 && p[0] == 0xf0 && p[1] < 0x90)
		return 0; /* overlong */
	if (n == 4 && p[0] == 0xf4 && p[1] >= 0x90)
		return 0; /* past U+10FFFF */
	return n;
}

/* Appends the inside of a JSON string for bytes p[0..n).  A byte that is
 * not UTF-8 becomes U+FFFD, or with exact a lone low surrogate \udcXX
 * (the way Python's surrogateescape does; json_parse maps it back).  With
 * more, a sequence cut by the end of the buffer is left for the next
 * call.  Returns the bytes consumed. */
static size_t quote_span(struct sbuf *sb, const unsigned char *p, size_t n, bool exact, bool more)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			sbuf_addc(sb, '\\');
			sbuf_addc(sb, (char)c);
		} else if (c == '\n') {
			sbuf_adds(sb, "\\n");
		} else if (c == '\t') {
			sbuf_adds(sb, "\\t");
		} else if (c == '\r') {
			sbuf_adds(sb, "\\r");
		} else if (c < 0x20 || c == 0x7f) {
			sbuf_addf(sb, "\\u%04x", c);
		} else if (c < 0x80) {
			sbuf_addc(sb, (char)c);
		} else {
			size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (more && n - i < need)
				break;
			size_t len = n - i < need ? 0 : utf8_len(p + i);
			if (len) {
				sbuf_add(sb, p + i, len);
				i += len;
				continue;
			}
			if (exact)
				sbuf_addf(sb, "\\udc%02x", c);
			else
				sbuf_adds(sb, "\xef\xbf\xbd");
		}
		i++;
	}
	return i;
}

static void quote(struct sbuf *sb, const char *s, bool exact)
{
	sbuf_addc(sb, '"');
	quote_span(sb, (const unsigned char *)s, strlen(s), exact, false);
	sbuf_addc(sb, '"');
}

void json_quote(struct sbuf *sb, const char *s)
{
	quote(sb, s, false);
}

size_t json_quote_bytes(struct sbuf *sb, const char *s, size_t n, bool more)
{
	return quote_span(sb, (const unsigned char *)s, n, false, more);
}

void json_quote_exact(struct sbuf *sb, const char *s)
{
	quote(sb, s, true);
}

void json_begin(struct json *j)
{
	sbuf_reset(&j->sb);
	sbuf_addc(&j->sb, '{');
	j->first = true;
	j->array = false;
}

void json_begin_array(struct json *j)
{
	json_begin(j);
	j->sb.buf[0] = '[';
	j->array = true;
}

static void sep(struct json *j)
{
	if (!j->first)
		sbuf_addc(&j->sb, ',');
	j->first = false;
}

static void key(struct json *j, const char *k)
{
	sep(j);
	json_quote(&j->sb, k);
	sbuf_addc(&j->sb, ':');
}

void json_add_str(struct json *j, const char *v)
{
	sep(j);
	quote(&j->sb, v, j->exact);
}

void json_add_raw(struct json *j, const char *raw)
{
	sep(j);
	sbuf_adds(&j->sb, raw);
}

void json_kstr(struct json *j, const char *k, const char *v)
{
	key(j, k);
	if (v)
		quote(&j->sb, v, j->exact);
	else
		sbuf_adds(&j->sb, "null");
}

void json_kint(struct json *j, const char *k, long long v)
{
	key(j, k);
	sbuf_addf(&j->sb, "%lld", v);
}

void json_kbool(struct json *j, const char *k, bool v)
{
	key(j, k);
	sbuf_adds(&j->sb, v ? "true" : "false");
}

void json_kraw(struct json *j, const char *k, const char *raw)
{
	key(j, k);
	sbuf_adds(&j->sb, raw);
}

const char *json_end(struct json *j)
{
	sbuf_addc(&j->sb, j->array ? ']' : '}');
	return sbuf_str(&j->sb);
}

void json_release(struct json *j)
{
	sbuf_release(&j->sb);
}
