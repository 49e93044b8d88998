#!/usr/bin/env bash
# Membership inference on Fashion-MNIST (Carlini et al. §5.2, scaled to a small CPU machine):
# train K+1 models, each on its own seeded random half of an N-image subset; model-000 is the
# target, the other K are LiRA's shadow models (the target is left out of its own shadows). Then
# the loss-threshold attack and LiRA (online and offline), and a table of AUC and TPR at low FPR.
#
# Every step resumes: the subset and finished models are kept, training continues from its last
# checkpoint, and per-model scores are cached under $RUN/mia/cache, so rerunning only does what is
# missing. Settings come from the environment, e.g. a smoke run:
#   N=200 K=2 STEPS=20 DRAWS=2 RUN=/tmp/mia-smoke experiments/mia/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

DIFFMEM=${DIFFMEM:-build/diffmem}
RUN=${RUN:-runs/mia}
N=${N:-256}              # distinct Fashion-MNIST training images; each model sees N/2
K=${K:-8}                # shadow models (the paper used 16)
STEPS=${STEPS:-1000}     # optimizer steps per model (250 epochs of N/2 at batch 32)
PRESET=${PRESET:-small}  # model::UNet2DConfig preset (28×28×1)
BATCH=${BATCH:-32}
DRAWS=${DRAWS:-20}       # noise draws per example (the paper's strong attack: ~20 plus flips)
JOBS=${JOBS:-$(nproc)}   # models trained side by side, one core each
T=${T:-100}              # timestep of the loss (the paper: 100; 50–300 work)
FLIP=${FLIP:-1}          # also score the mirrored image
SEED=${SEED:-0}
THREADS=${THREADS:-0}    # 0 = all cores

say() { printf '\n== %s\n' "$*"; }
[ -x "$DIFFMEM" ] || { echo "no diffmem binary at $DIFFMEM (set DIFFMEM=...)" >&2; exit 1; }

SRC="$RUN/data/fashion-mnist"
if [ -f "$SRC/manifest.json" ]; then
  say "data: $SRC exists"
else
  say "data: importing Fashion-MNIST (train)"
  "$DIFFMEM" data import --from fashion-mnist --split train --out "$SRC"
fi

DATA="$RUN/data/subset-$N-s$SEED"
if [ -f "$DATA/manifest.json" ]; then
  say "data: $DATA exists"
else
  say "data: subset of $N images (seed $SEED)"
  "$DIFFMEM" data subset --data "$SRC" --out "$DATA" --n "$N" --seed "$SEED"
fi

MODELS="$RUN/models"
say "train: $((K + 1)) models ($PRESET, $STEPS steps, batch $BATCH), each on a random half"
"$DIFFMEM" --threads "$THREADS" train --data "$DATA" --out "$MODELS" --models $((K + 1)) \
  --split half --preset "$PRESET" --steps "$STEPS" --batch "$BATCH" --seed "$SEED" --jobs "$JOBS"

FLIPARG=()
[ "$FLIP" = 1 ] && FLIPARG=(--flip)
OUT="$RUN/mia"
COMMON=(--data "$DATA" --target "$MODELS/model-000" --t "$T" --draws "$DRAWS" "${FLIPARG[@]}"
        --seed "$SEED" --out "$OUT")
say "mia: loss threshold (t $T, $DRAWS draws, flip $FLIP)"
"$DIFFMEM" --threads "$THREADS" mia loss "${COMMON[@]}"
say "mia: LiRA with $K shadow models"
"$DIFFMEM" --threads "$THREADS" mia lira --shadows "$MODELS" "${COMMON[@]}"

say "results ($OUT/roc.svg)"
printf '%-16s %8s %12s %12s\n' attack AUC 'TPR@1%FPR' 'TPR@0.1%FPR'
for a in loss lira-online lira-offline; do
  s="$OUT/$a/summary.json"
  [ -f "$s" ] || continue
  /usr/bin/python3 - "$a" "$s" <<'PY'
import json, sys
j = json.load(open(sys.argv[2]))
pct = lambda v: "n/m" if v is None else f"{100*v:.2f}%"  # n/m: too few non-members for that FPR
ci = j.get("ci", {}).get("auc")
print(f"{sys.argv[1]:<16} {j['auc']:8.4f} {pct(j['tpr_at_fpr_0.01']):>12} {pct(j['tpr_at_fpr_0.001']):>12}"
      + (f"   AUC 95% CI [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""))
PY
done
