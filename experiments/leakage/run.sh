#!/usr/bin/env bash
# Findings 3, 4 and 5 of the "honest statistics" issue on one model family, with 95% intervals:
#   4. leakage grows with training: the loss attack's AUC and TPR at 1% FPR at STAGES points along
#      one training run (staged: `diffmem train --steps S` resumes the same run; the LR is constant
#      after warm-up, so the stages are one run's checkpoints);
#   3. the timestep matters: AUC and TPR at 1% FPR at 11 timesteps from 10 to 999 (final model);
#   5. inpainting favours members: the inpainting attack's ROC on the final model for two masks.
# Fashion-MNIST, N distinct images, a seeded half are the members (N/2 members, N/2 non-members).
# Writes $RUN/{training,timestep,inpaint}.{md,svg}. Every step resumes.
#   experiments/leakage/run.sh                         # defaults: ~35 min on 2 cores
#   N=64 STAGES="20 40" TARGETS=16 CANDIDATES=2 DRAWS=2 RUN=/tmp/leak-smoke experiments/leakage/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

DIFFMEM=${DIFFMEM:-build/diffmem}
RUN=${RUN:-runs/leakage}
N=${N:-256}                          # distinct images; members = a seeded half
STAGES=${STAGES:-"600 1200 1800 2400"}
PRESET=${PRESET:-small}
BATCH=${BATCH:-64}
DRAWS=${DRAWS:-8}                    # noise draws per example (plus the mirror)
T=${T:-100}
SWEEP=${SWEEP:-10,25,50,100,150,200,300,400,600,800,999}
MASKS=${MASKS:-"left center"}
TARGETS=${TARGETS:-200}              # inpainting targets: half members, half non-members
CANDIDATES=${CANDIDATES:-16}
KEEP=${KEEP:-4}
SEED=${SEED:-0}
PY=/usr/bin/python3
[ -x "$DIFFMEM" ] || { echo "no diffmem binary at $DIFFMEM (set DIFFMEM=...)" >&2; exit 1; }
say() { printf '\n== %s  (%s)\n' "$*" "$(date +%T)"; }

SRC="$RUN/data/fashion-mnist"
[ -f "$SRC/manifest.json" ] || "$DIFFMEM" data import --from fashion-mnist --split train --limit 10000 --out "$SRC"
DATA="$RUN/data/subset-$N"
[ -f "$DATA/manifest.json" ] || "$DIFFMEM" data subset --data "$SRC" --out "$DATA" --n "$N" --split half --seed "$SEED"

MODEL="$RUN/model"
LAST=""
if [ "${REPORT_ONLY:-0}" = 1 ]; then  # tables and charts from the runs already in $RUN
  for S in $STAGES; do LAST=$S; done
