#!/usr/bin/env bash
# Diffusion model against GAN (the quality issue's experiment; Carlini et al. §5.2, Table 2 and the
# "better models leak more" finding), scaled to a small CPU machine. On one built-in data set
# (N distinct Fashion-MNIST members, images planted COUNTS times, HOLDOUT non-members), at STAGES
# points along one training run of each model:
#   - the same number of generations (SAMPLES), the same white-box extraction (normalized l2 <= 0.15)
#     against the training set: distinct images extracted, per planted count;
#   - sample quality: the Fréchet distance in a data-set feature net's space (trained here on the
#     Fashion-MNIST test split; FD, never FID) and KID;
#   - membership inference: the loss attack for the diffusion model (t 100, 8 draws + mirror), the
#     discriminator's logit for the GAN (a different attack: see README), AUC and TPR at 1% FPR.
# Each point is one `diffmem audit` (the first trains; later ones take the model trained on with
# `diffmem train` / `diffmem train-gan --steps S`, which continue the same run). Writes
# $RUN/gan-vs-diffusion.{md,json}. Every step resumes.
#   experiments/gan_vs_diffusion/run.sh                          # defaults (not yet run at this size)
#   DIFF_STAGES="20 40" GAN_STAGES="20 40" SAMPLES=32 N=16 HOLDOUT=16 COUNTS=1,2 NET_EPOCHS=1 RUN=/tmp/gvd \
#     experiments/gan_vs_diffusion/run.sh                        # smoke run: 5 min 48 s here (2026-12-06)
set -euo pipefail
cd "$(dirname "$0")/../.."

DIFFMEM=${DIFFMEM:-build/diffmem}
RUN=${RUN:-runs/gan-vs-diffusion}
N=${N:-64}                          # distinct member images
HOLDOUT=${HOLDOUT:-64}              # distinct non-members
COUNTS=${COUNTS:-1,2,4,8,16,32}     # planted copies (one image per count)
SAMPLES=${SAMPLES:-1024}            # generations per model and stage
DIFF_STAGES=${DIFF_STAGES:-"500 1000 1500 2000"}
GAN_STAGES=${GAN_STAGES:-"750 1500 2250 3000"}
NET_EPOCHS=${NET_EPOCHS:-4}
SEED=${SEED:-0}
PY=/usr/bin/python3
[ -x "$DIFFMEM" ] || { echo "no diffmem binary at $DIFFMEM (set DIFFMEM=...)" >&2; exit 1; }
say() { printf '\n== %s  (%s)\n' "$*" "$(date +%T)"; }
dm() { "$DIFFMEM" "$@"; }

# The feature net of the quality numbers, on images the models never see.
FM="$RUN/data/fashion-mnist-test"
NET="$RUN/feature-net"
[ -f "$FM/manifest.json" ] || dm data import --from fashion-mnist --split test --out "$FM"
if [ ! -f "$NET/train.json" ]; then
  say "feature net: $NET_EPOCHS epochs on $FM"
  dm train-feature-net --data "$FM" --epochs "$NET_EPOCHS" --out "$NET"
fi

# Shared audit flags: the same data, generations, extraction and quality for both models; the
# inpainting attack (diffusion only) kept small.
COMMON=(--samples "$SAMPLES" --feature-net "$NET" --seed "$SEED" --inpaint-targets 8 --candidates 2
        --inpaint-steps 10)
first() { echo "$1"; }

