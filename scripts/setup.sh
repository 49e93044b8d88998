#!/usr/bin/env bash
# Installs every Debian package diffmem's build, tests and demo need (idempotent), then configures
# and builds diffmem in Release under build/. Safe to rerun: installed packages are skipped and the
# build is incremental (ccache keeps objects across clean builds).
#
# Which LibTorch (DIFFMEM_TORCH):
#   debian (default)  Debian's libtorch-dev (1.13.1, CPU only), build dir build/
#   wheel             PyTorch's wheel (LibTorch 2.x with CUDA), build dir build-cuda/. The wheel
#                     comes from DIFFMEM_TORCH_PYTHON (a python whose torch to use) if set, else
#                     .venv-torch/ if it holds torch, else a python3 on PATH that imports torch
#                     (a GPU machine's own), else it is installed from PyPI into .venv-torch/
#                     (DIFFMEM_TORCH_SPEC, default torch==2.15.0: about 3 GB with its CUDA
#                     libraries; compiles and links without a GPU, the GPU tests then skip).
#   DIFFMEM_SETUP_BUILD=0 installs and configures only; DIFFMEM_SKIP_APT=1 leaves the Debian
#   packages alone (a machine without apt or network: scripts/gpu-check.sh with .gpu-deps/), and
#   DIFFMEM_EXTRA_PREFIX adds CMake prefixes (';'-separated) after LibTorch's.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_KIND=${DIFFMEM_TORCH:-debian}
case "$TORCH_KIND" in
  debian|wheel) ;;
  *) echo "setup: DIFFMEM_TORCH must be debian or wheel, got '$TORCH_KIND'" >&2; exit 2 ;;
esac

PACKAGES=(
  build-essential cmake pkg-config ccache git
  libopenblas0-pthread libopenblas-dev libdnnl-dev
  nlohmann-json3-dev libcli11-dev libstb-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist python3-numpy
  chromium  # the report browser test (tests/e2e/browser_test.sh) renders the HTML headless
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer with AddressSanitizer and UBSan
  libopenmpi-dev openmpi-bin  # ranks of one job (mpirun, srun); tests run mpirun -np 2 and 3
)
if [ "$TORCH_KIND" = debian ]; then PACKAGES+=(libtorch-dev); else PACKAGES+=(python3-venv); fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && [ "${DIFFMEM_SKIP_APT:-0}" != 1 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

TORCH_ARGS=()
if [ "$TORCH_KIND" = wheel ]; then
  has_torch() { "$1" -c 'import torch' >/dev/null 2>&1; }
  PY=${DIFFMEM_TORCH_PYTHON:-}
  if [ -n "$PY" ]; then
    has_torch "$PY" || { echo "setup: DIFFMEM_TORCH_PYTHON=$PY cannot import torch" >&2; exit 1; }
  elif [ -x .venv-torch/bin/python ] && has_torch .venv-torch/bin/python; then
    PY=.venv-torch/bin/python
  elif command -v python3 >/dev/null && has_torch python3; then
    PY=$(command -v python3)
  else
    SPEC=${DIFFMEM_TORCH_SPEC:-torch==2.15.0}
    echo "setup: installing $SPEC from PyPI into .venv-torch"
    /usr/bin/python3 -m venv .venv-torch
    .venv-torch/bin/pip install -q --disable-pip-version-check "$SPEC"
    PY=.venv-torch/bin/python
  fi
  PREFIX=$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null)
  echo "setup: LibTorch $("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>/dev/null) from $PY"
  TORCH_ARGS=(-DCMAKE_PREFIX_PATH="$PREFIX${DIFFMEM_EXTRA_PREFIX:+;$DIFFMEM_EXTRA_PREFIX}")
  # TorchConfig looks for libc10 with a plain find_library, which finds Debian's libc10.so.1.13
  # first where libtorch-dev is installed: a program linked to both aborts at start-up.
  TORCH_LIB=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)
  TORCH_ARGS+=(-Dc10_LIBRARY="$TORCH_LIB/libc10.so")
  # The wheel's libtorch_cuda.so names CUDA libraries (NCCL, cuDNN, cuSPARSELt, ...) that sit in
  # the nvidia-* wheels beside it; the linker must see them to link an executable (at run time
  # the wheel's own RUNPATH finds them).
  LINK_DIRS=$("$PY" -c 'import glob, os, torch; sp = os.path.dirname(os.path.dirname(torch.__file__)); print(":".join(sorted(glob.glob(os.path.join(sp, "nvidia", "*", "lib")))))' 2>/dev/null || true)
  [ -n "$LINK_DIRS" ] && TORCH_ARGS+=(-DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$LINK_DIRS")
fi

DEFAULT_BUILD=build
[ "$TORCH_KIND" = wheel ] && DEFAULT_BUILD=build-cuda
BUILD_DIR=${DIFFMEM_BUILD_DIR:-$DEFAULT_BUILD}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "${TORCH_ARGS[@]}" ${DIFFMEM_CMAKE_ARGS:-} >/dev/null
[ "${DIFFMEM_SETUP_BUILD:-1}" = 0 ] && { echo "setup: configured $BUILD_DIR"; exit 0; }
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "setup: built $BUILD_DIR/diffmem"
