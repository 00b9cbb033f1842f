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

static void quote(struct sbuf *sb, const char *s, bool exact)
{
	sbuf_addc(sb, '"');
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			sbuf_addc(sb, '\\');
			sbuf_addc(sb, (char)c);
			p++;
		} else if (c == '\n') {
			sbuf_adds(sb, "\\n");
			p++;
		} else if (c == '\t') {
			sbuf_adds(sb, "\\t");
			p++;
		} else if (c == '\r') {
			sbuf_adds(sb, "\\r");
			p++;
		} else if (c < 0x20 || c == 0x7f) {
			sbuf_addf(sb, "\\u%04x", c);
			p++;
		} else {
			size_t n = utf8_len(p);
			if (n == 0) {
				/* exact: the byte as a lone low surrogate, the way
				 * Python's surrogateescape does; json_parse maps it back */
				if (exact)
					sbuf_addf(sb, "\\udc%02x", c);
				else
					sbuf_adds(sb, "\xef\xbf\xbd");
				p++;
			} else {
				sbuf_add(sb, p, n);
				p += n;
			}
		}
	}
	sbuf_addc(sb, '"');
}

void json_quote(struct sbuf *sb, const char *s)
{
	quote(sb, s, false);
}

size_t json_quote_bytes(struct sbuf *sb, const char *s, size_t n, bool more)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		if (c == 0) {
			sbuf_adds(sb, "\\u0000");
			i++;
			continue;
		}
		if (c >= 0x80) {
			/* a sequence cut by the end of the buffer waits for more */
			size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (more && n - i < need && n - i < 4)
				break;
			char tmp[5] = {0};
			size_t k = need <= n - i ? need : n - i;
			memcpy(tmp, p + i, k);
			size_t len = utf8_len((const unsigned char *)tmp);
			if (len == 0) {
				sbuf_adds(sb, "\xef\xbf\xbd");
				i++;
			} else {
				sbuf_add(sb, p + i, len);
				i += len;
			}
			continue;
		}
		char one[2] = {(char)c, 0};
		struct sbuf t = {0};
		quote(&t, one, false);
		sbuf_add(sb, t.buf + 1, t.len - 2); /* without the quotes */
		sbuf_release(&t);
		i++;
	}
	return i;
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
}

static void key(struct json *j, const char *k)
{
	if (!j->first)
		sbuf_addc(&j->sb, ',');
	j->first = false;
	json_quote(&j->sb, k);
	sbuf_addc(&j->sb, ':');
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
	sbuf_addc(&j->sb, '}');
	return sbuf_str(&j->sb);
}

void json_release(struct json *j)
{
	sbuf_release(&j->sb);
}
