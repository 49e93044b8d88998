#!/usr/bin/env bash
# The demo: set up (packages + build), then run diffmem's pipeline on Debian's Fashion-MNIST under
# runs/demo/. Idempotent: each step whose output already exists is skipped, so a rerun (or a run
# after an interruption) only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
BUILD_DIR=${DIFFMEM_BUILD_DIR:-build}
DIFFMEM="$BUILD_DIR/diffmem"
RUN=${DIFFMEM_DEMO_DIR:-runs/demo}
SEED=${SEED:-0}

say() { printf '\n== %s\n' "$*"; }

# 1. The canonical data set: Fashion-MNIST train, 60,000 images 28×28×1.
DATA="$RUN/data/fashion-mnist"
if [ -f "$DATA/manifest.json" ]; then
  say "data: $DATA exists, import skipped"
else
  say "data: importing Fashion-MNIST (train) from /usr/share/datasets/fashion-mnist"
  "$DIFFMEM" data import --from fashion-mnist --split train --out "$DATA"
fi

# 2. A small training set with planted duplicates (Carlini et al. Fig. 5: memorization grows with
#    how often an image is seen): 2,000 distinct images, two images each seen 1, 2, 4, ..., 32 times.
TRAIN="$RUN/data/train-dup"
if [ -f "$TRAIN/manifest.json" ]; then
  say "data: $TRAIN exists, subset skipped"
else
  say "data: subset of 2000 images with planted duplicates (seed $SEED)"
  "$DIFFMEM" data subset --data "$DATA" --out "$TRAIN" --n 2000 \
    --duplicate-counts 1,2,4,8,16,32 --duplicate-picks 2 --seed "$SEED"
fi

# 3. A look at both.
say "data: grids of the first 64 images"
"$DIFFMEM" data show "$DATA" --out "$RUN/data/fashion-mnist.png" --n 64 --cols 8 --scale 2
"$DIFFMEM" data show "$TRAIN" --out "$RUN/data/train-dup.png" --n 64 --cols 8 --scale 2

say "demo: done"
cat <<EOF
  data set          $DATA  (images.npy labels.npy ids.npy manifest.json)
  training subset   $TRAIN  (planted duplicates listed in manifest.json "duplicates")
  grids             $RUN/data/fashion-mnist.png  $RUN/data/train-dup.png
EOF
