/* tests/unit/main.c — runs every unit test group (TAP output). */
#include "unit.h"

int unit_n, unit_failed;

void test_util(void);
void test_quote(void);
void test_template(void);
void test_expr(void);
void test_json(void);
void test_journal(void);
void test_archive(void);

int main(void)
{
	test_util();
	test_quote();
	test_template();
	test_expr();
	test_json();
	test_journal();
	test_archive();
	return unit_failed ? 1 : 0;
}
