#!/usr/bin/env bash
# The GPU check: run it whenever a machine with an NVIDIA GPU is at hand, and record its table in
# BENCHMARKS.md. Sized for under 8 minutes on one H100/H200 (16 cores).
#   1. builds the CUDA build (PyTorch's LibTorch 2.x with CUDA, build-cuda/, benches on;
#      incremental when a build is there; scripts/setup.sh with DIFFMEM_TORCH=wheel says where
#      the wheel comes from: a python3 that imports torch, or PyPI);
#   2. runs every *_CUDA test (each compares a stage on the GPU with its CPU result);
#   3. runs the GPU benches, each against its baseline in the same run:
#      unet_bench   ddpm-cifar10 U-Net training and DDIM sampling, diffmem vs PyTorch eager +
#                   diffusers (left out when the python has no diffusers);
#      gpu_knn_bench exact k-NN of 2^17 CIFAR-sized queries against 50,000 rows, diffmem vs
#                   torch::cdist + topk, and the GPU's f32 GEMM rate.
#   Writes $OUT/gpu-check.json and $OUT/gpu-check.md (OUT defaults to runs/gpu-check) and every
#   step's log beside them. Without a GPU it builds, the CUDA tests skip, the benches are left out
#   and the table says so; the exit status is non-zero only when a step fails.
#   QUICK=1 shrinks the benches (a smoke run of the script itself).
# On a machine without network or Debian's -dev packages (the lent device machines), first run
# scripts/gpu-bundle.sh here and carry .gpu-deps/ along: the script unpacks it under /tmp and
# builds against it, leaving apt alone.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-check}
B=${DIFFMEM_BUILD_DIR:-build-cuda}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
say() { printf '== %s (%s)\n' "$*" "$(date +%T)"; }
T0=$(date +%s)

