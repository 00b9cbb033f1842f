/* tests/fuzz/fuzz_expr.c — `when` expressions: parsing, then evaluation
 * against names that have numbers, strings, an empty value or none. */
#include "fuzz.h"

#include "expr.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

static const char *lookup(void *ctx, const char *name, bool *secret)
{
	size_t n = strlen(name);
	*secret = n % 5 == 0;
	switch (n % 4) {
	case 0: return "12";
	case 1: return "1.6";
	case 2: return n % 3 ? "" : "abc def";
	default: return NULL; /* no value here */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *src = xstrndup((const char *)data, size);
	struct rb_error err = {0};
	struct pos at = {"fuzz", 1, 1};
	struct expr *e = expr_parse(src, at, &err);
	if (e) {
		const char *bad = NULL;
		expr_eval(e, lookup, NULL, &bad);
		expr_free(e);
	}
	rb_error_release(&err);
	free(src);
	return 0;
}
