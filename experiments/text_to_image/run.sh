#!/usr/bin/env bash
# The text-to-image attacks on a model where the truth is known (issue: text-to-image attacks):
# captioned Fashion-MNIST (class name + a seeded phrase per image), some image-caption pairs
# planted 4-32 times, a seeded half of the distinct images held out; a small text-conditional
# model trained by diffmem on the members; then
#   1. diffmem screen over every caption (planted-in-training = positive): AUC, TPR at 1% FPR;
#   2. diffmem extract-blackbox on the pipeline folder, without and with the screen in front:
#      precision and recall of the flagged prompts, and the U-Net evaluations each spent;
#   3. diffmem mia clid|secmi|pia: loss vs CLiD, SecMI and PIA on members vs held-out captions.
# Every step resumes. Settings come from the environment; a smoke run:
#   STEPS=30 PER_PROMPT=8 RUN=/tmp/t2i-smoke experiments/text_to_image/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

DIFFMEM=${DIFFMEM:-build/diffmem}
RUN=${RUN:-runs/text_to_image}
LIMIT=${LIMIT:-2000}               # Fashion-MNIST images imported (captions generated for each)
DISTINCT=${DISTINCT:-64}           # distinct images in the subset (half of them members)
COUNTS=${COUNTS:-1,4,8,16,32}      # planted duplicate counts
PICKS=${PICKS:-4}                  # distinct images planted per count
PRESET=${PRESET:-tiny}
STEPS=${STEPS:-3000}
BATCH=${BATCH:-32}
PER_PROMPT=${PER_PROMPT:-32}       # generations per prompt (the paper: 500)
SAMPLE_STEPS=${SAMPLE_STEPS:-20}
GUIDANCE=${GUIDANCE:-3}
EDGE=${EDGE:-0.15}
MIN_CLIQUE=${MIN_CLIQUE:-8}
SCREEN_TOP=${SCREEN_TOP:-16}
SEED=${SEED:-0}
THREADS=${THREADS:-0}

say() { printf '\n== %s\n' "$*"; }
dm() { "$DIFFMEM" --threads "$THREADS" "$@"; }
[ -x "$DIFFMEM" ] || { echo "no diffmem binary at $DIFFMEM (set DIFFMEM=...)" >&2; exit 1; }

SRC="$RUN/data/fashion-mnist-captioned-$LIMIT"
[ -f "$SRC/manifest.json" ] || { say "data: import $LIMIT captioned images"; \
  dm data import --from fashion-mnist --limit "$LIMIT" --captions generated --caption-seed "$SEED" --out "$SRC"; }
DATA="$RUN/data/subset-$DISTINCT-c${COUNTS//,/_}-p$PICKS-s$SEED"
[ -f "$DATA/manifest.json" ] || { say "data: subset, planted {$COUNTS} x $PICKS, half held out"; \
  dm data subset --data "$SRC" --out "$DATA" --n "$DISTINCT" --duplicate-counts "$COUNTS" \
    --duplicate-picks "$PICKS" --split half --seed "$SEED"; }
PROMPTS="$RUN/prompts"
[ -f "$PROMPTS/prompts.csv" ] || dm data prompts --data "$DATA" --out "$PROMPTS"

MODEL="$RUN/model-$PRESET-$STEPS"
say "train: text-to-image $PRESET, $STEPS steps (resumes)"
dm train --data "$DATA" --out "$MODEL" --conditioning text --preset "$PRESET" --steps "$STEPS" \
  --batch "$BATCH" --seed "$SEED"

COMMON=(--model "$MODEL" --prompts "$PROMPTS/prompts.csv" --label planted --steps "$SAMPLE_STEPS"
        --guidance "$GUIDANCE" --seed "$SEED")
say "1. screen every caption"
dm screen "${COMMON[@]}" --per-prompt 4 --out "$RUN/screen"
say "2a. generate-and-filter, every caption ($PER_PROMPT each)"
dm extract-blackbox "${COMMON[@]}" --per-prompt "$PER_PROMPT" --edge-threshold "$EDGE" \
  --min-clique "$MIN_CLIQUE" --batch 64 --out "$RUN/blackbox-all"
say "2b. generate-and-filter behind the screen (top $SCREEN_TOP)"
dm extract-blackbox "${COMMON[@]}" --per-prompt "$PER_PROMPT" --edge-threshold "$EDGE" \
  --min-clique "$MIN_CLIQUE" --batch 64 --screen-top "$SCREEN_TOP" --out "$RUN/blackbox-screened"
say "3. membership inference: loss vs CLiD, SecMI and PIA (each run also writes the loss)"
for attack in clid secmi pia; do
  [ -f "$RUN/mia/$attack/summary.json" ] || dm mia "$attack" --data "$DATA" --target "$MODEL" --out "$RUN/mia"
done

say "results"
/usr/bin/python3 - "$RUN" <<'PY'
import json, sys
run = sys.argv[1]
def f3(v):  # None: a TPR the non-members cannot measure
    return "n/m" if v is None else f"{v:.3f}"
s = json.load(open(f"{run}/screen/summary.json"))
for d in ("wen", "anisotropy"):
    j = s["detectors"][d]
    if isinstance(j, dict):
        print(f"screen {d:10s}: AUC {j['auc']:.3f}  TPR@1%FPR {f3(j['tpr_at_fpr_0.01'])}  ({j['members']} planted of {j['members'] + j['nonmembers']})")
for r in s.get("by_duplicates", []):
    w = r["wen"]
    if isinstance(w, dict):
        print(f"   planted {r['duplicates']:3d}x ({r['positives']} vs {r['negatives']}): Wen AUC {w['auc']:.3f}  TPR@1%FPR {f3(w['tpr_at_fpr_0.01'])}")
for arm in ("blackbox-all", "blackbox-screened"):
    b = json.load(open(f"{run}/{arm}/summary.json"))
    e, c = b["extraction"], b["cost"]
    print(f"{arm:18s}: flagged {e['flagged']}, precision {e['precision']}, recall {e['recall']}, "
          f"U-Net evaluations {c['unet_images_from_scratch']} (unscreened {c['unscreened_unet_images']}, saving {c['saving']:.2f}x)")
    print("   by duplicates: " + ", ".join(f"{r['duplicates']}: {r['flagged']}/{r['prompts']}" for r in e["by_duplicates"]))
for a in ("loss", "clid", "secmi", "pia"):
    m = json.load(open(f"{run}/mia/{a}/summary.json"))
    print(f"mia {a:5s}: AUC {m['auc']:.3f}  TPR@1%FPR {f3(m['tpr_at_fpr_0.01'])}  ({m['members']} members, {m['nonmembers']} held out)")
PY