BUILD_ENV=()
CMAKE_ARGS="-DDIFFMEM_BUILD_BENCH=ON ${DIFFMEM_CMAKE_ARGS:-}"
if ls .gpu-deps/*.deb > /dev/null 2>&1; then
  DEPS=/tmp/diffmem-gpu-deps
  rm -rf "$DEPS" && mkdir -p "$DEPS"
  for f in .gpu-deps/*.deb; do dpkg-deb -x "$f" "$DEPS"; done
  # The .pc files name /usr; point them (stb's) at the private prefix.
  find "$DEPS" -name '*.pc' -exec sed -i "s|^prefix=.*|prefix=$DEPS/usr|" {} +
  export PKG_CONFIG_PATH="$DEPS/usr/lib/x86_64-linux-gnu/pkgconfig:$DEPS/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  ZLIB_SO=$(ls /lib/x86_64-linux-gnu/libz.so.1 /usr/lib/x86_64-linux-gnu/libz.so.1 2>/dev/null | head -1)
  BUILD_ENV=(DIFFMEM_SKIP_APT=1 "DIFFMEM_EXTRA_PREFIX=$DEPS/usr")
  CMAKE_ARGS+=" -DZLIB_INCLUDE_DIR=$DEPS/usr/include -DZLIB_LIBRARY=$ZLIB_SO"
  say "build dependencies from .gpu-deps/ unpacked into $DEPS"
fi

say "build $B"
t=$(date +%s)
env "${BUILD_ENV[@]}" DIFFMEM_TORCH=wheel DIFFMEM_BUILD_DIR="$B" DIFFMEM_CMAKE_ARGS="$CMAKE_ARGS" \
  bash scripts/setup.sh > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; echo "gpu-check: the CUDA build failed (log: $OUT/build.log)" >&2; exit 1; }
BUILD_S=$(( $(date +%s) - t ))
grep '^setup: LibTorch' "$OUT/build.log" || true

GPU=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1 || true)
HAVE_GPU=0
"$B/bench/gpu_knn_bench" --device cuda --queries 4 --base 16 --dim 8 --k 2 --gemm 16 > /dev/null 2>&1 && HAVE_GPU=1
say "GPU: ${GPU:-none found} (LibTorch sees CUDA: $HAVE_GPU)"

say "*_CUDA tests"
t=$(date +%s)
TESTS_RC=0
ctest --test-dir "$B" -R '_CUDA$' --output-on-failure -j 4 > "$OUT/cuda-tests.log" 2>&1 || TESTS_RC=$?
TESTS_S=$(( $(date +%s) - t ))
tail -3 "$OUT/cuda-tests.log"

UNET_RC=skipped KNN_RC=skipped
if [ "$HAVE_GPU" = 1 ]; then
  PY=$(sed -n 's/^setup: LibTorch .* from //p' "$OUT/build.log" | tail -1)
  PYFLAGS=(--python "${PY:-python3}")
  "${PY:-python3}" -c 'import diffusers' 2>/dev/null || PYFLAGS=(--no-python)
  if [ "${QUICK:-0}" = 1 ]; then
    UNET=(--preset tiny --train-batch 16 --train-steps 4 --sample-n 16 --sample-batch 16 --ddim-steps 2 --rounds 1)
    KNN=(--queries 4096 --base 4096 --gemm 2048 --baseline-queries 1024)
  else
    UNET=(--preset ddpm-cifar10 --train-batch 128 --warm 5 --train-steps 30 --sample-n 1024 --sample-batch 512
          --ddim-steps 10 --rounds 2)
    KNN=(--queries 131072 --base 50000 --dim 3072 --k 10)
  fi
  say "unet_bench ${UNET[*]} ${PYFLAGS[*]}"
  UNET_RC=0
  timeout 240 "$B/bench/unet_bench" --device cuda "${UNET[@]}" "${PYFLAGS[@]}" --json "$OUT/unet.json" \
    > "$OUT/unet.log" 2>&1 || UNET_RC=$?
  tail -6 "$OUT/unet.log"
  say "gpu_knn_bench ${KNN[*]}"
  KNN_RC=0
  timeout 240 "$B/bench/gpu_knn_bench" --device cuda "${KNN[@]}" --json "$OUT/knn.json" > "$OUT/knn.log" 2>&1 || KNN_RC=$?
  tail -5 "$OUT/knn.log"
fi

/usr/bin/env python3 - "$OUT" "$GPU" "$HAVE_GPU" "$BUILD_S" "$TESTS_RC" "$TESTS_S" "$UNET_RC" "$KNN_RC" \
  "$(( $(date +%s) - T0 ))" <<'PY'
import json, os, re, sys
out, gpu, have_gpu, build_s, tests_rc, tests_s, unet_rc, knn_rc, total_s = sys.argv[1:]
log = open(os.path.join(out, "cuda-tests.log")).read()
status = {}
for name, word in re.findall(r"Test\s+#\d+: (\S+) \.+\s*(\*{0,3}\w+)", log):
    status[name] = word.strip("*")
libtorch = next((l for l in open(os.path.join(out, "build.log")) if l.startswith("setup: LibTorch")), "").strip()
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else None
res = {"gpu": gpu or None, "cuda_usable": have_gpu == "1", "libtorch": libtorch[len("setup: LibTorch "):] or None,
       "build_s": int(build_s), "total_s": int(total_s),
       "cuda_tests": {"rc": int(tests_rc), "seconds": int(tests_s), "status": status},
       "unet": load("unet.json"), "knn": load("knn.json"), "unet_rc": unet_rc, "knn_rc": knn_rc}
json.dump(res, open(os.path.join(out, "gpu-check.json"), "w"), indent=1)
count = lambda w: sum(1 for v in status.values() if v == w)
md = [f"GPU: {gpu or 'none found'}; LibTorch {res['libtorch']}; CUDA usable: {res['cuda_usable']}; "
      f"build {build_s} s, whole check {total_s} s", "",
      f"*_CUDA tests: {len(status)} run, {count('Passed')} passed, {count('Skipped')} skipped, "
      f"{count('Failed')} failed ({tests_s} s)", "",
      "| bench | diffmem | baseline | ratio |", "|---|---:|---:|---:|"]
u, k = res["unet"], res["knn"]
if u:
    b = u.get("baseline") or {}
    for part in ("train", "sample"):
        md.append(f"| {u['preset']} {part} img/s (batch {u[part + '_batch']}) | {u[part + '_images_per_s']:.1f} | "
                  + (f"{b[part + '_images_per_s']:.1f} ({b['name']}) | {u['ratio_' + part]:.2f}x |" if b else "no diffusers | - |"))
else:
    md.append(f"| unet_bench | {unet_rc} | | |")
if k:
    md.append(f"| k-NN {k['queries']} × {k['base']} × {k['dim']}, k {k['k']}, queries/s ({k['arithmetic']}) | "
              f"{k['queries'] / k['diffmem_s']:.0f} | {k['baseline_queries'] / k['baseline_s']:.0f} ({k['baseline']}) | "
              f"{k['speedup']:.2f}x |")
    md.append(f"| f32 GEMM TFLOP/s; the search's GEMM work | {k['search_tflops']:.1f} | {k['gemm_f32_tflops']:.1f} | "
              f"{k['search_tflops'] / k['gemm_f32_tflops']:.2f} |")
else:
    md.append(f"| gpu_knn_bench | {knn_rc} | | |")
open(os.path.join(out, "gpu-check.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
say "wrote $OUT/gpu-check.json and $OUT/gpu-check.md"
[ "$TESTS_RC" = 0 ] && [ "$UNET_RC" = 0 -o "$UNET_RC" = skipped ] && [ "$KNN_RC" = 0 -o "$KNN_RC" = skipped ]
