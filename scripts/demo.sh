#!/usr/bin/env bash
# The demo: set up (packages + build), then one `diffmem audit` on the built-in data set — 64
# distinct Fashion-MNIST training images, planted 1, 2, 4, 8 and 16 times (90 training rows), plus
# 64 held-out images the model never sees — with a small U-Net (0.58M parameters) trained long
# enough to memorize. The audit samples 256 generations, finds the training images they reproduce,
# looks for cliques without the training set, runs the loss membership attack and a small
# inpainting attack, and writes one HTML report. Sized for about 15 minutes on 2 cores.
#
# Rerunning resumes: every finished stage is skipped. Environment:
#   DIFFMEM_DEMO_DIR  run directory (default runs/demo)
#   SEED, STEPS       seed (0) and training steps (1500)
#   extra arguments   passed to `diffmem audit` (e.g. --from mia, --shadows 4)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
BUILD_DIR=${DIFFMEM_BUILD_DIR:-build}
DIFFMEM="$BUILD_DIR/diffmem"
RUN=${DIFFMEM_DEMO_DIR:-runs/demo}
SEED=${SEED:-0}
STEPS=${STEPS:-1500}

start=$(date +%s)
"$DIFFMEM" audit --run "$RUN" --seed "$SEED" \
  --n 64 --holdout 64 --duplicate-counts 1,2,4,8,16 \
  --preset small --steps "$STEPS" --batch 64 \
  --samples 256 --sampler ddim --sample-steps 50 \
  --draws 8 --inpaint-targets 16 --candidates 8 --inpaint-steps 25 \
  "$@"
elapsed=$(( $(date +%s) - start ))

printf '\ndemo: done in %dm%02ds\n' $((elapsed / 60)) $((elapsed % 60))
echo "report: $(realpath "$RUN/report.html")"
echo "summary: $(realpath "$RUN/summary.json")"
