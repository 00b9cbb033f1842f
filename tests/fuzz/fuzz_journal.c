/* tests/fuzz/fuzz_journal.c — journal replay: what resume, status and
 * rollback read.  A torn last line is dropped, any other damage is an
 * error; never a crash. */
#include "fuzz.h"

#include "journal.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file("journal.jsonl", data, size);
	struct run_state rs = {0};
	struct rb_error err = {0};
	journal_replay(path, &rs, &err);
	run_state_release(&rs);
	rb_error_release(&err);
	return 0;
}
