#!/usr/bin/env bash
# Real kills: runs train, train-gan, sample (a diffusion model's and a GAN's), extract, extract-blackbox (a model's generations, and PNG
# folders per prompt), mia and the audit once uninterrupted, then N times each SIGKILLed at a
# random moment and resumed with the same command, and compares every result file of the resumed
# run with the uninterrupted one, byte for byte (JSON without its "timing" objects — seconds,
# rates, what was reused —, and the run's own folder's path read as the reference's; logs left
# out). Prints one line per stage, "STAGE: K/N identical", and exits non-zero unless every trial
# matched.
#   scripts/kill-trials.sh [N=5] [WORK_DIR] [STAGE ...]   (DIFFMEM=path/to/diffmem, default
#        build/diffmem; SCALE=k: k times the training steps and samples; STAGE: only these)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
if [ -n "${2:-}" ]; then WORK=$2; else WORK=$(mktemp -d /tmp/diffmem-kill.XXXXXX); trap 'rm -rf "$WORK"' EXIT; fi
ONLY=("${@:3}")
BIN=${DIFFMEM:-build/diffmem}
PY=${PYTHON:-python3}
SCALE=${SCALE:-1}
mkdir -p "$WORK"
D() { "$BIN" --quiet --threads 1 "$@"; }

# The fixture (WORK/data, WORK/groups, WORK/prompts.csv) and compare REF RUN.
. scripts/lib/trials.sh
make_fixture "$WORK"

# STAGE and its command line with OUT standing for the output folder.
stages=(
  "train|train --data $WORK/data --out OUT --preset tiny --steps $((60 * SCALE)) --batch 8 --warmup 5 --checkpoint-every 10 --seed 0"
  "train-gan|train-gan --data $WORK/data --out OUT --steps $((200 * SCALE)) --batch 8 --width 8 --z-dim 16 --checkpoint-every 20 --seed 0"
  "sample-gan|sample --model $WORK/ref-train-gan --out OUT --n $((64 * SCALE)) --shard-size 4 --batch 3 --seed 0"
  "sample|sample --model $WORK/ref-train --out OUT --n $((48 * SCALE)) --shard-size 4 --sampler ddim --steps 8 --seed 0"
  "extract|extract --generations $WORK/ref-sample --train $WORK/data --out OUT --delta 0.5"
  "extract-blackbox|extract-blackbox --model $WORK/ref-train --per-prompt $((64 * SCALE)) --sampler ddim --steps 16 --batch 4 --min-clique 3 --out OUT"
  "extract-blackbox-folders|extract-blackbox --prompts $WORK/prompts.csv --images $WORK/groups --min-clique 4 --out OUT"
  "mia|mia loss --target $WORK/ref-train --data $WORK/data --out OUT --draws 4"
  "audit|audit --run OUT --data $WORK/data --preset tiny --steps $((40 * SCALE)) --batch 8 --samples $((16 * SCALE)) --sampler ddim --sample-steps 4 --draws 2 --inpaint-targets 2 --candidates 2 --inpaint-steps 2 --seed 0 --set train.warmup_steps=5 --set train.checkpoint_every=10"
)
failed=0
for entry in "${stages[@]}"; do
  stage=${entry%%|*}
  cmd=${entry#*|}
  ref="$WORK/ref-$stage"
  rm -rf "$ref"
  start=$(date +%s.%N)
  D ${cmd//OUT/$ref} >/dev/null
  took=$("$PY" -c "import time; print(max(0.2, time.time() - $start))")
  # A stage left out still leaves its reference run, which later stages read.
  if [ ${#ONLY[@]} -gt 0 ] && [[ ! " ${ONLY[*]} " == *" $stage "* ]]; then continue; fi
  ok=0
  for i in $(seq 1 "$N"); do
    out="$WORK/$stage-$i"
    rm -rf "$out"
    delay=$("$PY" -c "import random; random.seed($i * 7919 + ${#stage}); print(round(random.uniform(0.05, 0.95) * $took, 3))")
    "$BIN" --quiet --threads 1 ${cmd//OUT/$out} >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if D ${cmd//OUT/$out} >/dev/null && compare "$ref" "$out"; then
      ok=$((ok + 1))
    else
      echo "  $stage trial $i (killed after ${delay}s of ${took}s) did not match" >&2
    fi
    rm -rf "$out"
  done
  echo "$stage: $ok/$N identical (killed at random within a ${took%.*}s run)"
  [ "$ok" -eq "$N" ] || failed=1
done
exit $failed
