#!/usr/bin/env bash
# Run here (a Debian 12 machine with a network) before a GPU check on a machine that reaches no
# network (the lent device machines: CUDA, PyTorch, CMake and a compiler, but no Debian -dev
# packages and no apt). Downloads the few Debian packages the build needs beyond those — the
# header-only JSON, CLI and image libraries, GoogleTest, zlib's headers — as .deb files into
# .gpu-deps/ (ignored by git, 2.3 MB), to be carried along; scripts/gpu-check.sh unpacks them into
# a private prefix under /tmp (never into /) and builds against them.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(nlohmann-json3-dev libcli11-dev libstb-dev zlib1g-dev libgtest-dev libgmock-dev)
rm -rf .gpu-deps.tmp && mkdir -p .gpu-deps.tmp
(cd .gpu-deps.tmp && apt-get download "${PKGS[@]}") || { echo "gpu-bundle: apt-get download failed (apt-get update first?)" >&2; exit 1; }
rm -rf .gpu-deps && mv .gpu-deps.tmp .gpu-deps
ls -l .gpu-deps
