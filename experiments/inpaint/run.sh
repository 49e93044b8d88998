#!/usr/bin/env bash
# The inpainting attack (Carlini et al. §5.3) on a small Fashion-MNIST model trained on few images:
# hide half of each target, let the model complete it from many seeds, keep the completions the
# model itself likes best, and compare how close they come to the original for members (the half
# the model was trained on) and non-members. Expected: members' completions are closer (AUC > 0.5).
#
#   experiments/inpaint/run.sh                  # full size (see the defaults below)
#   SMOKE=1 experiments/inpaint/run.sh          # minutes on a CPU: tiny model, few targets
#   DEVICE=cuda experiments/inpaint/run.sh      # on a GPU
#   MODEL=runs/demo/model DATA=runs/demo/data TARGETS=128 CANDIDATES=8 KEEP=2 STEPS=25 \
#     experiments/inpaint/run.sh                # attack an existing model (numbers in the README)
# Every step is resumable: a rerun skips what is finished (train and inpaint resume themselves).
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD_DIR=${DIFFMEM_BUILD_DIR:-build}
DIFFMEM=${DIFFMEM:-$BUILD_DIR/diffmem}
RUN=${RUN:-runs/inpaint}
DEVICE=${DEVICE:-auto}
SEED=${SEED:-0}
if [ "${SMOKE:-0}" = 1 ]; then
  N=${N:-32}; PRESET=${PRESET:-tiny}; TRAIN_STEPS=${TRAIN_STEPS:-300}; BATCH=${BATCH:-16}
  TARGETS=${TARGETS:-8}; CANDIDATES=${CANDIDATES:-4}; KEEP=${KEEP:-2}; STEPS=${STEPS:-20}
  RUN=${RUN}-smoke
else
  N=${N:-200}               # distinct images; a seeded half are the members
  PRESET=${PRESET:-small}
  TRAIN_STEPS=${TRAIN_STEPS:-20000}  # many epochs over 100 images: the model memorizes them
  BATCH=${BATCH:-64}
  TARGETS=${TARGETS:-100}   # 50 members + 50 non-members
  CANDIDATES=${CANDIDATES:-32}
  KEEP=${KEEP:-4}
  STEPS=${STEPS:-50}        # DDIM steps
fi
MASK=${MASK:-left}
SAMPLER=${SAMPLER:-ddim}
RESAMPLE=${RESAMPLE:-1}

say() { printf '\n== %s\n' "$*"; }
dm() { "$DIFFMEM" --device "$DEVICE" "$@"; }

if [ -n "${MODEL:-}" ] || [ -n "${DATA:-}" ]; then
  # Attack a model that exists already (e.g. the demo's: MODEL=runs/demo/model DATA=runs/demo/data).
  [ -n "${MODEL:-}" ] && [ -n "${DATA:-}" ] || { echo "set both MODEL and DATA" >&2; exit 2; }
else
FULL="$RUN/data/fashion-mnist"
if [ ! -f "$FULL/manifest.json" ]; then
  say "import Fashion-MNIST (train, first 10000)"
  dm data import --from fashion-mnist --split train --limit 10000 --out "$FULL"
fi
DATA="$RUN/data/subset-$N"
if [ ! -f "$DATA/manifest.json" ]; then
  say "subset: $N images, members = a seeded half"
  dm data subset --data "$FULL" --out "$DATA" --n "$N" --split half --seed "$SEED"
fi
MODEL="$RUN/model-$PRESET-$TRAIN_STEPS"
say "train $PRESET for $TRAIN_STEPS steps on the members (resumes)"
dm train --data "$DATA" --out "$MODEL" --preset "$PRESET" --steps "$TRAIN_STEPS" \
  --batch "$BATCH" --seed "$SEED"
fi

OUT="$RUN/attack-$MASK-$SAMPLER$STEPS-r$RESAMPLE-c$CANDIDATES-k$KEEP"
say "inpaint: $TARGETS targets, mask $MASK, $CANDIDATES candidates, keep $KEEP"
dm inpaint --model "$MODEL" --data "$DATA" --out "$OUT" --mask "$MASK" \
  --candidates "$CANDIDATES" --keep "$KEEP" --n-targets "$TARGETS" \
  --sampler "$SAMPLER" --steps "$STEPS" --resample "$RESAMPLE" --seed "$SEED"

say "results in $OUT"
python3 - "$OUT/summary.json" <<'PY' 2>/dev/null || cat "$OUT/summary.json"
import json, sys
s = json.load(open(sys.argv[1]))
print(f"members {s['members']}, non-members {s['nonmembers']}")
print(f"mean best distance: members {s['mean_distance_members']:.4f}, "
      f"non-members {s['mean_distance_nonmembers']:.4f}")
print(f"mean rank-1 distance: members {s['mean_rank1_distance_members']:.4f}, "
      f"non-members {s['mean_rank1_distance_nonmembers']:.4f}")
tpr = s['tpr_at_fpr_0.01']
print(f"AUC {s['auc']:.4f}  TPR@1%FPR {'n/m' if tpr is None else f'{100*tpr:.1f}%'}  "
      f"balanced accuracy {s['balanced_accuracy']:.4f}")
PY
