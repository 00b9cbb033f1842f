/* Durations and did-you-mean. */
#include "unit.h"
#include "util.h"

void test_util(void);
void test_util(void)
{
	long long ms = 0;
	CHECK(parse_duration("90s", &ms) == 0 && ms == 90000, "90s");
	CHECK(parse_duration("1h30m", &ms) == 0 && ms == 5400000, "1h30m");
	CHECK(parse_duration("10", &ms) < 0, "a bare number is refused");
	CHECK_STR(did_you_mean("stpes", (const char *[]){"steps", "params"}, 2), "steps", "stpes -> steps");
}
