// What the fuzz targets need from C: libFuzzer's driver, and the output check, in C so that it
// is built without the fuzzer's coverage instrumentation (the Swift modules get it from
// -Xswiftc -sanitize=fuzzer; C targets get no sanitizer flags): checking every event of every
// execution then costs little, and adds no coverage features of its own.
#ifndef CFUZZ_H
#define CFUZZ_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's main loop (in the libFuzzer runtime that -sanitize=fuzzer links): the targets
/// call it from their own `main`, which SwiftPM's executables always define.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*testOneInput)(const uint8_t *data, size_t size));

/// NULL when `bytes[0..<count]` is one JSON object (RFC 8259) whose strings are valid UTF-8 with
/// control characters escaped, and no object of which has a key twice; else what is wrong,
/// with its offset in `*offset`.
const char *CFuzz_jsonObjectProblem(const uint8_t *bytes, size_t count, size_t *offset);

#endif
