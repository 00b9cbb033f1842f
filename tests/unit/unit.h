/* tests/unit/unit.h — a minimal TAP unit test harness for the pure parts.
 * Each test_*.c defines `void test_NAME(void)` and lists it in main.c. */
#ifndef RB_UNIT_H
#define RB_UNIT_H

#include <stdio.h>
#include <string.h>

extern int unit_n, unit_failed;

#define CHECK(cond, what)                                                                   \
	do {                                                                                \
		unit_n++;                                                                   \
		if (cond)                                                                   \
			printf("ok %d - %s\n", unit_n, what);                               \
		else {                                                                      \
			unit_failed++;                                                      \
			printf("not ok %d - %s (%s:%d: %s)\n", unit_n, what, __FILE__, __LINE__, #cond); \
		}                                                                           \
	} while (0)

#define CHECK_STR(got, want, what)                                                          \
	do {                                                                                \
		const char *g_ = (got), *w_ = (want);                                       \
		unit_n++;                                                                   \
		if (g_ && w_ && strcmp(g_, w_) == 0)                                        \
			printf("ok %d - %s\n", unit_n, what);                               \
		else {                                                                      \
			unit_failed++;                                                      \
			printf("not ok %d - %s\n#   got:  [%s]\n#   want: [%s]\n", unit_n, what, \
			       g_ ? g_ : "(null)", w_ ? w_ : "(null)");                    \
		}                                                                           \
	} while (0)

#endif
