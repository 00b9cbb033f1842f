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

void json_quote(struct sbuf *sb, const char *s)
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
		json_quote(&j->sb, v);
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
