/* JSON writing: escaping, invalid UTF-8 → U+FFFD, objects. */
#include "unit.h"
#include "json.h"

#include <stdlib.h>

void test_json(void);

#define FFFD "\xef\xbf\xbd"

static char *Q(const char *s)
{
	struct sbuf sb = {0};
	json_quote(&sb, s);
	return sbuf_detach(&sb);
}

#define JQ(in, want, what)                  \
	do {                                \
		char *got_ = Q(in);         \
		CHECK_STR(got_, want, what); \
		free(got_);                 \
	} while (0)

void test_json(void)
{
	JQ("", "\"\"", "empty string");
	JQ("plain text", "\"plain text\"", "plain text");
	JQ("a\"b\\c", "\"a\\\"b\\\\c\"", "quote and backslash escaped");
	JQ("l1\nl2\tt\rr", "\"l1\\nl2\\tt\\rr\"", "\\n \\t \\r");
	JQ("\x01\x08\x0c\x1f\x7f", "\"\\u0001\\u0008\\u000c\\u001f\\u007f\"", "other controls as \\u00XX");
	JQ("/ < > & '", "\"/ < > & '\"", "/ < > & ' left alone");
	JQ("caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80\"",
	   "valid UTF-8 (2, 3, 4 bytes) kept");
	JQ("\xef\xbf\xbf\xf4\x8f\xbf\xbf", "\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"", "U+FFFF and U+10FFFF kept");
	JQ("\xff", "\"" FFFD "\"", "0xff -> U+FFFD");
	JQ("a\xfe\xff" "b", "\"a" FFFD FFFD "b\"", "each bad byte -> one U+FFFD");
	JQ("\x80", "\"" FFFD "\"", "a lone continuation byte");
	JQ("\xc3", "\"" FFFD "\"", "truncated 2-byte sequence at the end");
	JQ("a\xe2\x82z", "\"a" FFFD FFFD "z\"", "truncated 3-byte sequence in the middle");
	JQ("\xc0\xaf", "\"" FFFD FFFD "\"", "overlong 2-byte (C0 AF)");
	JQ("\xe0\x80\xaf", "\"" FFFD FFFD FFFD "\"", "overlong 3-byte");
	JQ("\xf0\x80\x80\xaf", "\"" FFFD FFFD FFFD FFFD "\"", "overlong 4-byte");
	JQ("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\"", "UTF-16 surrogate D800");
	JQ("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"", "above U+10FFFF");
	JQ("\xf5\x80\x80", "\"" FFFD FFFD FFFD "\"", "F5 is never valid (3 bytes after it)");
	JQ("\xf7\xbf\xbf\xbf", "\"" FFFD FFFD FFFD FFFD "\"", "F7 is never valid");
	JQ("\xf8\x88\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD FFFD "\"", "5-byte forms are invalid");
	JQ("\xc3\x28", "\"" FFFD "(\"", "a bad continuation is not swallowed");

	struct json j = {0};
	json_begin(&j);
	json_kstr(&j, "event", "step-end");
	json_kint(&j, "seq", 42);
	json_kint(&j, "neg", -7);
	json_kbool(&j, "ok", true);
	json_kbool(&j, "retried", false);
	json_kstr(&j, "host", NULL);
	json_kraw(&j, "list", "[1,2]");
	json_kstr(&j, "we\"ird\n", "v\xff");
	CHECK_STR(json_end(&j),
		  "{\"event\":\"step-end\",\"seq\":42,\"neg\":-7,\"ok\":true,\"retried\":false,\"host\":null,"
		  "\"list\":[1,2],\"we\\\"ird\\n\":\"v" FFFD "\"}",
		  "an object, every kind of value, escaped key");
	json_begin(&j);
	CHECK_STR(json_end(&j), "{}", "json_begin resets: empty object");
	json_begin(&j);
	json_kint(&j, "a", 1);
	CHECK_STR(json_end(&j), "{\"a\":1}", "reused writer starts afresh");
	json_release(&j);
}
