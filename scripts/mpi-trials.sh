#!/usr/bin/env bash
# MPI ranks against one process: runs sample, extract (and with the training set split across the
# ranks, --split-train), train --models, train-gan --models, mia (LiRA with a t-sweep; and on the tiny text-to-image
# pipeline), inpaint,
# an audit with shadow models, and on the tiny Stable Diffusion pipeline screen and
# extract-blackbox (screened; and per prompt), plus extract-blackbox over PNG folders, once as one
# process, then under `mpirun -np 2` and `-np 3`, and
# compares every result file with the one-process run, byte for byte (JSON without its "timing"
# objects; see scripts/lib/trials.sh). Then each job SIGKILLed (mpirun and its ranks) once it has
# written its first files and resumed with another rank count, compared the same way; the
# communicator's own tests on three ranks; and the bad launches: ranks given different command
# lines, and a rank that cannot read the data, each stopping every rank with one error line naming
# the rank, no results written. Prints one line per check and exits non-zero unless every one
# passed.
#   scripts/mpi-trials.sh [WORK_DIR]   (DIFFMEM=path/to/diffmem, default build/diffmem; TEST_DIST=
#        path/to/test_dist: its CommunicatorJob tests on three ranks too)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${1:-}" ]; then WORK=$1; else WORK=$(mktemp -d /tmp/diffmem-mpi.XXXXXX); trap 'rm -rf "$WORK"' EXIT; fi
BIN=$(realpath "${DIFFMEM:-build/diffmem}")
PY=${PYTHON:-python3}
mkdir -p "$WORK"
command -v mpirun >/dev/null || { echo "mpi-trials: no mpirun (Debian: openmpi-bin)" >&2; exit 1; }
# --oversubscribe: more ranks than this machine's cores; root runs CI's containers.
MPIRUN=(mpirun --oversubscribe --allow-run-as-root --bind-to none)
D() { "$BIN" --quiet --threads 1 "$@"; }
M() { local n=$1; shift; "${MPIRUN[@]}" -np "$n" "$BIN" --quiet --threads 1 "$@"; }

