/* The journal's building blocks: CRC-32 (zlib's), SHA-256 (FIPS 180-4
 * vectors), the strict JSON reader, the "exact" string writer that keeps
 * every byte through a round trip, json_quote_bytes across calls; then
 * the journal itself: write, replay, a torn tail, a corrupt middle. */
#include "unit.h"
#include "hash.h"
#include "journal.h"
#include "json.h"

#include <fcntl.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define RB_HAVE_LSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define RB_HAVE_LSAN 1
#endif
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

void test_journal(void);

/* Leaks found by LeakSanitizer now (it prints them), or 0 without it. */
static int leaks_now(void)
{
#ifdef RB_HAVE_LSAN
	return __lsan_do_recoverable_leak_check();
#else
	return 0;
#endif
}

/* --- CRC-32 ------------------------------------------------------------ */

static void crc_tests(void)
{
	CHECK(crc32_update(0, "123456789", 9) == 0xcbf43926u, "crc32 check value: '123456789' -> cbf43926");
	CHECK(crc32_update(0, "", 0) == 0, "crc32 of nothing is 0");
	CHECK(crc32_update(0, "The quick brown fox jumps over the lazy dog", 43) == 0x414fa339u,
	      "crc32 of the fox sentence (as zlib) -> 414fa339");
	uint32_t c = crc32_update(0, "1234", 4);
	c = crc32_update(c, "5", 1);
	c = crc32_update(c, "6789", 4);
	CHECK(c == 0xcbf43926u, "crc32 continued over three pieces = one pass");
	/* the journal's seeding: crc32(nonce) continued over the line is the
	 * CRC of nonce+line (what zlib.crc32(line, zlib.crc32(nonce)) gives) */
	const char *nonce = "0123456789abcdef", *line = "{\"seq\":1,\"event\":\"run_start\"";
	char both[128];
	snprintf(both, sizeof(both), "%s%s", nonce, line);
	CHECK(crc32_update(crc32_update(0, nonce, 16), line, strlen(line)) == crc32_update(0, both, strlen(both)),
	      "crc32 seeded with crc32(nonce) = crc32 of nonce followed by the line");
	CHECK(crc32_update(crc32_update(0, "fedcba9876543210", 16), line, strlen(line)) !=
		      crc32_update(crc32_update(0, nonce, 16), line, strlen(line)),
	      "another nonce gives another CRC for the same line");
	unsigned char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	CHECK(crc32_update(0, all, 256) == 0x29058c73u, "crc32 of bytes 0..255 -> 29058c73");
}

/* --- SHA-256 ------------------------------------------------------------- */

