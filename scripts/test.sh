#!/usr/bin/env bash
# Set-up (packages + build), then the test suite: every test but the long runs below (what CI
# runs), or every test with --all.
#   scripts/test.sh [--all] [ctest args ...]      (DIFFMEM_BUILD_DIR, default build; JOBS)
# The long runs are experiments that train until a model memorizes, and the kill trials repeated.
# On a 2-core AVX2 machine (AMD EPYC, 2026-12-06/07): MemorizationE2E 509 s, AuditTextDirection
# over 900 s, the text-to-image audit with shadow models 353 s, the kill trials 308 s at two per
# stage (three: by estimate 450 s). Their code paths run in the shorter tests (the audit tests,
# KillTrials once per stage).
set -euo pipefail
cd "$(dirname "$0")/.."
LONG='^(MemorizationE2E\.|AuditTextDirection\.|AuditTextE2E\.ShadowPipelinesGiveLira$|KillTrialsLong$)'
SELECT=(-E "$LONG")
if [ "${1:-}" = "--all" ]; then
  SELECT=()
  shift
fi
bash scripts/setup.sh
BUILD_DIR=${DIFFMEM_BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest --output-on-failure -j "${JOBS:-$(nproc)}" "${SELECT[@]}" "$@"
