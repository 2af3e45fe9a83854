#ifndef CALLFLOW_FUZZ_SUPPORT_H
#define CALLFLOW_FUZZ_SUPPORT_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt, clang >= 11). SwiftPM links an executable target's entry point
/// as `<Module>_main` (`--defsym main=<Module>_main`), which would replace libFuzzer's own `main`;
/// each target's `<Module>_main` therefore hands over to the driver itself.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