static void sha_tests(void)
{
	char hex[65];
	sha256_buf("", 0, hex);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256('')");
	sha256_buf("abc", 3, hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256('abc')");
	const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	sha256_buf(m448, strlen(m448), hex);
	CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
		  "sha256 of the 448-bit FIPS message");
	const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	sha256_buf(m896, strlen(m896), hex);
	CHECK_STR(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
		  "sha256 of the 896-bit FIPS message");

	/* one million 'a', fed in odd-sized chunks */
	static char a[1000000];
	memset(a, 'a', sizeof(a));
	struct sha256 s;
	sha256_init(&s);
	static const size_t sizes[] = {1, 3, 7, 63, 64, 65, 127, 5, 1000, 13, 4093};
	size_t off = 0, k = 0;
	while (off < sizeof(a)) {
		size_t n = sizes[k++ % ARRAY_LEN(sizes)];
		if (n > sizeof(a) - off)
			n = sizeof(a) - off;
		sha256_update(&s, a + off, n);
		off += n;
	}
	sha256_hex(&s, hex);
	CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
		  "sha256 of a million 'a' in odd-sized chunks");
	sha256_buf(a, sizeof(a), hex);
	CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
		  "sha256 of a million 'a' in one call");

	/* the padding boundaries: 55, 56, 63, 64, 119, 120 bytes, one-shot
	 * and byte by byte */
	static const struct {
		size_t n;
		const char *want;
	} pads[] = {
		{55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
		{56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
		{63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
		{64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
		{119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
		{120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
	};
	for (size_t i = 0; i < ARRAY_LEN(pads); i++) {
		char what[80];
		sha256_buf(a, pads[i].n, hex);
		snprintf(what, sizeof(what), "sha256 of %zu 'a' (a padding boundary)", pads[i].n);
		CHECK_STR(hex, pads[i].want, what);
		sha256_init(&s);
		for (size_t b = 0; b < pads[i].n; b++)
			sha256_update(&s, a + b, 1);
		sha256_hex(&s, hex);
		snprintf(what, sizeof(what), "sha256 of %zu 'a' fed byte by byte", pads[i].n);
		CHECK_STR(hex, pads[i].want, what);
	}
}

/* --- json_parse ------------------------------------------------------------- */

static struct jv *P(const char *text, char **err)
{
	*err = NULL;
	return json_parse(text, strlen(text), err);
}

/* Parses a JSON string literal; returns its bytes (malloc'ed) and length,
 * or NULL. */
static char *pstr(const char *text, size_t *len)
{
	char *err = NULL;
	struct jv *v = json_parse(text, strlen(text), &err);
	free(err);
	if (!v || v->t != JV_STR) {
		jv_free(v);
		return NULL;
	}
	char *s = xstrdup(v->s);
	*len = strlen(s);
	jv_free(v);
	return s;
}

#define PSTR(text, want, what)                                   \
	do {                                                     \
		size_t n_;                                       \
		char *got_ = pstr(text, &n_);                    \
		CHECK_STR(got_, want, what);                     \
		free(got_);                                      \
	} while (0)

/* text must be refused, with an error naming a byte offset */
static void refused(const char *text, size_t n, const char *what)
{
	char *err = NULL;
	struct jv *v = json_parse(text, n, &err);
	char buf[160];
	snprintf(buf, sizeof(buf), "refused: %s", what);
	CHECK(v == NULL && err && strstr(err, "at byte "), buf);
	jv_free(v);
	free(err);
}
#define REFUSED(text, what) refused(text, strlen(text), what)

static void parse_tests(void)
{
	char *err;
	struct jv *v = P(" {\"a\": 1, \"b\" : [true, false, null, \"x\"], \"c\": {\"d\": \"e\", \"n\": -2.5e1}, \"empty\": {}, \"none\": []} \n", &err);
	CHECK(v && v->t == JV_OBJ && v->n == 5, "an object with five members");
	CHECK(jv_int(v, "a", -1) == 1, "jv_int of a member");
	const struct jv *b = jv_get(v, "b");
	CHECK(b && b->t == JV_ARR && b->n == 4, "an array member of four items");
	CHECK(b && b->v[0].t == JV_BOOL && b->v[0].b && b->v[1].t == JV_BOOL && !b->v[1].b,
	      "true and false");
	CHECK(b && b->v[2].t == JV_NULL, "null");
	CHECK(b && b->v[3].t == JV_STR && !strcmp(b->v[3].s, "x"), "a string item");
	const struct jv *c = jv_get(v, "c");
	CHECK_STR(jv_str(c, "d"), "e", "a nested object's member");
	CHECK(c && jv_get(c, "n") && jv_get(c, "n")->num == -25.0, "-2.5e1 = -25");
	CHECK(jv_get(v, "empty") && jv_get(v, "empty")->t == JV_OBJ && jv_get(v, "empty")->n == 0, "{}");
	CHECK(jv_get(v, "none") && jv_get(v, "none")->t == JV_ARR && jv_get(v, "none")->n == 0, "[]");
	CHECK(jv_get(v, "zzz") == NULL && jv_str(v, "a") == NULL && jv_int(v, "b", 7) == 7 && !jv_bool(v, "a"),
	      "absent members and members of another type");
	jv_free(v);
	free(err);

	/* numbers */
	static const struct {
		const char *text;
		double want;
	} nums[] = {{"0", 0}, {"-0", 0}, {"12", 12}, {"-3.5", -3.5}, {"1e3", 1000}, {"1.5E-2", 0.015},
		    {"2E+2", 200}, {"123456789012", 123456789012.0}};
	for (size_t i = 0; i < ARRAY_LEN(nums); i++) {
		char what[64];
		v = P(nums[i].text, &err);
		snprintf(what, sizeof(what), "number %s", nums[i].text);
		CHECK(v && v->t == JV_NUM && v->num == nums[i].want, what);
		jv_free(v);
		free(err);
	}
	v = P("{\"seq\":9007199254740993,\"big\":1e300}", &err);
	CHECK(v && jv_int(v, "seq", -1) > 9007199254740000LL && jv_int(v, "big", -1) == -1,
	      "jv_int: a large integer, and a number out of range gives the default");
	jv_free(v);
	free(err);
	REFUSED("01", "a leading zero");
	REFUSED("1.", "a fraction without digits");
	REFUSED(".5", "no digit before the point");
	REFUSED("-", "a lone minus");
	REFUSED("1e", "an exponent without digits");
	REFUSED("+1", "a plus sign");
	REFUSED("0x10", "hex");

	/* escapes */
	PSTR("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", "the two-character escapes");
	PSTR("\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", "\\u escapes to UTF-8 (1, 2, 3 bytes)");
	PSTR("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", "a surrogate pair -> one 4-byte character");
	PSTR("\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80", "a surrogate pair in capitals");
	PSTR("\"a\\udcffb\"", "a\xff" "b", "\\udcff -> the raw byte 0xff");
	PSTR("\"\\udc80\\udcc3\\udca9\"", "\x80\xc3\xa9", "\\udc80..\\udcff -> raw bytes, each");
	PSTR("\"\\ud800x\"", "\xef\xbf\xbd" "x", "a lone high surrogate -> U+FFFD");
	PSTR("\"\\ud800\\u0041\"", "\xef\xbf\xbd" "A", "a high surrogate before a non-surrogate: U+FFFD, then it");
	PSTR("\"\\udc41\"", "\xef\xbf\xbd", "a low surrogate below DC80 is not a byte: U+FFFD");
	PSTR("\"caf\xc3\xa9 \xe2\x98\x83\"", "caf\xc3\xa9 \xe2\x98\x83", "raw UTF-8 passes through");
	PSTR("\"\"", "", "the empty string");
	{
		char *e = NULL;
		struct jv *z = json_parse("\"ab\\u0000cd\"", 12, &e);
		CHECK(z && z->t == JV_STR && !strcmp(z->s, "ab"), "\\u0000 ends the C string early (as documented)");
		jv_free(z);
		free(e);
	}

	/* errors */
	REFUSED("{\"a\":1} x", "trailing garbage after an object");
	REFUSED("1 2", "two values");
	REFUSED("[1] ]", "a stray bracket after the value");
	REFUSED("\"\\x\"", "a bad escape");
	REFUSED("\"\\u12\"", "a short \\u escape");
	REFUSED("\"\\u12g4\"", "a \\u escape with a non-hex digit");
	REFUSED("\"\\ud83d\\u12\"", "a short escape after a high surrogate");
	REFUSED("\"a\nb\"", "a raw newline in a string");
	REFUSED("\"a\x01\"", "a raw control character in a string");
	REFUSED("\"a\tb\"", "a raw tab in a string");
	REFUSED("\"abc", "an unterminated string");
	REFUSED("\"abc\\", "a string ending in a backslash");
	REFUSED("{\"a\":1", "an unterminated object");
	REFUSED("[1,2", "an unterminated array");
	REFUSED("{\"a\" 1}", "a missing colon");
	REFUSED("{a:1}", "an unquoted key");
	REFUSED("[1,]", "a trailing comma in an array");
	REFUSED("{\"a\":1,}", "a trailing comma in an object");
	REFUSED("{,}", "a lone comma");
	REFUSED("", "empty input");
	REFUSED("   ", "only blanks");
	REFUSED("tru", "a cut 'true'");
	REFUSED("nul", "a cut 'null'");
	REFUSED("True", "'True'");
	refused("\"a\0b\"", 5, "a NUL byte inside a string");
	refused("{}\0", 3, "a NUL byte after the value");
	REFUSED("{\"a\"", "a key, then the end");
	REFUSED("{\"a\":1,\"b\" 2}", "a missing colon after a first member");
	/* nothing of a refused text stays allocated (the unit tests run
	 * under LeakSanitizer; the check is skipped in other builds) */
	CHECK(leaks_now() == 0, "json_parse frees everything it built for refused texts (no leak)");

	/* depth */
	char deep[300];
	for (int depth = 1; depth <= 66; depth++) {
		for (int i = 0; i < depth; i++) {
			deep[i] = '[';
			deep[depth + i] = ']';
		}
		deep[2 * depth] = '\0';
		v = json_parse(deep, (size_t)(2 * depth), &err);
		if (depth == 64)
			CHECK(v != NULL, "arrays nested 64 deep are read");
		if (depth == 66)
			CHECK(v == NULL, "arrays nested 66 deep are refused");
		if (!v)
			free(err);
		jv_free(v);
	}
	size_t big = 200000;
	char *huge = xmalloc(2 * big + 1);
	memset(huge, '[', big);
	memset(huge + big, ']', big);
	huge[2 * big] = '\0';
	err = NULL;
	v = json_parse(huge, 2 * big, &err);
	CHECK(v == NULL && err && strstr(err, "deep"), "200000 nested arrays: refused (nested too deeply), no crash");
	jv_free(v);
	free(err);
	/* the same with objects */
	struct sbuf sb = {0};
	for (int i = 0; i < 100; i++)
		sbuf_adds(&sb, "{\"k\":");
	sbuf_adds(&sb, "1");
	for (int i = 0; i < 100; i++)
		sbuf_addc(&sb, '}');
	err = NULL;
	v = json_parse(sb.buf, sb.len, &err);
	CHECK(v == NULL && err, "objects nested 100 deep are refused");
	jv_free(v);
	free(err);
	sbuf_release(&sb);
	free(huge);
}

/* --- writing exactly, and back -------------------------------------------- */

static char *QX(const char *s)
{
	struct sbuf sb = {0};
	json_quote_exact(&sb, s);
	return sbuf_detach(&sb);
}

/* parse(quote_exact(s)) == s, byte for byte */
static bool round_trip(const char *s)
{
	char *q = QX(s);
	char *err = NULL;
	struct jv *v = json_parse(q, strlen(q), &err);
	bool ok = v && v->t == JV_STR && !strcmp(v->s, s);
	jv_free(v);
	free(err);
	free(q);
	return ok;
}

static bool valid_utf8_and_no_controls(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (*p < 0x20)
			return false;
		if (*p < 0x80) {
			p++;
			continue;
		}
		size_t n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc2 ? 2 : 0;
		if (!n || *p > 0xf4)
			return false;
		for (size_t i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n;
	}
	return true;
}

static void exact_tests(void)
{
	char all[256];
	for (int i = 0; i < 255; i++)
		all[i] = (char)(i + 1);
	all[255] = '\0';
	char *q = QX(all);
	bool ascii = true;
	for (const char *p = q; *p; p++)
		ascii &= (unsigned char)*p < 0x80 && (unsigned char)*p >= 0x20;
	CHECK(ascii, "bytes 1..255 quoted exactly: plain printable ASCII");
	CHECK(strstr(q, "\\udcff") && strstr(q, "\\udc80") && strstr(q, "\\u0001") && strstr(q, "\\u007f"),
	      "bytes 1..255: high bytes as \\udcXX, controls as \\u00XX");
	char *err = NULL;
	struct jv *v = json_parse(q, strlen(q), &err);
	CHECK(v && v->t == JV_STR && strlen(v->s) == 255 && !memcmp(v->s, all, 255),
	      "bytes 1..255 come back from json_parse exactly");
	jv_free(v);
	free(err);
	free(q);

	static const char *const cases[] = {
		"caf\xc3\xa9 \xff\xfe \xed\xa0\x80 \xf0\x9f\x98\x80 \xc3",
		"\\udcff is text, not a byte",
		"\xc0\xaf \xe0\x80\xaf \xf4\x90\x80\x80 \xf8\x88\x80\x80\x80",
		"\xef\xbf\xbd is U+FFFD itself",
		"trailing \xe2\x82",
		"\xe2\x82\xac\xe2\x82",
		"\"quoted\" \\ back \n\t\r",
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char what[64];
		snprintf(what, sizeof(what), "exact round trip, mixed case %zu", i + 1);
		CHECK(round_trip(cases[i]), what);
	}

	/* pseudo-random byte strings (no NUL) */
	uint32_t r = 12345;
	int bad = 0;
	char buf[200];
	for (int it = 0; it < 2000; it++) {
		size_t n = (size_t)(it % 199);
		for (size_t i = 0; i < n; i++) {
			r = r * 1103515245u + 12345u;
			unsigned char c = (unsigned char)(r >> 16);
			/* lean towards the interesting bytes */
			if (it % 3 == 0 && c < 0x80)
				c |= 0x80;
			buf[i] = (char)(c ? c : 'z');
		}
		buf[n] = '\0';
		if (!round_trip(buf))
			bad++;
		struct sbuf sb = {0};
		json_quote(&sb, buf);
		char *e = NULL;
		struct jv *w = json_parse(sb.buf, sb.len, &e);
		if (!w || w->t != JV_STR || !valid_utf8_and_no_controls(sb.buf))
			bad += 1000;
		jv_free(w);
		free(e);
		sbuf_release(&sb);
	}
	CHECK(bad == 0, "2000 random byte strings: exact round trip; plain quoting is valid UTF-8 JSON");

	/* the same through a journal-style object writer */
	struct json j = {.exact = true};
	json_begin(&j);
	json_kstr(&j, "v", "a\xff" "b\xc3\xa9");
	const char *o = json_end(&j);
	CHECK_STR(o, "{\"v\":\"a\\udcffb\xc3\xa9\"}", "an exact writer keeps the bad byte as \\udcff");
	v = json_parse(o, strlen(o), &err);
	CHECK_STR(jv_str(v, "v"), "a\xff" "b\xc3\xa9", "and the reader gives the byte back");
	jv_free(v);
	json_release(&j);
}

/* --- json_quote_bytes --------------------------------------------------------- */

static void bytes_tests(void)
{
	struct sbuf sb = {0};
	size_t used = json_quote_bytes(&sb, "a\0b", 3, false);
	CHECK(used == 3, "json_quote_bytes consumes all three bytes");
	CHECK_STR(sbuf_str(&sb), "a\\u0000b", "a NUL becomes \\u0000");
	sbuf_reset(&sb);

	used = json_quote_bytes(&sb, "q\"\\\n\t\x01", 6, false);
	CHECK(used == 6, "escapes: all consumed");
	CHECK_STR(sbuf_str(&sb), "q\\\"\\\\\\n\\t\\u0001", "escapes as in json_quote, without the quotes");
	sbuf_reset(&sb);

	/* a 3-byte sequence cut after its first two bytes */
	const char *a = "x\xe2\x82";
	used = json_quote_bytes(&sb, a, 3, true);
	CHECK(used == 1, "a cut UTF-8 sequence is left for the next call (1 of 3 consumed)");
	CHECK_STR(sbuf_str(&sb), "x", "only the complete part is written");
	char next[8];
	size_t left = 3 - used;
	memcpy(next, a + used, left);
	memcpy(next + left, "\xac y", 3);
	used = json_quote_bytes(&sb, next, left + 3, false);
	CHECK(used == left + 3, "the next call consumes the rest");
	CHECK_STR(sbuf_str(&sb), "x\xe2\x82\xac y", "the euro sign arrives whole");
	sbuf_reset(&sb);

	/* a 4-byte sequence cut after one byte, then after three */
	const char *emoji = "\xf0\x9f\x98\x80";
	used = json_quote_bytes(&sb, emoji, 1, true);
	CHECK(used == 0, "a 4-byte sequence cut after one byte: nothing consumed");
	used = json_quote_bytes(&sb, emoji, 3, true);
	CHECK(used == 0, "cut after three bytes: nothing consumed");
	used = json_quote_bytes(&sb, emoji, 4, true);
	CHECK(used == 4 && !strcmp(sbuf_str(&sb), emoji), "all four: written whole");
	sbuf_reset(&sb);

	/* without more, a cut sequence at the end is invalid: U+FFFD */
	used = json_quote_bytes(&sb, "ok\xe2\x82", 4, false);
	CHECK(used == 4, "without more, everything is consumed");
	CHECK(!strncmp(sbuf_str(&sb), "ok\xef\xbf\xbd", 5) && !strstr(sbuf_str(&sb), "\xe2\x82" ""),
	      "a cut sequence at the very end becomes U+FFFD");
	sbuf_reset(&sb);

	used = json_quote_bytes(&sb, "a\xff" "bcd", 5, true);
	CHECK(used == 5, "an invalid byte followed by enough bytes is not held back");
	CHECK_STR(sbuf_str(&sb), "a\xef\xbf\xbd" "bcd", "it becomes U+FFFD");
	sbuf_reset(&sb);

	/* a stream split at every position gives the same text */
	static const char stream[] = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \0 end";
	size_t slen = sizeof(stream) - 1;
	struct sbuf whole = {0};
	json_quote_bytes(&whole, stream, slen, false);
	int diff = 0;
	for (size_t cut = 0; cut <= slen; cut++) {
		struct sbuf part = {0};
		size_t u = json_quote_bytes(&part, stream, cut, true);
		json_quote_bytes(&part, stream + u, slen - u, false);
		if (part.len != whole.len || memcmp(part.buf, whole.buf, whole.len))
			diff++;
		sbuf_release(&part);
	}
	CHECK(diff == 0, "a stream cut at any byte gives the same JSON as in one piece");
	CHECK(!strcmp(sbuf_str(&whole), "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \\u0000 end"),
	      "and that JSON keeps the UTF-8 and escapes the NUL");
	sbuf_release(&whole);
	sbuf_release(&sb);
}

/* --- the journal ---------------------------------------------------------------- */

static char *slurp(const char *path, size_t *n)
{
	char *s = NULL;
	if (read_file(path, &s, n) < 0)
		return NULL;
	return s;
}

static void spit(const char *path, const char *s, size_t n)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	if (fd >= 0) {
		if (write(fd, s, n) != (ssize_t)n)
			perror(path);
		close(fd);
	}
}

static void add_rec(struct journal *jn, const char *event, const char *step)
{
	struct json *j = journal_begin(jn, event);
	if (!strcmp(event, "run_start")) {
		json_kstr(j, "run", "t-20250101-000000-abcd");
		json_kstr(j, "runbook", "t");
		json_kstr(j, "target", "local");
	}
	if (step) {
		json_kstr(j, "step", step);
		json_kstr(j, "host", "local");
	}
	if (!strcmp(event, "step_end")) {
		json_kstr(j, "status", "ok");
		json_kint(j, "rc", 0);
		json_kraw(j, "captures", "{\"v\":\"a\\udcffb\"}");
	}
	journal_commit(jn, false);
}

static void journal_tests(void)
{
	char dir[] = "/tmp/rbunitXXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return;
	}
	struct rb_error err = {0};
	struct journal jn;
	CHECK(journal_create(&jn, dir, &err) == 0, "journal_create");
	struct stat st;
	CHECK(stat(jn.path, &st) == 0 && (st.st_mode & 0777) == 0600, "the journal file is 0600");
	CHECK(strlen(jn.nonce) == 16 && strspn(jn.nonce, "0123456789abcdef") == 16, "a 16-hex nonce");
	add_rec(&jn, "run_start", NULL);
	add_rec(&jn, "phase", NULL);
	add_rec(&jn, "step_start", "one");
	add_rec(&jn, "step_end", "one");
	journal_close(&jn);
	char *path = xasprintf("%s/journal.jsonl", dir);
	size_t n;
	char *text = slurp(path, &n);
	CHECK(text && n > 0 && text[n - 1] == '\n', "the journal ends with a newline");

	/* every line: its CRC is crc32 seeded with crc32(nonce) over the bytes before ,"crc": */
	int lines = 0, good = 0;
	char nonce[17] = "";
	for (char *p = text; p && *p;) {
		char *nl = strchr(p, '\n');
		if (!nl)
			break;
		lines++;
		if (lines == 1) {
			char *q = strstr(p, "\"nonce\":\"");
			if (q && q < nl)
				snprintf(nonce, sizeof(nonce), "%.16s", q + 9);
		}
		char *tail = nl - 18;
		if (tail > p && !strncmp(tail, ",\"crc\":\"", 8) && !strncmp(nl - 2, "\"}", 2)) {
			char want[9];
			snprintf(want, sizeof(want), "%08x",
				 crc32_update(crc32_update(0, nonce, strlen(nonce)), p, (size_t)(tail - p)));
			if (!strncmp(tail + 8, want, 8))
				good++;
		}
		p = nl + 1;
	}
	CHECK(lines == 4 && good == 4, "four lines, each with the right seeded CRC");

	struct run_state rs;
	int rc = journal_replay(path, &rs, &err);
	CHECK(rc == 0 && rs.nrecs == 4 && rs.torn_line == 0, "replay reads four records");
	CHECK(rc == 0 && !strcmp(rs.nonce, nonce), "replay takes the nonce of the first record");
	struct step_state *s = rc == 0 ? run_state_step(&rs, "one", "local") : NULL;
	CHECK(s && !strcmp(s->status, "ok"), "the step's state is ok");
	const struct jv *caps = s && s->end ? jv_get(s->end, "captures") : NULL;
	CHECK_STR(jv_str(caps, "v"), "a\xff" "b", "a capture with a raw byte comes back exactly");
	CHECK(rs.good_len == (off_t)n, "good_len is the whole file");
	run_state_release(&rs);

	/* a torn last line: ignored by replay, cut by reopen, then appended to */
	char *torn = xmalloc(n + 64);
	memcpy(torn, text, n);
	memcpy(torn + n, "{\"seq\":5,\"time\":\"20", 19);
	spit(path, torn, n + 19);
	rc = journal_replay(path, &rs, &err);
	CHECK(rc == 0 && rs.nrecs == 4 && rs.torn_line == 5 && rs.torn_bytes == 19,
	      "a torn last line: replay keeps four records and names line 5");
	CHECK(rc == 0 && rs.good_len == (off_t)n, "good_len stops before the torn line");
	if (rc == 0) {
		CHECK(journal_reopen(&jn, &rs, &err) == 0, "journal_reopen");
		add_rec(&jn, "run_end", NULL);
		journal_close(&jn);
	}
	run_state_release(&rs);
	rc = journal_replay(path, &rs, &err);
	CHECK(rc == 0 && rs.nrecs == 5 && rs.torn_line == 0 && rs.recs[4].seq == 5 && !strcmp(rs.recs[4].event, "run_end"),
	      "after reopen: the torn bytes are gone and seq 5 follows seq 4");
	run_state_release(&rs);

	/* a last line complete but for its newline is torn too */
	spit(path, text, n - 1);
	rc = journal_replay(path, &rs, &err);
	CHECK(rc == 0 && rs.nrecs == 3 && rs.torn_line == 4, "a last record without its newline is torn");
	run_state_release(&rs);

	/* one byte changed in a middle line: refused, naming the line */
	memcpy(torn, text, n);
	char *l3 = strstr(torn, "\"seq\":3");
	char *one = l3 ? strstr(l3, "\"one\"") : NULL;
	if (one)
		one[1] = 'O';
	spit(path, torn, n);
	rb_error_release(&err);
	memset(&err, 0, sizeof(err));
	rc = journal_replay(path, &rs, &err);
	CHECK(rc < 0 && err.n && strstr(err.msgs[0], "journal.jsonl:3: corrupt journal record") &&
		      strstr(err.msgs[0], "CRC mismatch"),
	      "a changed byte in line 3: 'journal.jsonl:3: corrupt journal record: CRC mismatch'");
	run_state_release(&rs);
	rb_error_release(&err);
	memset(&err, 0, sizeof(err));

	/* lines swapped: CRCs hold, the sequence does not */
	char *e1 = strchr(text, '\n'), *e2 = e1 ? strchr(e1 + 1, '\n') : NULL, *e3 = e2 ? strchr(e2 + 1, '\n') : NULL;
	if (e1 && e2 && e3) {
		size_t off = 0, la = (size_t)(e2 - e1), lb = (size_t)(e3 - e2);
		memcpy(torn + off, text, (size_t)(e1 - text) + 1);
		off += (size_t)(e1 - text) + 1;
		memcpy(torn + off, e2 + 1, lb);
		off += lb;
		memcpy(torn + off, e1 + 1, la);
		off += la;
		memcpy(torn + off, e3 + 1, n - (size_t)(e3 + 1 - text));
		off += n - (size_t)(e3 + 1 - text);
		spit(path, torn, off);
		rc = journal_replay(path, &rs, &err);
		CHECK(rc < 0 && err.n && strstr(err.msgs[0], ":2: corrupt journal record: sequence number 3"),
		      "two records swapped: line 2 refused for its sequence number");
		run_state_release(&rs);
		rb_error_release(&err);
		memset(&err, 0, sizeof(err));
	}

	/* a line from another journal (another nonce) does not pass */
	struct journal other;
	char dir2[] = "/tmp/rbunitXXXXXX";
	if (mkdtemp(dir2) && journal_create(&other, dir2, &err) == 0) {
		add_rec(&other, "run_start", NULL);
		add_rec(&other, "phase", NULL);
		journal_close(&other);
		char *p2 = xasprintf("%s/journal.jsonl", dir2);
		size_t n2;
		char *t2 = slurp(p2, &n2);
		char *l2 = t2 ? strchr(t2, '\n') : NULL;
		if (l2) {
			/* our first line, their second, our third and fourth */
			size_t off = (size_t)(e1 - text) + 1;
			size_t len2 = n2 - (size_t)(l2 + 1 - t2);
			char *mix = xmalloc(n + len2 + 1);
			memcpy(mix, text, off);
			memcpy(mix + off, l2 + 1, len2);
			memcpy(mix + off + len2, e2 + 1, n - (size_t)(e2 + 1 - text));
			spit(path, mix, off + len2 + n - (size_t)(e2 + 1 - text));
			rc = journal_replay(path, &rs, &err);
			CHECK(rc < 0 && err.n && strstr(err.msgs[0], ":2: corrupt journal record: CRC mismatch"),
			      "a record pasted from another run (another nonce) is refused");
			run_state_release(&rs);
			rb_error_release(&err);
			memset(&err, 0, sizeof(err));
			free(mix);
		}
		free(t2);
		unlink(p2);
		free(p2);
		rmdir(dir2);
	}

	/* an empty journal */
	spit(path, "", 0);
	rc = journal_replay(path, &rs, &err);
	CHECK(rc < 0 && err.n && strstr(err.msgs[0], "no complete record"), "an empty journal: no complete record");
	run_state_release(&rs);
	rb_error_release(&err);
	free(torn);
	free(text);
	unlink(path);
	free(path);
	rmdir(dir);
}

/* Appends a record given as JSON fields (without braces) after event. */
static void add_raw(struct journal *jn, const char *event, const char *fields)
{
	struct json *j = journal_begin(jn, event);
	struct jv *v = NULL;
	char *doc = xasprintf("{%s}", fields);
	char *why = NULL;
	v = json_parse(doc, strlen(doc), &why);
	for (size_t i = 0; v && i < v->n; i++) {
		if (v->v[i].t == JV_STR)
			json_kstr(j, v->k[i], v->v[i].s);
		else if (v->v[i].t == JV_NUM)
			json_kint(j, v->k[i], jv_int(v, v->k[i], 0));
		else if (v->v[i].t == JV_BOOL)
			json_kbool(j, v->k[i], jv_bool(v, v->k[i]));
	}
	jv_free(v);
	free(why);
	free(doc);
	journal_commit(jn, false);
}

/* The rollback records: phase rollback, undo_* keyed by (step, host,
 * for), rollback_end; an interrupted rollback stays open. */
static void rollback_tests(void)
{
	char dir[] = "/tmp/rbunitXXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return;
	}
	struct rb_error err = {0};
	struct journal jn;
	if (journal_create(&jn, dir, &err) < 0) {
		CHECK(0, "journal_create");
		return;
	}
	add_rec(&jn, "run_start", NULL);
	add_raw(&jn, "phase", "\"phase\":\"steps\"");
	add_rec(&jn, "step_start", "one");
	add_rec(&jn, "step_end", "one");
	add_raw(&jn, "step_end", "\"step\":\"two\",\"host\":\"local\",\"status\":\"failed\",\"rc\":3");
	add_raw(&jn, "phase", "\"phase\":\"rollback\",\"trigger\":\"failure\",\"step\":\"two\"");
	add_raw(&jn, "undo_start", "\"step\":\"one.undo\",\"host\":\"local\",\"of\":\"one\",\"for\":\"a\",\"attempt\":1");
	add_raw(&jn, "undo_pid", "\"step\":\"one.undo\",\"host\":\"local\",\"of\":\"one\",\"for\":\"a\",\"pgid\":4242");
	add_raw(&jn, "undo_end", "\"step\":\"one.undo\",\"host\":\"local\",\"of\":\"one\",\"for\":\"a\",\"status\":\"ok\",\"rc\":0");
	add_raw(&jn, "undo_start", "\"step\":\"one.undo\",\"host\":\"local\",\"of\":\"one\",\"for\":\"b\",\"attempt\":2");
	journal_close(&jn);
	char *path = xasprintf("%s/journal.jsonl", dir);
	struct run_state rs;
	int rc = journal_replay(path, &rs, &err);
	CHECK(rc == 0 && rs.rollback == RB_OPEN && !rs.rollback_failed, "a rollback begun and not ended is open");
	CHECK_STR(rc == 0 ? rs.rollback_trigger : NULL, "failure", "its trigger is recorded");
	CHECK_STR(rc == 0 ? rs.rollback_step : NULL, "two", "and the failed step that started it");
	CHECK(rc == 0 && rs.nundos == 2, "two undo states: one per host compensated");
	const struct step_state *a = rc == 0 ? run_state_undo(&rs, "one.undo", "local", "a") : NULL;
	const struct step_state *b = rc == 0 ? run_state_undo(&rs, "one.undo", "local", "b") : NULL;
	CHECK(a && !strcmp(a->status, "ok") && a->pgid == 4242 && !strcmp(a->of, "one"), "the undo for host a ended ok");
	CHECK(b && !strcmp(b->status, "started") && b->attempts == 2, "the undo for host b was started, not ended");
	CHECK(rc == 0 && !run_state_undo(&rs, "one.undo", "local", "c"), "no state for a host never compensated");
	CHECK(rc == 0 && !run_state_step(&rs, "one.undo", NULL), "undo states are not step states");
	run_state_release(&rs);

	/* a failed rollback, then one that finished */
	struct run_state r2;
	if (journal_replay(path, &r2, &err) == 0 && journal_reopen(&jn, &r2, &err) == 0) {
		add_raw(&jn, "undo_end", "\"step\":\"one.undo\",\"host\":\"local\",\"of\":\"one\",\"for\":\"b\",\"status\":\"failed\",\"rc\":1");
		add_raw(&jn, "rollback_end", "\"status\":\"failed\"");
		add_raw(&jn, "run_end", "\"status\":\"x\",\"exit\":3");
		journal_close(&jn);
	}
	run_state_release(&r2);
	rc = journal_replay(path, &rs, &err);
	CHECK(rc == 0 && rs.rollback == RB_OPEN && rs.rollback_failed && rs.exit_code == 3,
	      "an undo failed: the rollback stays open, marked failed (exit 3)");
	if (rc == 0 && journal_reopen(&jn, &rs, &err) == 0) {
		add_raw(&jn, "resume", "\"pid\":1");
		add_raw(&jn, "phase", "\"phase\":\"rollback\",\"trigger\":\"operator\",\"continued\":true");
		add_raw(&jn, "undo_end", "\"step\":\"one.undo\",\"host\":\"local\",\"of\":\"one\",\"for\":\"b\",\"status\":\"ok\",\"rc\":0");
		add_raw(&jn, "rollback_end", "\"status\":\"done\"");
		journal_close(&jn);
	}
	run_state_release(&rs);
	rc = journal_replay(path, &rs, &err);
	CHECK(rc == 0 && rs.rollback == RB_DONE && !rs.rollback_failed, "continued and finished: the rollback is done");
	CHECK_STR(rc == 0 ? rs.rollback_trigger : NULL, "failure", "the first trigger is kept");
	b = rc == 0 ? run_state_undo(&rs, "one.undo", "local", "b") : NULL;
	CHECK(b && !strcmp(b->status, "ok"), "the retried undo is ok");
	run_state_release(&rs);

	/* an undo record without of/for is damage */
	if (journal_replay(path, &rs, &err) == 0 && journal_reopen(&jn, &rs, &err) == 0) {
		add_raw(&jn, "undo_start", "\"step\":\"x.undo\",\"host\":\"local\"");
		journal_close(&jn);
	}
	run_state_release(&rs);
	rc = journal_replay(path, &rs, &err);
	CHECK(rc < 0 && err.n && strstr(err.msgs[err.n - 1], "without of/for"), "an undo record without of/for is refused");
	run_state_release(&rs);
	rb_error_release(&err);
	unlink(path);
	free(path);
	rmdir(dir);
}

void test_journal(void)
{
	crc_tests();
	sha_tests();
	parse_tests();
	rollback_tests();
	exact_tests();
	bytes_tests();
	journal_tests();
	/* LeakSanitizer ends the process at exit without flushing stdio
	 * when it finds a leak: do not let it eat the TAP lines */
	fflush(stdout);
}
