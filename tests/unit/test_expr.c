/* `when:` expressions: precedence, comparisons, =~, truthiness, errors. */
#include "unit.h"
#include "expr.h"

#include <stdlib.h>

void test_expr(void);

static const struct {
	const char *name, *val;
} vals[] = {
	{"one", "1"},        {"zero", "0"},          {"empty", ""},          {"f", "false"},
	{"F", "False"},      {"t", "true"},          {"ten", "10"},          {"nine", "9"},
	{"ver", "v1.2.3"},   {"name", "abc"},        {"sp", " 1"},           {"hex", "0x10"},
	{"inf", "inf"},      {"steps.s1.rc", "0"},   {"env", "integration"}, {"pat", "^v1"},
	{"badre", "("},      {"notes", "yes"},       {"order", "0"},         {"pw", "hunter2"},
	{"steps.schema-diff.rc", "1"},
};

static const char *lookup(void *ctx, const char *name, bool *secret)
{
	(void)ctx;
	for (size_t i = 0; i < ARRAY_LEN(vals); i++)
		if (strcmp(vals[i].name, name) == 0) {
			*secret = strcmp(name, "pw") == 0;
			return vals[i].val;
		}
	return NULL;
}

static const struct pos AT = {"f.yml", 2, 7};

/* 1 / 0 as evaluated, -1 on an evaluation error (*bad set), -2 when the
 * expression did not parse. */
static int W(const char *src, const char **bad)
{
	struct rb_error err = {0};
	struct expr *e = expr_parse(src, AT, &err);
	int r;
	const char *b = NULL;
	if (!e) {
		r = -2;
		if (err.n)
			printf("#   parse error: %s\n", err.msgs[0]);
	} else {
		r = expr_eval(e, lookup, NULL, &b);
	}
	static char keep[256];
	if (bad) {
		snprintf(keep, sizeof(keep), "%s", b ? b : "");
		*bad = keep;
	}
	expr_free(e);
	rb_error_release(&err);
	return r;
}

#define T(src) CHECK(W(src, NULL) == 1, "true: " src)
#define F(src) CHECK(W(src, NULL) == 0, "false: " src)

/* The parse error message(s) for src, or "(parsed)". */
static char *PE(const char *src)
{
	struct rb_error err = {0};
	struct expr *e = expr_parse(src, AT, &err);
	struct sbuf sb = {0};
	if (e)
		sbuf_adds(&sb, "(parsed)");
	for (size_t i = 0; i < err.n; i++)
		sbuf_addf(&sb, "%s%s", i ? "\n" : "", err.msgs[i]);
	expr_free(e);
	rb_error_release(&err);
	return sbuf_detach(&sb);
}

#define ERR(src, want)                                   \
	do {                                             \
		char *got_ = PE(src);                    \
		CHECK_STR(got_, want, "error for: " src); \
		free(got_);                              \
	} while (0)

struct names {
	struct sbuf sb;
};

static void collect(void *ctx, const char *name, struct pos at)
{
	struct names *n = ctx;
	sbuf_addf(&n->sb, "%s@%d:%d ", name, at.line, at.col);
}

