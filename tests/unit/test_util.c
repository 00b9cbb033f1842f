/* Durations and did-you-mean. */
#include "unit.h"
#include "util.h"

#include <stdlib.h>

void test_util(void);

static long long dur(const char *s)
{
	long long ms = -12345;
	if (parse_duration(s, &ms) < 0)
		return -1;
	return ms;
}

static const char *fmt(long long ms)
{
	static char buf[64];
	format_duration(buf, sizeof(buf), ms);
	return buf;
}

#define DUR(s, want) CHECK(dur(s) == (want), "duration " #s " = " #want)
#define BADDUR(s) CHECK(dur(s) == -1, "duration refused: " #s)

void test_util(void)
{
	long long ms = 0;
	CHECK(parse_duration("90s", &ms) == 0 && ms == 90000, "90s");
	CHECK(parse_duration("1h30m", &ms) == 0 && ms == 5400000, "1h30m");
	CHECK(parse_duration("10", &ms) < 0, "a bare number is refused");
	CHECK_STR(did_you_mean("stpes", (const char *[]){"steps", "params"}, 2), "steps", "stpes -> steps");

	/* durations */
	DUR("500ms", 500);
	DUR("0s", 0);
	DUR("1s", 1000);
	DUR("10m", 600000);
	DUR("2h", 7200000);
	DUR("1d", 86400000);
	DUR("1h30m", 5400000);
	DUR("1m30s", 90000);
	DUR("1h2m3s", 3723000);
	DUR("2s500ms", 2500);
	DUR("1h0m", 3600000);
	DUR("90m", 5400000);
	DUR("366d", 366LL * 86400000);
	BADDUR("");
	BADDUR("10");
	BADDUR("s");
	BADDUR("ms");
	BADDUR("1.5s");
	BADDUR("-1s");
	BADDUR("+1s");
	BADDUR(" 1s");
	BADDUR("1s ");
	BADDUR("1 s");
	BADDUR("1h 30m");
	BADDUR("1x");
	BADDUR("1S");
	BADDUR("1sec");
	BADDUR("1m30");
	BADDUR("1y");
	BADDUR("367d");
	BADDUR("99999999999999999999s");
	BADDUR("1000000001ms");
	CHECK(parse_duration("abc", &ms) < 0 && ms == 5400000, "a refused duration leaves *ms alone");

	/* format_duration */
	CHECK_STR(fmt(0), "0ms", "format 0");
	CHECK_STR(fmt(250), "250ms", "format 250ms");
	CHECK_STR(fmt(999), "999ms", "format 999ms");
	CHECK_STR(fmt(1000), "1.0s", "format 1.0s");
	CHECK_STR(fmt(1234), "1.2s", "format 1.2s (truncated to tenths)");
	CHECK_STR(fmt(59999), "59.9s", "format 59.9s");
	CHECK_STR(fmt(60000), "1m00s", "format 1m00s");
	CHECK_STR(fmt(184000), "3m04s", "format 3m04s");
	CHECK_STR(fmt(3599999), "59m59s", "format 59m59s");
	CHECK_STR(fmt(3600000), "1h00m", "format 1h00m");
	CHECK_STR(fmt(5400000), "1h30m", "format 1h30m");
	CHECK_STR(fmt(90000000), "25h00m", "format 25h00m");
	{
		char small[4];
		format_duration(small, sizeof(small), 123456);
		CHECK(strlen(small) == 3, "format_duration truncates into a small buffer");
	}

	/* did_you_mean: a third of the word's length, at least 1, at most 3 */
	static const char *const keys[] = {"steps", "params", "preconditions", "finally", "run", "on_failure",
					   "description"};
	size_t nk = ARRAY_LEN(keys);
#define DYM(w, want) CHECK_STR(did_you_mean(w, keys, nk), want, "did_you_mean " w " -> " want)
#define NODYM(w) CHECK(did_you_mean(w, keys, nk) == NULL, "no suggestion for " w)
	DYM("steps", "steps");
	DYM("step", "steps");
	DYM("stepss", "steps");
	DYM("parmas", "params");       /* adjacent swap counts as one edit */
	DYM("rn", "run");              /* short words: 1 edit */
	DYM("ru", "run");
	NODYM("r");                    /* 'r' -> 'run' is 2 edits */
	NODYM("xyz");
	NODYM("stp");                  /* 3 letters: 1 edit allowed, 'steps' is 2 away */
	NODYM("prms");                 /* 4 letters: 1 edit allowed, 'params' is 2 away */
	DYM("paraams", "params");      /* 7 letters: 2 edits allowed */
	DYM("finnaly", "finally");     /* swap */
	NODYM("fnaly");                /* 5 letters, 2 deletions: only 1 allowed */
	NODYM("prcndtns");              /* 8 letters: 2 allowed, 5 deletions */
	DYM("precndtons", "preconditions"); /* 10 letters: 3 allowed, 3 deletions */
	NODYM("prcndtons");             /* 9 letters: 3 allowed, 4 deletions */
	DYM("precondtions", "preconditions"); /* 12 letters: 3 allowed (cap) */
	DYM("on-failure", "on_failure");
	DYM("desription", "description");
	NODYM("ddeessccrriippttiioonn"); /* capped at 3 edits */
	CHECK(did_you_mean("steps", keys, 0) == NULL, "no candidates: no suggestion");
	{
		char longw[100];
		memset(longw, 'a', 99);
		longw[99] = 0;
		const char *c[] = {longw};
		CHECK(did_you_mean(longw, c, 1) == NULL || did_you_mean(longw, c, 1) == longw,
		      "very long words do not crash");
	}
	{
		struct sbuf sb = {0};
		sbuf_add_suggestion(&sb, "parmas", keys, nk);
		CHECK_STR(sbuf_str(&sb), " \xe2\x80\x94 did you mean 'params'?", "sbuf_add_suggestion text");
		sbuf_reset(&sb);
		sbuf_add_suggestion(&sb, "zzzzzz", keys, nk);
		CHECK_STR(sbuf_str(&sb), "", "sbuf_add_suggestion adds nothing without a match");
		sbuf_release(&sb);
	}

	/* positioned errors */
	{
		struct rb_error err = {0};
		rb_error_at(&err, (struct pos){"a.yml", 3, 5}, "bad %s", "thing");
		rb_error_add(&err, "no position");
		rb_warn_at(&err, (struct pos){"a.yml", 1, 1}, "just a warning");
		CHECK(err.n == 2 && err.nwarn == 1, "errors and warnings kept apart");
		CHECK_STR(err.msgs[0], "a.yml:3:5: bad thing", "rb_error_at formats file:line:col");
		CHECK_STR(err.msgs[1], "no position", "rb_error_add has no position");
		CHECK_STR(err.warns[0], "a.yml:1:1: just a warning", "rb_warn_at");
		rb_error_release(&err);
		CHECK(err.n == 0 && err.msgs == NULL, "rb_error_release resets");
	}
}
