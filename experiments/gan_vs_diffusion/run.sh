#!/usr/bin/env bash
# Diffusion model against GAN (the quality issue's experiment; Carlini et al. §5.2, Table 2 and the
# "better models leak more" finding), scaled to a small CPU machine. On one built-in data set
# (N distinct Fashion-MNIST members, images planted COUNTS times, HOLDOUT non-members), at STAGES
# points along one training run of each model:
#   - the same number of generations (SAMPLES), the same white-box extraction (normalized l2 <= 0.15)
#     against the training set: distinct images extracted, per planted count;
#   - sample quality: the Fréchet distance in a data-set feature net's space (trained here on the
#     Fashion-MNIST test split; FD, never FID) and KID;
#   - membership inference: the loss attack for the diffusion model (t 100, 8 draws, the audit's defaults), the
#     discriminator's logit for the GAN (a different attack: see README), AUC and TPR at 1% FPR;
#     and, so that 1% FPR is measurable, both attacks again on each snapshot against HOLDOUT + EXTRA
#     non-members (one row per distinct image).
# Each point is one `diffmem audit` (the first trains; later ones take the model trained on with
# `diffmem train` / `diffmem train-gan --steps S`, which continue the same run). Writes
# $RUN/gan-vs-diffusion.{md,json}. Every step resumes.
#   experiments/gan_vs_diffusion/run.sh                          # defaults: the README's table
#   DIFF_STAGES="20 40" GAN_STAGES="20 40" SAMPLES=32 N=16 HOLDOUT=16 COUNTS=1,2 NET_EPOCHS=1 RUN=/tmp/gvd \
#     experiments/gan_vs_diffusion/run.sh                        # smoke run: 5 min 48 s here (2026-12-06)
set -euo pipefail
cd "$(dirname "$0")/../.."

DIFFMEM=${DIFFMEM:-build/diffmem}
RUN=${RUN:-runs/gan-vs-diffusion}
N=${N:-64}                          # distinct member images
HOLDOUT=${HOLDOUT:-64}              # distinct non-members
COUNTS=${COUNTS:-1,2,4,8,16,32}     # planted copies (one image per count)
SAMPLES=${SAMPLES:-256}            # generations per model and stage
DIFF_STAGES=${DIFF_STAGES:-"500 800 1100 1400"}
GAN_STAGES=${GAN_STAGES:-"500 1000 1500 2000"}
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
# A finished audit (its report stage done) is left alone.
done_already() { [ -f "$RUN/$1/stages/report.json" ] && echo "   $1: finished already"; }

# One model family: $1 = diffusion | gan, $2 = its stages; the first stage's audit trains (and
# builds the data set), the later ones take the model trained on to S steps.
family() {
  local kind=$1 stages=$2 s0 model data
  s0=$(first $stages)
  local target=(); [ "$kind" = gan ] && target=(--target gan)
  local data_flags=(--n "$N" --holdout "$HOLDOUT" --duplicate-counts "$COUNTS")
  # The data set's owner builds it from the flags, every other run reads it. A finished audit is
  # not rerun: other flags (the --data that exists once it has run) would redo its stages.
  [ -f "$RUN/data-run/data/manifest.json" ] && [ "$(readlink "$RUN/data-run")" != "$kind-$s0" ] &&
    data_flags=(--data "$RUN/data-run/data")
  say "$kind: audit at $s0 steps (trains)"
  done_already "$kind-$s0" ||
    dm audit "${target[@]}" --run "$RUN/$kind-$s0" "${data_flags[@]}" --steps "$s0" "${COMMON[@]}"
  # The first audit's data set is every later run's.
  [ -e "$RUN/data-run" ] || ln -s "$kind-$s0" "$RUN/data-run"
  data="$RUN/data-run/data"
  model="$RUN/$kind-model"
  [ -d "$model" ] || cp -r "$RUN/$kind-$s0/model" "$model"
  for S in $stages; do
    [ "$S" = "$s0" ] && continue
    say "$kind: train on to $S steps"
    if [ -f "$RUN/$kind-model-$S/config.json" ]; then :
    elif [ "$kind" = gan ]; then dm train-gan --data "$data" --out "$model" --steps "$S" --seed "$SEED"
    else dm train --data "$data" --out "$model" --steps "$S" --seed "$SEED"; fi
    local snap="$RUN/$kind-model-$S"
    if [ ! -f "$snap/config.json" ]; then
      rm -rf "$snap.tmp" && cp -r "$model" "$snap.tmp" && rm -f "$snap.tmp/training_state.safetensors" && mv "$snap.tmp" "$snap"
    fi
    say "$kind: audit at $S steps"
    done_already "$kind-$S" || dm audit "${target[@]}" --run "$RUN/$kind-$S" --data "$data" --model "$snap" "${COMMON[@]}"
  done
}

family diffusion "$DIFF_STAGES"
family gan "$GAN_STAGES"

