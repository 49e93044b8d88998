#!/usr/bin/env bash
# Installs every Debian package diffmem's build, tests and demo need (idempotent), then configures
# and builds diffmem in Release under build/. Safe to rerun: installed packages are skipped and the
# build is incremental (ccache keeps objects across clean builds).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config ccache git
  libtorch-dev libopenblas0-pthread libopenblas-dev libdnnl-dev
  nlohmann-json3-dev libcli11-dev libstb-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist python3-numpy
  chromium  # the report browser test (tests/e2e/browser_test.sh) renders the HTML headless
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer with AddressSanitizer and UBSan
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

BUILD_DIR=${DIFFMEM_BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${DIFFMEM_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "setup: built $BUILD_DIR/diffmem"
