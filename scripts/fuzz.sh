#!/usr/bin/env bash
# Fuzzes every reader of untrusted files with libFuzzer (clang, AddressSanitizer and
# UndefinedBehaviorSanitizer): npy, safetensors, IDX (raw and gzip), CIFAR batches, PNG/JPEG, the
# JSON configs (a UNet's config.json, train_options.json, scheduler_config.json), manifests (a data
# set's manifest.json, a run's run.json and stage markers), prompt files (CSV, JSONL) and CLIP
# tokenizer files. Each target starts from its committed seeds (fuzz/corpus/TARGET) and runs
# SECONDS; one line per target with its executions and findings; exit 1 on any crash or leak
# (the input is kept under $FUZZ_BUILD/artifacts/TARGET/).
#   scripts/fuzz.sh [SECONDS=20] [TARGET ...]      (FUZZ_BUILD, default build-fuzz)
# FUZZ_MAX_LEN caps an input's bytes (default 65536). FUZZ_RUNS=K runs K inputs per target from
# seed 1 instead (what CTest does: the same inputs on every machine, so CI does not turn red by
# the luck of a timed run).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-20}
shift || true
ALL=(npy safetensors idx cifar image json_configs scheduler_config manifest prompts tokenizer)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
OUT=${FUZZ_BUILD:-build-fuzz}
mkdir -p "$OUT/obj"
CXX=${FUZZ_CXX:-clang++}
command -v ccache >/dev/null && CXX="ccache $CXX"
FLAGS=(-std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
       -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
       -Iinclude -Isrc/io -I/usr/include/stb)
# The torch-free sources the readers need.
SRCS=(src/core/error.cpp src/core/atomic_file.cpp src/core/log.cpp src/core/ranges.cpp src/core/format.cpp
      src/io/array.cpp src/io/fields.cpp src/io/io_util.cpp src/io/json.cpp src/io/npy.cpp
      src/io/safetensors.cpp src/io/idx.cpp src/io/cifar.cpp src/io/image_file.cpp src/io/csv.cpp
      src/model/unet2d_config.cpp src/train/train_options.cpp src/attack/blackbox_prompts.cpp
      src/model/clip_tokenizer.cpp src/model/clip_tokenizer_encode.cpp src/model/clip_tokenizer_ftfy.cpp
      src/model/clip_tokenizer_tables_ftfy.cpp src/model/clip_tokenizer_tables_unicode.cpp
      src/model/clip_tokenizer_text.cpp src/model/clip_tokenizer_train.cpp
      src/diffusion/scheduler_config.cpp src/core/rng.cpp src/core/run_lock.cpp src/data/dataset.cpp
      src/data/captions.cpp src/data/subset.cpp src/report/run_dir.cpp
      src/io/stb_impl.cpp)
OBJS=()
for s in "${SRCS[@]}"; do
  o="$OUT/obj/$(echo "$s" | tr / _).o"
  if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ -n "$(find include -newer "$o" -name '*.h' -print -quit)" ]; then
    extra=()
    # stb keeps ASan and UBSan's bounds check (its out-of-range Huffman table write was found that
    # way) but not UBSan's arithmetic checks: its JPEG bit reader shifts by 32 or more on corrupt
    # data and it memcpys zero bytes from a null pointer (found by the fuzzer; x86 masks the shift
    # count, so garbage pixels result, never a memory error, which ASan would still report).
    [ "$s" = src/io/stb_impl.cpp ] && extra=(-fno-sanitize=undefined -fsanitize=bounds)
    $CXX "${FLAGS[@]}" "${extra[@]}" -fsanitize=fuzzer-no-link -c "$s" -o "$o"
  fi
  OBJS+=("$o")
done
failed=0
for t in "${TARGETS[@]}"; do
  bin="$OUT/fuzz_$t"
  if [ ! -f "$bin" ] || [ fuzz/fuzz_readers.cpp -nt "$bin" ] || [ -n "$(find "$OUT/obj" -newer "$bin" -print -quit)" ]; then
    $CXX "${FLAGS[@]}" -fsanitize=fuzzer "-DDIFFMEM_FUZZ_TARGET=\"$t\"" fuzz/fuzz_readers.cpp "${OBJS[@]}" \
      -lz -o "$bin"
  fi
  work="$OUT/corpus/$t"
  # A fixed number of runs (CTest) starts from the committed seeds alone, so that it is the same
  # run on every machine: a corpus grown by earlier timed runs made the image target 3× slower.
  if [ -n "${FUZZ_RUNS:-}" ]; then work="$OUT/corpus-fixed/$t"; rm -rf "$work"; fi
  art="$OUT/artifacts/$t/"
  rm -rf "$art"
  mkdir -p "$work" "$art"
  log="$OUT/$t.log"
  set +e
  if [ -n "${FUZZ_RUNS:-}" ]; then budget=(-runs="$FUZZ_RUNS" -seed=1); else budget=(-max_total_time="$SECONDS_EACH"); fi
  ASAN_OPTIONS=detect_leaks=1 "$bin" "${budget[@]}" -print_final_stats=1 -rss_limit_mb=2048 \
    -max_len="${FUZZ_MAX_LEN:-65536}" -timeout=10 -artifact_prefix="$art" "$work" "fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  crashes=$(find "$art" -type f | wc -l)
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' || echo "$SECONDS_EACH")
  echo "$t: $runs executions in ${secs:-?}s, $crashes crash/leak/timeout inputs (rc $rc)"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    grep -m 5 -E "ERROR|SUMMARY|runtime error" "$log" || true
  fi
done
exit $failed
