#!/usr/bin/env bash
# The test suite under AddressSanitizer and UndefinedBehaviorSanitizer: builds the library, the CLI
# and the tests in build-asan with -fsanitize=address,undefined (-O1, ccache), then runs every test
# but those listed in SKIP below — the CUDA tests (no GPU here), the fuzzers (already sanitized,
# scripts/fuzz.sh), the kill trials (processes killed on purpose), the end-to-end experiments
# that train for minutes (their code paths run in the smaller tests) and the out-of-memory test
# (ulimit -v) — with any sanitizer report (leaks included) an error. Exit status: ctest's.
#   scripts/sanitize.sh [ctest args ...]     (DIFFMEM_ASAN_BUILD_DIR, default build-asan; JOBS)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${DIFFMEM_ASAN_BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
  -DDIFFMEM_SANITIZE=address,undefined >/dev/null
cmake --build "$BUILD" -j "$JOBS"
# The runs of more than a minute (MemorizationE2E 330 s, AuditTextDirection 170 s, three
# AuditTextE2E runs of 70-130 s here) repeat code the shorter audit tests run. The out-of-memory
# test caps the address space (ulimit -v), where ASan cannot reserve its shadow memory.
SKIP='_CUDA$|^FuzzReaders$|^KillTrials$|^MemorizationE2E\.|^AuditTextDirection\.|^AuditTextE2E\.(ShadowPipelinesGiveLira|RerunSkipsEveryStage|AGivenPipelineWithItsOwnPromptsFile)|^ReliabilitySample\.OutOfMemorySaysSoOnOneLine$'
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$BUILD"
ctest --output-on-failure -j "$JOBS" -E "$SKIP" "$@"
