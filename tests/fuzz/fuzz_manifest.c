/* tests/fuzz/fuzz_manifest.c — an archive's manifest, read as a stream
 * (head, then entry by entry) as verify, list and extract read it. */
#include "fuzz.h"

#include "manifest.h"
#include "util.h"

#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file("a.manifest.json", data, size);
	char *why = NULL;
	struct mf_reader *r = mf_open(path, &why);
	if (r) {
		struct mf_entry e;
		int rc;
		while ((rc = mf_next(r, &e, &why)) == 1)
			mf_entry_release(&e);
		mf_close(r);
	}
	free(why);
	return 0;
}