void test_expr(void)
{
	const char *bad;

	/* literals and truthiness */
	T("true");
	F("false");
	T("1");
	F("0");
	T("\"x\"");
	F("\"\"");
	F("''");
	F("\"false\"");
	F("'0'");
	T("\"0.0\"");
	T("\" \"");
	T("\"no\"");
	F("empty");
	F("zero");
	F("f");
	T("F");
	T("t");
	T("one");
	T("ver");

	/* precedence: not > and > or; comparisons bind tighter than not */
	T("one or zero and zero");   /* one or (zero and zero) */
	T("zero and zero or one");   /* (zero and zero) or one */
	F("zero and (zero or one)");
	F("not zero and zero");      /* (not zero) and zero */
	T("not one or one");         /* (not one) or one */
	T("not not one");
	F("not not not one");
	T("not (one and zero)");
	F("(one or zero) and zero");
	T("not ten == 9");           /* not (ten == 9) */
	F("not ten == 10");
	T("one and notes");          /* 'notes' is a name, not 'not' */
	F("zero or order");          /* 'order' is a name, not 'or' */
	T("(((one)))");
	CHECK(W("one\nand\tone", NULL) == 1, "newlines and tabs are blanks");
	T("steps.s1.rc == 0 and env == \"integration\"");
	T("steps.schema-diff.rc != 0 and env == 'integration'");

	/* numeric when both sides are numbers, textual otherwise */
	T("ten > nine");
	T("\"10\" > \"9\"");
	T("2 < 10");
	T("\"2\" < \"10\"");
	F("\"10\" > \"9a\"");   /* text: '1' < '9' */
	T("\"abc\" < \"abd\"");
	T("\"abc\" != \"abd\"");
	T("\"1.0\" == 1");
	T("\"01\" == \"1\"");
	T("\"1e3\" == 1000");
	T("-1 < 0");
	T("-1.5 <= -1.5");
	T("3 >= 3");
	F("3 > 3");
	T("nine <= ten");
	F("sp == \"1\"");       /* " 1" is text */
	T("name == \"abc\"");
	T("name == 'abc'");
	T("ver != \"v1.2\"");
	T("true == \"true\"");
	T("\"a\\\"b\" == 'a\"b'");  /* \" inside "…" */
	/* hexadecimal and infinities are not numbers for an operator */
	F("hex == 16");
	F("hex == \"16\"");
	F("inf == \"infinity\"");

	/* =~ searches (not anchored) with PCRE2 */
	T("ver =~ '^v\\d+\\.'");
	F("ver =~ \"^x\"");
	T("name =~ 'b'");
	F("name =~ '^b'");
	T("ver =~ pat");        /* pattern from a value */
	T("not name =~ 'z'");   /* not (name =~ 'z') */
	T("ver =~ '^v1' and name =~ 'c$'");
	CHECK(W("ver =~ badre", &bad) == -1 && strcmp(bad, "a bad regular expression on the right of '=~'") == 0,
	      "a bad regex from a value fails at evaluation");

	/* unknown names at evaluation; short-circuit */
	CHECK(W("nosuch", &bad) == -1 && strcmp(bad, "nosuch") == 0, "unknown name reported");
	CHECK(W("one and nosuch == 1", &bad) == -1 && strcmp(bad, "nosuch") == 0, "unknown name on the right");
	CHECK(W("zero and nosuch", &bad) == 0, "and short-circuits: the right side is not read");
	CHECK(W("one or nosuch", &bad) == 1, "or short-circuits: the right side is not read");
	CHECK(W("pw == 'hunter2'", &bad) == 1, "a secret can be compared");

	/* names the expression reads, with positions */
	{
		struct rb_error err = {0};
		struct expr *e = expr_parse("one == ten and (not steps.s1.rc or 'x' =~ pat)", AT, &err);
		struct names n = {{0}};
		expr_each_name(e, collect, &n);
		CHECK_STR(sbuf_str(&n.sb), "one@2:7 ten@2:14 steps.s1.rc@2:27 pat@2:49 ",
			  "expr_each_name: every name with its position");
		sbuf_release(&n.sb);
		expr_free(e);
		rb_error_release(&err);
	}

	/* parse errors, each at file:line:col */
	ERR("", "f.yml:2:7: in 'when': unexpected end of expression");
	ERR("one ==", "f.yml:2:13: in 'when': unexpected end of expression");
	ERR("one and", "f.yml:2:14: in 'when': unexpected end of expression");
	ERR("one = 1", "f.yml:2:11: in 'when': '=' is not an operator: use '=='");
	ERR("one && zero", "f.yml:2:11: in 'when': '&&' is written 'and' here");
	ERR("one || zero", "f.yml:2:11: in 'when': '||' is written 'or' here");
	ERR("(one and zero", "f.yml:2:20: in 'when': expected ')' to close the '(' at column 7");
	ERR("one == \"abc", "f.yml:2:14: in 'when': unterminated string");
	ERR("{{ one }} == 1", "f.yml:2:7: in 'when': names are written without '{{ }}' in 'when'");
	ERR("and one", "f.yml:2:7: in 'when': expected a value, found 'and'");
	ERR("one or not", "f.yml:2:17: in 'when': unexpected end of expression");
	ERR("one two", "f.yml:2:11: in 'when': unexpected 'two' after the expression");
	ERR("one == 1)", "f.yml:2:15: in 'when': unexpected ')' after the expression");
	ERR("one == !", "f.yml:2:14: in 'when': unexpected '!'");
	ERR("name =~ \"(\"",
	    "f.yml:2:17: in 'when': bad regular expression: missing closing parenthesis at offset 1");
	ERR("name =~ 'a)'", "f.yml:2:17: in 'when': bad regular expression: unmatched closing parenthesis at offset 1");
	{
		char deep[200];
		size_t i;
		for (i = 0; i < 70; i++)
			deep[i] = '(';
		strcpy(deep + i, "one");
		char *s = PE(deep);
		CHECK_STR(s, "f.yml:2:71: in 'when': too deeply nested", "nesting is bounded");
		free(s);
		char ok[200];
		for (i = 0; i < 60; i++)
			ok[i] = '(';
		ok[i] = 0;
		strcat(ok, "one");
		for (i = 0; i < 60; i++)
			strcat(ok, ")");
		CHECK(W(ok, NULL) == 1, "60 levels of parentheses are fine");
	}
}
