#!/usr/bin/env bash
# Tests under AddressSanitizer and UndefinedBehaviorSanitizer, built in build-asan with
# -fsanitize=address,undefined (-O1, unity build, ccache); any sanitizer report (leaks included)
# is an error. Two scopes:
#   scripts/sanitize.sh            the layers with hand-written memory code (core, io, dist with
#                                  its byte-buffer collectives (one process, then its
#                                  CommunicatorJob tests under mpirun -np 3, Open MPI's own
#                                  allocations suppressed: scripts/lsan-openmpi.supp), data,
#                                  search with its SIMD and integer k-NN kernels, model with its
#                                  GroupNorm, attention and softmax kernels, metrics, report): their
#                                  test programs only, each run whole (what CI runs; the readers are
#                                  also fuzzed under ASan by the FuzzReaders test)
#   scripts/sanitize.sh --all [ctest args ...]
#                                  the library, the CLI and every test but those listed in SKIP
#                                  below: the CUDA tests (no GPU here), the fuzzers (already
#                                  sanitized), the kill trials (processes killed on purpose), the
#                                  experiments that train for minutes and the out-of-memory test
#                                  (ulimit -v, where ASan cannot reserve its shadow memory)
# (DIFFMEM_ASAN_BUILD_DIR, default build-asan; JOBS.) Exit status: ctest's with --all, else 1 when
# any program failed.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${DIFFMEM_ASAN_BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
  -DDIFFMEM_SANITIZE=address,undefined >/dev/null
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ "${1:-}" = "--all" ]; then
  shift
  cmake --build "$BUILD" -j "$JOBS"
  SKIP='_CUDA$|^FuzzReaders$|^KillTrials|^MemorizationE2E\.|^AuditTextDirection\.|^AuditTextE2E\.(ShadowPipelinesGiveLira|RerunSkipsEveryStage|AGivenPipelineWithItsOwnPromptsFile)|^ReliabilitySample\.OutOfMemorySaysSoOnOneLine$'
  cd "$BUILD"
  exec ctest --output-on-failure -j "$JOBS" -E "$SKIP" "$@"
fi

SUPP=$(realpath scripts/lsan-openmpi.supp)
LAYERS=(core io dist data search model metrics report)
TARGETS=()
for l in "${LAYERS[@]}"; do TARGETS+=("test_$l"); done
cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}"
cd "$BUILD/tests"
# Fixtures are found through DIFFMEM_SOURCE_DIR; the CUDA tests skip themselves without a GPU.
# test_model leaves out the full-size Stable Diffusion and Inception networks (seconds of ATen
# convolutions in Release, many minutes under ASan, and no code of ours in their inner loops).
filter() { [ "$1" = test_model ] && echo "-SdShapes.*:InceptionV3.*:InceptionFeatures.*" || echo "*"; }
pids=()
for t in "${TARGETS[@]}"; do
  ( "./$t" --gtest_brief=1 "--gtest_filter=$(filter "$t")" >"$t.sanitize.log" 2>&1 && echo "sanitize: $t passed" \
      || { echo "sanitize: $t FAILED (build-asan/tests/$t.sanitize.log):"; tail -40 "$t.sanitize.log"; exit 1; } ) &
  pids+=($!)
  # At most JOBS programs at once.
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
# The collectives for real: test_dist on three ranks, every rank's leaks checked but Open MPI's
# (full stacks: its plugins are unloaded before LeakSanitizer looks, and a fast unwind stops there).
if command -v mpirun >/dev/null; then
  if LSAN_OPTIONS="suppressions=$SUPP:fast_unwind_on_malloc=0" \
       mpirun --oversubscribe --allow-run-as-root --bind-to none -x ASAN_OPTIONS -x UBSAN_OPTIONS -x LSAN_OPTIONS \
         -np 3 ./test_dist --gtest_brief=1 --gtest_color=no >test_dist.mpi.sanitize.log 2>&1 \
     && [ "$(grep -c '^\[  PASSED  \]' test_dist.mpi.sanitize.log)" -eq 3 ]; then
    echo "sanitize: test_dist under mpirun -np 3 passed"
  else
    echo "sanitize: test_dist under mpirun -np 3 FAILED (build-asan/tests/test_dist.mpi.sanitize.log):"
    tail -40 test_dist.mpi.sanitize.log
    status=1
  fi
fi
exit $status
