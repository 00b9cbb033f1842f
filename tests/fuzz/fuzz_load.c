/* tests/fuzz/fuzz_load.c — loading and checking a runbook: YAML parsing,
 * every key's checks, templates, expressions, patterns, modules (the
 * stdlib, found through RUNBOOK_PATH) and the name checks.  Whatever the
 * bytes, the loader returns a runbook or errors, never crashes or leaks. */
#include "fuzz.h"

#include "runbook.h"
#include "util.h"

#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* the stdlib of the source tree: make fuzz runs from the top */
	setenv("RUNBOOK_PATH", getenv("FUZZ_STDLIB") ? getenv("FUZZ_STDLIB") : "stdlib", 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file("runbook.yml", data, size);
	struct rb_error err = {0};
	struct runbook *rb = runbook_load(path, &err);
	if (rb)
		runbook_free(rb);
	rb_error_release(&err);
	return 0;
}