else
for S in $STAGES; do
  say "train to $S steps"
  "$DIFFMEM" train --data "$DATA" --out "$MODEL" --preset "$PRESET" --steps "$S" --batch "$BATCH" --seed "$SEED"
  SNAP="$RUN/model-$S"
  if [ ! -f "$SNAP/diffusion_pytorch_model.safetensors" ]; then
    rm -rf "$SNAP.tmp" && mkdir -p "$SNAP.tmp"
    cp "$MODEL"/*.json "$MODEL"/*.safetensors "$MODEL"/members.npy "$SNAP.tmp/" && mv "$SNAP.tmp" "$SNAP"
  fi
  say "mia loss at $S steps"
  "$DIFFMEM" mia loss --data "$DATA" --target "$SNAP" --out "$RUN/mia-$S" --t "$T" --draws "$DRAWS" --flip \
    --seed "$SEED" --calibrate-on 0.5
  LAST=$S
done

say "timestep sweep on the $LAST-step model"
"$DIFFMEM" mia loss --data "$DATA" --target "$RUN/model-$LAST" --out "$RUN/sweep" --t "$T" --draws "$DRAWS" --flip \
  --seed "$SEED" --t-sweep "$SWEEP"

for M in $MASKS; do
  say "inpainting, mask $M"
  "$DIFFMEM" inpaint --model "$RUN/model-$LAST" --data "$DATA" --out "$RUN/inpaint-$M" --mask "$M" \
    --n-targets "$TARGETS" --candidates "$CANDIDATES" --keep "$KEEP" --sampler ddim --steps 50 --seed "$SEED"
done

fi

$PY - "$RUN" "$STAGES" "$MASKS" <<'PY'
import csv, json, subprocess, sys
run, stages, masks = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
lib = "experiments/lib/plot.py"
def emit(name, table, chart):
    json.dump(table, open(f"{run}/{name}-table.json", "w")); json.dump(chart, open(f"{run}/{name}-chart.json", "w"))
    subprocess.check_call([sys.executable, lib, "table", f"{run}/{name}-table.json", f"{run}/{name}.md"])
    subprocess.check_call([sys.executable, lib, "chart", f"{run}/{name}-chart.json", f"{run}/{name}.svg"])
    print(f"\n{name}:\n" + open(f"{run}/{name}.md").read())
def iv(v, c, pct=False):
    if v is None: return "n/m"
    f = (lambda x: f"{100*x:.1f}%") if pct else (lambda x: f"{x:.3f}")
    return f(v) + (f" [{f(c[0])}, {f(c[1])}]" if c else "")
# 4. Training.
t = {"columns": ["steps", "epochs", "AUC [95% CI]", "TPR@1%FPR [95% CI]", "held-out TPR at the 1%-FPR threshold", "held-out FPR",
                 "held-out TPR / FPR at the balanced-accuracy threshold", "split check"], "rows": []}
auc = {"name": "AUC", "x": [], "y": [], "low": [], "high": []}
tpr = {"name": "TPR@1%FPR", "x": [], "y": [], "low": [], "high": []}
for s in stages:
    j = json.load(open(f"{run}/mia-{s}/loss/summary.json"))
    c, b = j["calibrated"]["thresholds"][0], j["calibrated"]["thresholds"][-1]
    epochs = int(s) * json.load(open(f"{run}/model-{s}/train_options.json"))["batch"] / j["members"]
    t["rows"].append([s, f"{epochs:.0f}", iv(j["auc"], j["ci"]["auc"]), iv(j["tpr_at_fpr_0.01"], j["ci"]["tpr_at_fpr_0.01"], True),
                      iv(c["test_tpr"], c["test_tpr_ci"], True) if c["measurable"] else "n/m",
                      iv(c["test_fpr"], c["test_fpr_ci"], True) if c["measurable"] else "n/m",
                      iv(b["test_tpr"], b["test_tpr_ci"], True) + " / " + iv(b["test_fpr"], b["test_fpr_ci"], True),
                      "biased" if j["split_check"].get("biased") else "ok"])
    for ser, key in ((auc, "auc"), (tpr, "tpr_at_fpr_0.01")):
        ser["x"].append(int(s)); ser["y"].append(j[key])
        ci = j["ci"][key] or [None, None]
        ser["low"].append(ci[0]); ser["high"].append(ci[1])
emit("training", t, {"title": "Loss attack along training (95% CI)", "x_label": "training steps", "y_label": "AUC / TPR at 1% FPR",
                     "y_min": 0, "y_max": 1, "series": [auc, tpr]})
# 3. Timestep.
rows = list(csv.DictReader(open(f"{run}/sweep/t-sweep-loss.csv")))
t = {"columns": ["t", "AUC [95% CI]", "TPR@1%FPR [95% CI]"], "rows": []}
auc = {"name": "AUC", "x": [], "y": [], "low": [], "high": []}
tpr = {"name": "TPR@1%FPR", "x": [], "y": [], "low": [], "high": []}
num = lambda v: float(v) if v != "" else None
for r in rows:
    t["rows"].append([r["t"], iv(num(r["auc"]), [num(r["auc_low"]), num(r["auc_high"])]),
                      iv(num(r["tpr_at_fpr_0.01"]), [num(r["tpr_at_fpr_0.01_low"]), num(r["tpr_at_fpr_0.01_high"])] if r["tpr_at_fpr_0.01_low"] else None, True)])
    for ser, k in ((auc, "auc"), (tpr, "tpr_at_fpr_0.01")):
        ser["x"].append(int(r["t"])); ser["y"].append(num(r[k])); ser["low"].append(num(r[k + "_low"])); ser["high"].append(num(r[k + "_high"]))
emit("timestep", t, {"title": "Loss attack against the timestep t (95% CI)", "x_label": "t (log scale)", "log_x": True,
                     "y_label": "AUC / TPR at 1% FPR", "y_min": 0, "y_max": 1, "series": [auc, tpr]})
# 5. Inpainting.
t = {"columns": ["mask", "members", "non-members", "AUC [95% CI]", "TPR@1%FPR [95% CI]", "TPR@10%FPR", "mean distance members", "non-members"], "rows": []}
series = []
for m in masks:
    j = json.load(open(f"{run}/inpaint-{m}/summary.json"))
    band = list(csv.DictReader(open(f"{run}/inpaint-{m}/roc_band.csv")))
    roc = list(csv.DictReader(open(f"{run}/inpaint-{m}/roc.csv")))
    at10 = max(float(r["tpr"]) for r in roc if float(r["fpr"]) <= 0.1 + 1e-12)
    t["rows"].append([m, j["members"], j["nonmembers"], iv(j["auc"], j["ci"]["auc"]), iv(j["tpr_at_fpr_0.01"], j["ci"]["tpr_at_fpr_0.01"], True),
                      f"{100*at10:.1f}%", f"{j['mean_distance_members']:.3f}", f"{j['mean_distance_nonmembers']:.3f}"])
    pts = [r for r in band if float(r["fpr"]) >= 0.01]
    tp = lambda f: max(float(r["tpr"]) for r in roc if float(r["fpr"]) <= f + 1e-12)
    series.append({"name": f"mask {m} (AUC {j['auc']:.2f})", "x": [float(r["fpr"]) for r in pts], "y": [tp(float(r["fpr"])) for r in pts],
                   "low": [float(r["tpr_low"]) for r in pts], "high": [float(r["tpr_high"]) for r in pts]})
series.append({"name": "chance", "x": series[0]["x"], "y": series[0]["x"]})
emit("inpaint", t, {"title": "Inpainting attack ROC (95% band)", "x_label": "false-positive rate (log)", "log_x": True,
                    "y_label": "true-positive rate", "y_min": 0, "y_max": 1, "series": series})
PY