. scripts/lib/trials.sh
make_fixture "$WORK"
D train --data "$WORK/data" --out "$WORK/model" --preset tiny --steps 20 --batch 8 --warmup 5 --seed 0 >/dev/null
SD=$(realpath tests/reference/model/sd_tiny_v1)
{ echo "prompt,memorized"; for i in $(seq 0 15); do echo "prompt number $i,$((i % 3 == 0))"; done; } >"$WORK/t2i.csv"
# A captioned data set for the tiny SD pipeline (8 random 32x32 colour images) and a copy of the
# pipeline whose members.npy calls the first four members: text-to-image membership inference.
"$PY" - "$WORK/t2i-data" <<'PY'
import json, os, random, struct, sys
d = sys.argv[1]
if not os.path.exists(os.path.join(d, "manifest.json")):
    os.makedirs(d, exist_ok=True)
    def npy(name, descr, shape, data):
        header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, ", ".join(map(str, shape)) + ("," if len(shape) == 1 else ""))
        header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
        open(os.path.join(d, name), "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data)
    rng = random.Random(3)
    npy("images.npy", "|u1", (8, 32, 32, 3), bytes(rng.randrange(256) for _ in range(8 * 32 * 32 * 3)))
    npy("labels.npy", "<i8", (8,), b"".join(struct.pack("<q", -1) for _ in range(8)))
    npy("ids.npy", "<i8", (8,), b"".join(struct.pack("<q", 100 + i) for i in range(8)))
    open(os.path.join(d, "captions.jsonl"), "w").write("".join(json.dumps({"caption": "picture number %d" % i}) + "\n" for i in range(8)))
    json.dump({"source": "mpi-trials", "shape": [8, 32, 32, 3], "count": 8}, open(os.path.join(d, "manifest.json"), "w"))
PY
rm -rf "$WORK/sd-target"
cp -r "$SD" "$WORK/sd-target"
"$PY" -c 'import struct, sys; h = "{\x27descr\x27: \x27|b1\x27, \x27fortran_order\x27: False, \x27shape\x27: (8,), }"; h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"; open(sys.argv[1], "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + bytes([1, 1, 1, 1, 0, 0, 0, 0]))' "$WORK/sd-target/members.npy"

# STAGE and its command line with OUT standing for the output folder.
stages=(
  "sample|sample --model $WORK/model --out OUT --n 44 --shard-size 4 --sampler ddim --steps 4 --seed 0"
  "extract|extract --generations $WORK/ref-sample --train $WORK/data --out OUT --delta 0.5 --n-calibration 4"
  "extract-split|extract --generations $WORK/ref-sample --train $WORK/data --out OUT --delta 0.5 --n-calibration 4 --split-train"
  "train-gan-models|train-gan --data $WORK/data --out OUT --models 3 --steps 300 --batch 8 --width 8 --z-dim 8 --checkpoint-every 100 --seed 0"
  "train-models|train --data $WORK/data --out OUT --preset tiny --steps 12 --batch 8 --warmup 2 --checkpoint-every 4 --models 3 --seed 0"
  "mia|mia lira --target $WORK/ref-train-models/model-000 --shadows $WORK/ref-train-models --data $WORK/data --out OUT --draws 4 --t-sweep 100,400"
  "mia-text|mia secmi --target $WORK/sd-target --data $WORK/t2i-data --out OUT --t 20 --secmi-step 10 --batch 8"
  "screen|screen --model $SD --prompts $WORK/t2i.csv --per-prompt 3 --steps 4 --first-steps 2 --low-from-end 2 --batch 4 --seed 0 --out OUT"
  "blackbox-screened|extract-blackbox --model $SD --prompts $WORK/t2i.csv --per-prompt 4 --steps 4 --batch 8 --screen-top 10 --min-clique 2 --set analysis.edge_threshold=10 --out OUT"
  "blackbox-prompts|extract-blackbox --model $SD --prompts $WORK/t2i.csv --per-prompt 4 --steps 4 --batch 4 --min-clique 2 --set analysis.edge_threshold=10 --out OUT"
  "blackbox-folders|extract-blackbox --prompts $WORK/prompts.csv --images $WORK/groups --min-clique 4 --out OUT"
  "inpaint|inpaint --model $WORK/model --data $WORK/data --out OUT --n-targets 8 --candidates 2 --steps 2 --keep 2 --batch 4 --seed 0"
  "audit|audit --run OUT --data $WORK/data --preset tiny --steps 20 --batch 8 --shadows 2 --samples 24 --sampler ddim --sample-steps 4 --draws 2 --inpaint-targets 2 --candidates 2 --inpaint-steps 2 --seed 0 --set train.warmup_steps=5 --set train.checkpoint_every=10"
)
failed=0
pass() { echo "$1: passed"; }
miss() { echo "$1: FAILED" >&2; failed=1; }
declare -A CMD
for entry in "${stages[@]}"; do
  stage=${entry%%|*}
  cmd=${entry#*|}
  CMD[$stage]=$cmd
  ref="$WORK/ref-$stage"
  D ${cmd//OUT/$ref} >/dev/null
  for np in 2 3; do
    out="$WORK/$stage-np$np"
    if M "$np" ${cmd//OUT/$out} >/dev/null && compare "$ref" "$out"; then pass "$stage -np $np"; else miss "$stage -np $np"; fi
    rm -rf "$out"
  done
done

# Killed with one rank count, resumed with another: the same bytes. The job is SIGKILLed (mpirun
# and its ranks) as soon as two of its MARKS files are written, and the trial counts only if it was
# still running then: killed mid-stage, not before it began (extract's shards are fast enough that
# all of them may be written and the kill land in rank 0's merge). extract-blackbox's trial makes
# one prompt per pipeline call (--batch = --per-prompt): a resumed run of several prompts per call
# batches the prompts left differently, and a batch's images differ from another's in float
# rounding, with one process as with many.
for trial in "sample 3 2 images-*.npy" "extract 2 3 shards/matches-*.csv" "extract-split 3 2 shards/matches-*.csv" "inpaint 2 3 targets/*.json" "train-models 3 2 model-*/*.safetensors" "train-gan-models 2 3 model-*/*.safetensors" \
             "mia 2 3 cache/*.npy" "audit 3 2 stages/*.json" "blackbox-prompts 3 2 groups/*.json"; do
  read -r stage first second marks <<<"$trial"
  out="$WORK/$stage-killed"
  rm -rf "$out"
  cmd=${CMD[$stage]//OUT/$out}
  all=$(cd "$WORK/ref-$stage" && compgen -G "$marks" | wc -l)
  M "$first" $cmd >/dev/null 2>&1 &
  pid=$!
  n=0
  for _ in $(seq 1 2000); do  # up to 100 s
    n=$( (cd "$out" 2>/dev/null && compgen -G "$marks" || true) | wc -l)
    [ "$n" -ge 2 ] || ! kill -0 "$pid" 2>/dev/null && break
    sleep 0.05
  done
  alive=0
  kill -0 "$pid" 2>/dev/null && alive=1  # still running: killed mid-stage
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # The ranks mpirun leaves behind (their command lines name the output folder), gone before the resume.
  for _ in $(seq 1 100); do
    pkill -9 -f -- "$out" 2>/dev/null || break
    sleep 0.1
  done
  n=$( (cd "$out" 2>/dev/null && compgen -G "$marks" || true) | wc -l)
  what="$stage killed at -np $first with $n of $all $marks written, resumed at -np $second"
  if [ "$alive" = 1 ] && M "$second" $cmd >/dev/null && compare "$WORK/ref-$stage" "$out" resumed; then pass "$what"; else miss "$what"; fi
  rm -rf "$out"
done

# extract-blackbox running an external generator per (prompt, seed): the ranks split the runs.
cat >"$WORK/gen.py" <<'PY'
import random, struct, sys, zlib
prompt, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = random.Random(prompt if seed < 3 else prompt + str(seed))  # seeds 0-2 of a prompt: one picture
pix = bytes(rng.randrange(256) for _ in range(256))
raw = b"".join(b"\x00" + pix[r * 16:(r + 1) * 16] for r in range(16))
chunk = lambda t, b: struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
open(out, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 0, 0, 0, 0))
                      + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
gen() { "$@" extract-blackbox --prompts "$WORK/prompts.csv" --generator-cmd "$PY $WORK/gen.py {prompt} {seed} {out}" \
          --per-prompt 6 --jobs 2 --min-clique 3 --out "$out" >/dev/null; }
out="$WORK/ref-blackbox-generator"; gen D
for np in 2 3; do
  out="$WORK/blackbox-generator-np$np"
  if gen M "$np" && compare "$WORK/ref-blackbox-generator" "$out"; then pass "blackbox-generator -np $np"; else miss "blackbox-generator -np $np"; fi
done

# The communicator's own collectives, on every rank of three (both CommunicatorJob tests passed on
# every rank: none skipped).
if [ -n "${TEST_DIST:-}" ]; then
  if "${MPIRUN[@]}" -np 3 "$TEST_DIST" --gtest_brief=1 --gtest_color=no --gtest_filter='CommunicatorJob.*' >"$WORK/test_dist.log" 2>&1 \
      && [ "$(grep -c '^\[  PASSED  \] 2 tests' "$WORK/test_dist.log")" -eq 3 ]; then
    pass "test_dist CommunicatorJob.* on 3 ranks"
  else
    miss "test_dist CommunicatorJob.* on 3 ranks"
    tail -20 "$WORK/test_dist.log" >&2
  fi
fi

# Bad launches: one error line naming the rank, a non-zero exit, no results.
expect_error() {  # NAME PATTERN OUT -- mpirun arguments
  local name=$1 pattern=$2 out=$3
  shift 4
  local err="$WORK/err.txt"
  if "${MPIRUN[@]}" "$@" >/dev/null 2>"$err"; then miss "$name (exit 0)"; return; fi
  local lines
  lines=$(grep -c "^diffmem: error:" "$err" || true)
  if [ "$lines" -eq 1 ] && grep -q "$pattern" "$err" && [ ! -e "$out/matches.csv" ] && [ ! -e "$out/manifest.json" ]; then
    pass "$name"
  else
    miss "$name"
    sed 's/^/  /' "$err" >&2
  fi
}
out="$WORK/bad-options"
expect_error "ranks with different options" "rank 1: the command line differs from rank 0's" "$out" -- \
  -np 1 "$BIN" --quiet --threads 1 sample --model "$WORK/model" --out "$out" --n 8 --seed 0 : \
  -np 1 "$BIN" --quiet --threads 1 sample --model "$WORK/model" --out "$out" --n 8 --seed 1
out="$WORK/bad-single-group"
expect_error "extract-blackbox on one group" "\-\-shards: expected one process for a single group" "$out" -- \
  -np 2 "$BIN" --quiet --threads 1 extract-blackbox --shards "$WORK/ref-sample" --out "$out"
out="$WORK/bad-quality"
expect_error "a command that does not split" "quality: expected one process" "$out" -- \
  -np 2 "$BIN" --quiet --threads 1 quality --generations "$WORK/ref-sample" --reference "$WORK/data" --out "$out"
# The same command line in two folders: data/ exists beside rank 0 only.
mkdir -p "$WORK/cwd0" "$WORK/cwd1"
ln -sfn "$WORK/data" "$WORK/cwd0/data"
out="$WORK/bad-data"
expect_error "a rank that cannot read the data" "rank 1: .*data" "$out" -- \
  -np 1 -wdir "$WORK/cwd0" "$BIN" --quiet --threads 1 extract --generations "$WORK/ref-sample" --train data --out "$out" : \
  -np 1 -wdir "$WORK/cwd1" "$BIN" --quiet --threads 1 extract --generations "$WORK/ref-sample" --train data --out "$out"
exit $failed
