/* regex.c — see regex.h.  Byte-oriented (no PCRE2_UTF): command output is
 * not guaranteed to be UTF-8, and a bad byte must not stop a match. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

struct regex {
	pcre2_code *code;
	pcre2_match_data *md;
	char *src;
};

struct regex *regex_compile(const char *pattern, bool whole, char **msg, size_t *offset)
{
	int errcode;
	PCRE2_SIZE erroff;
	uint32_t opts = whole ? (PCRE2_ANCHORED | PCRE2_ENDANCHORED) : 0;
	/* Wrapping in (?:…) makes "a|b" mean the whole of a or the whole of b. */
	char *src = whole ? xasprintf("(?:%s)", pattern) : xstrdup(pattern);
	pcre2_code *code = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, opts, &errcode, &erroff, NULL);
	if (!code) {
		PCRE2_UCHAR buf[256];
		pcre2_get_error_message(errcode, buf, sizeof(buf));
		if (whole)
			erroff = erroff >= 3 ? erroff - 3 : 0;
		if (erroff > strlen(pattern))
			erroff = strlen(pattern);
		*msg = xasprintf("%s at offset %zu", (char *)buf, (size_t)erroff);
		*offset = erroff;
		free(src);
		return NULL;
	}
	/* No JIT: patterns run against one line at a time, where the
	 * interpreter is as fast (measured: 200 MiB through three patterns in
	 * ~0.7 s either way), and JIT code defeats valgrind's checking. */
	struct regex *re = xcalloc(1, sizeof(*re));
	re->code = code;
	re->md = pcre2_match_data_create_from_pattern(code, NULL);
	re->src = src;
	return re;
}

void regex_free(struct regex *re)
{
	if (!re)
		return;
	pcre2_match_data_free(re->md);
	pcre2_code_free(re->code);
	free(re->src);
	free(re);
}

const char *regex_source(const struct regex *re)
{
	return re->src;
}

int regex_match(struct regex *re, const char *s, size_t len)
{
	int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, re->md, NULL);
	if (rc >= 0)
		return 1;
	return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

static char *group_text(struct regex *re, const char *s, int group)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
	uint32_t count = pcre2_get_ovector_count(re->md);
	if (group < 0 || (uint32_t)group >= count || ov[2 * group] == PCRE2_UNSET)
		return xstrdup("");
	return xstrndup(s + ov[2 * group], ov[2 * group + 1] - ov[2 * group]);
}

char *regex_capture(struct regex *re, const char *s, const char *name)
{
	int n = name ? pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)name) : -1;
	if (n > 0)
		return group_text(re, s, n);
	return group_text(re, s, regex_group_count(re) >= 1 ? 1 : 0);
}

void regex_each_named(struct regex *re, const char *s,
		      void (*fn)(void *ctx, const char *name, const char *val, size_t len), void *ctx)
{
	uint32_t count = 0, size = 0;
	PCRE2_SPTR table;
	pcre2_pattern_info(re->code, PCRE2_INFO_NAMECOUNT, &count);
	if (!count)
		return;
	pcre2_pattern_info(re->code, PCRE2_INFO_NAMEENTRYSIZE, &size);
	pcre2_pattern_info(re->code, PCRE2_INFO_NAMETABLE, &table);
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
	uint32_t ovn = pcre2_get_ovector_count(re->md);
	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *e = table + i * size;
		uint32_t g = ((uint32_t)e[0] << 8) | e[1];
		if (g >= ovn || ov[2 * g] == PCRE2_UNSET)
			continue;
		fn(ctx, (const char *)e + 2, s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
	}
}

bool regex_has_group(const struct regex *re, const char *name)
{
	return pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)name) > 0;
}

int regex_group_count(const struct regex *re)
{
	uint32_t n = 0;
	pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &n);
	return (int)n;
}

void regex_quote(struct sbuf *sb, const char *text)
{
	for (const char *p = text; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		    c >= 0x80 || c == ' ')
			sbuf_addc(sb, (char)c);
		else if (c == '\n')
			sbuf_adds(sb, "\\n");
		else if (c < 0x20 || c == 0x7f)
			sbuf_addf(sb, "\\x{%02x}", c);
		else {
			sbuf_addc(sb, '\\');
			sbuf_addc(sb, (char)c);
		}
	}
}
