/* tests/unit/main.c — runs every unit test group (TAP output). */
#include "unit.h"

int unit_n, unit_failed;

void test_util(void);

int main(void)
{
	test_util();
	return unit_failed ? 1 : 0;
}