# TPR at 1% FPR needs more than the audits' HOLDOUT non-members: the same loss attack (t 100, 8
# draws) again on each diffusion snapshot, and the discriminator attack on each GAN snapshot, one
# row per distinct image (the N members, planted ones
# once) against the HOLDOUT non-members plus EXTRA Fashion-MNIST training images the data set does
# not hold (drawn with SEED).
EXTRA=${EXTRA:-1000}
MX="$RUN/mia-extra"
if [ "$EXTRA" -gt 0 ]; then
  FMT="$RUN/data/fashion-mnist-train"
  [ -f "$FMT/manifest.json" ] || dm data import --from fashion-mnist --split train --out "$FMT"
  if [ ! -f "$MX/data/manifest.json" ]; then
    say "mia-extra: $EXTRA more non-members"
    "$PY" - "$RUN/data-run/data" "$FMT" "$MX" "$EXTRA" "$SEED" <<'PY'
import json, os, sys
import numpy as np
src, fm, out, extra, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ids, mem = np.load(f"{src}/ids.npy"), np.load(f"{src}/members.npy")
_, first = np.unique(ids, return_index=True)
keep = np.sort(first)                                   # one row per distinct image
fids = np.load(f"{fm}/ids.npy")
new = np.sort(np.random.default_rng(seed).choice(np.setdiff1d(fids, ids), extra, replace=False))
rows = np.searchsorted(fids, new)
assert (fids[rows] == new).all()
os.makedirs(f"{out}/data.tmp", exist_ok=True)
for f in ("images", "labels", "ids"):
    np.save(f"{out}/data.tmp/{f}.npy", np.concatenate([np.load(f"{src}/{f}.npy")[keep], np.load(f"{fm}/{f}.npy", mmap_mode="r")[rows]]))
np.save(f"{out}/members.npy", np.concatenate([mem[keep], np.zeros(extra, bool)]))
m = json.load(open(f"{src}/manifest.json"))
m["count"] = int(len(keep) + extra)
m["shape"][0] = m["count"]
m["created_by"] = f"experiments/gan_vs_diffusion: the audits' data set, one row per distinct image, and {extra} Fashion-MNIST training images it does not hold"
json.dump(m, open(f"{out}/data.tmp/manifest.json", "w"), indent=2)
os.rename(f"{out}/data.tmp", f"{out}/data")
PY
  fi
  for S in $DIFF_STAGES; do
    model="$RUN/diffusion-model-$S"; [ "$S" = "$(first $DIFF_STAGES)" ] && model="$RUN/diffusion-$S/model"
    [ -f "$MX/diffusion-$S/loss/summary.json" ] && continue
    say "mia-extra: loss attack at $S steps"
    dm mia loss --data "$MX/data" --target "$model" --members "$MX/members.npy" --t 100 --draws 8 \
      --seed "$SEED" --out "$MX/diffusion-$S"
  done
  for S in $GAN_STAGES; do
    model="$RUN/gan-model-$S"; [ "$S" = "$(first $GAN_STAGES)" ] && model="$RUN/gan-$S/model"
    [ -f "$MX/gan-$S/gan-discriminator/summary.json" ] && continue
    say "mia-extra: discriminator attack at $S steps"
    dm mia discriminator --data "$MX/data" --target "$model" --members "$MX/members.npy" --out "$MX/gan-$S"
  done
fi

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
        x = os.path.join(run, "mia-extra", f"{kind}-{s}", name, "summary.json")
        if os.path.exists(x):
            xj = json.load(open(x))
            row["extra"] = {"auc": xj["auc"], "auc_ci": xj["ci"]["auc"], "tpr_1pct": xj.get("tpr_at_fpr_0.01"),
                            "tpr_1pct_ci": xj["ci"].get("tpr_at_fpr_0.01"), "members": xj["members"],
                            "nonmembers": xj["nonmembers"]}
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
extra = [r for r in rows if "extra" in r]
if extra:
    x0 = extra[0]["extra"]
    out += ["", f"Membership, one row per distinct image: {x0['members']} members against {x0['nonmembers']} non-members", "",
            "| model | steps | FD (dataset-net) | attack | AUC [95% CI] | TPR@1%FPR [95% CI] |", "|---|---|---|---|---|---|"]
    for r in extra:
        x = r["extra"]
        out.append(f"| {r['model']} | {r['steps']} | {r['fd']:.3f} | {r['attack']} | {x['auc']:.3f} [{x['auc_ci'][0]:.3f}, {x['auc_ci'][1]:.3f}] | "
                   f"{pct(x['tpr_1pct'])} [{pct(x['tpr_1pct_ci'][0])}, {pct(x['tpr_1pct_ci'][1])}] |")
open(os.path.join(run, "gan-vs-diffusion.md"), "w").write("\n".join(out) + "\n")
json.dump(rows, open(os.path.join(run, "gan-vs-diffusion.json"), "w"), indent=1)
print("\n".join(out))
PY