# One model family: $1 = diffusion | gan, $2 = its stages; the first stage's audit trains (and
# builds the data set), the later ones take the model trained on to S steps.
family() {
  local kind=$1 stages=$2 s0 model data
  s0=$(first $stages)
  local target=(); [ "$kind" = gan ] && target=(--target gan)
  local data_flags=(--n "$N" --holdout "$HOLDOUT" --duplicate-counts "$COUNTS")
  [ -f "$RUN/data-run/data/manifest.json" ] && data_flags=(--data "$RUN/data-run/data")
  say "$kind: audit at $s0 steps (trains)"
  dm audit "${target[@]}" --run "$RUN/$kind-$s0" "${data_flags[@]}" --steps "$s0" "${COMMON[@]}"
  # The first audit's data set is every later run's.
  [ -e "$RUN/data-run" ] || ln -s "$kind-$s0" "$RUN/data-run"
  data="$RUN/data-run/data"
  model="$RUN/$kind-model"
  [ -d "$model" ] || cp -r "$RUN/$kind-$s0/model" "$model"
  for S in $stages; do
    [ "$S" = "$s0" ] && continue
    say "$kind: train on to $S steps"
    if [ "$kind" = gan ]; then dm train-gan --data "$data" --out "$model" --steps "$S" --seed "$SEED"
    else dm train --data "$data" --out "$model" --steps "$S" --seed "$SEED"; fi
    local snap="$RUN/$kind-model-$S"
    if [ ! -f "$snap/config.json" ]; then
      rm -rf "$snap.tmp" && cp -r "$model" "$snap.tmp" && rm -f "$snap.tmp/training_state.safetensors" && mv "$snap.tmp" "$snap"
    fi
    say "$kind: audit at $S steps"
    dm audit "${target[@]}" --run "$RUN/$kind-$S" --data "$data" --model "$snap" "${COMMON[@]}"
  done
}

family diffusion "$DIFF_STAGES"
family gan "$GAN_STAGES"

say "table"
"$PY" - "$RUN" "$DIFF_STAGES" "$GAN_STAGES" <<'PY'
import json, os, sys
run, diff, gan = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
pct = lambda v: "n/m" if v is None else f"{100 * v:.1f}%"
rows, out = [], []
for kind, stages in (("diffusion", diff), ("gan", gan)):
    for s in stages:
        j = json.load(open(os.path.join(run, f"{kind}-{s}", "summary.json")))
        q, e = j.get("quality", {}), j["extraction"]
        (name, m), = [(k, v) for k, v in j["mia"].items() if k in ("loss", "gan-discriminator")]
        ci = m.get("ci") or {}
        tpr = m.get("tpr_at_fpr_0.01")
        tci = ci.get("tpr_at_fpr_0.01")
        per = {r["count"]: f"{r['extracted']}/{r['planted']}" for r in e["duplicate_rates"]}
        row = {"model": kind, "steps": int(s), "fd": q.get("fd"), "kid": (q.get("kid") or {}).get("mean"),
               "extracted": e["unique_extracted"], "generations_extracted": e["extracted_generations"],
               "generations": e["generations"], "per_count": per, "attack": name, "auc": m["auc"],
               "auc_ci": ci.get("auc"), "tpr_1pct": tpr, "tpr_1pct_ci": tci,
               "unplanted": f"{e['unplanted']['extracted']}/{e['unplanted']['images']}" if e.get("unplanted") else ""}
        rows.append(row)
counts = list(rows[0]["per_count"].keys())
head = ["model", "steps", "FD (dataset-net)", "KID", "distinct extracted"] + [f"{c}×" for c in counts] + \
       ["not planted", "generations ≤ 0.15", "attack", "AUC [95% CI]", "TPR@1%FPR [95% CI]"]
out.append("| " + " | ".join(head) + " |")
out.append("|" + "---|" * len(head))
for r in rows:
    auc = f"{r['auc']:.3f}" + (f" [{r['auc_ci'][0]:.3f}, {r['auc_ci'][1]:.3f}]" if r["auc_ci"] else "")
    tpr = pct(r["tpr_1pct"]) + (f" [{pct(r['tpr_1pct_ci'][0])}, {pct(r['tpr_1pct_ci'][1])}]" if r["tpr_1pct_ci"] else "")
    cells = [r["model"], str(r["steps"]), "—" if r["fd"] is None else f"{r['fd']:.3f}",
             "—" if r["kid"] is None else f"{r['kid']:.3f}", str(r["extracted"])] + \
            [r["per_count"][c] for c in counts] + [r["unplanted"], f"{r['generations_extracted']}/{r['generations']}",
             r["attack"], auc, tpr]
    out.append("| " + " | ".join(cells) + " |")
open(os.path.join(run, "gan-vs-diffusion.md"), "w").write("\n".join(out) + "\n")
json.dump(rows, open(os.path.join(run, "gan-vs-diffusion.json"), "w"), indent=1)
print("\n".join(out))
PY
