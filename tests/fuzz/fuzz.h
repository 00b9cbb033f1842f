/* tests/fuzz/fuzz.h — what the libFuzzer targets share: the input as a
 * file (the loaders read paths), in a folder of the process's own under
 * /dev/shm (else $TMPDIR), made once. */
#ifndef RB_FUZZ_H
#define RB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Writes data to FOLDER/name and returns the path (static storage). */
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
