#!/usr/bin/env bash
# Finding 6 (issue "honest statistics"): the split check flags a deliberately biased split and
# not a random one. On Fashion-MNIST: members drawn from one mix of classes and non-members from
# another (the CopyMark situation: LAION members vs COCO non-members, a split by source), against
# a seeded random half of the same pool, and a milder bias (classes shared, proportions shifted).
# Writes $RUN/split-check.md (table) and $RUN/split-check.svg (AUC with its interval per split).
#   experiments/split_check/run.sh              # N=1000 per side, 1000 resamples, ~1 minute
set -euo pipefail
cd "$(dirname "$0")/../.."

DIFFMEM=${DIFFMEM:-build/diffmem}
RUN=${RUN:-runs/split_check}
N=${N:-1000}              # images per side
SEED=${SEED:-0}
PY=/usr/bin/python3
[ -x "$DIFFMEM" ] || { echo "no diffmem binary at $DIFFMEM (set DIFFMEM=...)" >&2; exit 1; }
say() { printf '\n== %s\n' "$*"; }

SRC="$RUN/data/fashion-mnist"
[ -f "$SRC/manifest.json" ] || "$DIFFMEM" data import --from fashion-mnist --split train --out "$SRC"
subset() {  # name, n, classes ("" = all), seed, extra flags
  local out="$RUN/data/$1"
  [ -f "$out/manifest.json" ] && return
  "$DIFFMEM" data subset --data "$SRC" --out "$out" --n "$2" ${3:+--classes "$3"} --seed "$4" ${5:-}
}
subset other "$N" 1,3,5,7,8,9 2     # trouser, dress, sandal, sneaker, bag, ankle boot
subset tops-n "$N" 0,2,4,6 3
subset mixed-a "$N" 0,1,2,3,4,5,6 4 # mild: 7 classes against 7 classes, 4 shared
subset mixed-b "$N" 3,4,5,6,7,8,9 5
subset half $((2 * N)) "" 6 "--split half"

ROWS=()
check() {  # name, split-check args
  local out="$RUN/$1"
  say "split check: $1"
  local t0=$SECONDS
  "$DIFFMEM" split-check "${@:2}" --out "$out" --stats-seed "$SEED"
  ROWS+=("$1=$out=$((SECONDS - t0))")
}
check "random half" --data "$RUN/data/half"
check "by class (4 vs 6 classes)" --members-data "$RUN/data/tops-n" --nonmembers-data "$RUN/data/other"
check "mild (7 vs 7 classes, 4 shared)" --members-data "$RUN/data/mixed-a" --nonmembers-data "$RUN/data/mixed-b"

$PY - "$RUN" "${ROWS[@]}" <<'PY'
import json, subprocess, sys
run, rows = sys.argv[1], [r.split("=") for r in sys.argv[2:]]
table = {"columns": ["split", "members", "non-members", "AUC [95% CI]", "TPR@1%FPR [95% CI]", "flagged", "strongest statistics", "seconds"], "rows": []}
chart = {"title": "Split check: model-free AUC (95% CI)", "x_label": "split (1 = random, 2 = by class, 3 = mild)",
         "y_label": "AUC", "y_min": 0.3, "y_max": 1.0, "series": [{"name": "split check", "x": [], "y": [], "low": [], "high": []},
                                                               {"name": "chance", "x": [], "y": []}]}
for k, (name, out, secs) in enumerate(rows, 1):
    j = json.load(open(f"{out}/split-check.json"))
    ci = j["ci"]["auc"]
    tpr, tci = j["tpr_at_fpr_0.01"], j["ci"]["tpr_at_fpr_0.01"]
    table["rows"].append([name, j["members"], j["nonmembers"], f"{j['auc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]",
                          "n/m" if tpr is None else f"{100*tpr:.1f}% [{100*tci[0]:.1f}, {100*tci[1]:.1f}]",
                          "yes" if j["biased"] else "no", ", ".join(j["strongest"][:3]), secs])
    for key, v in (("x", k), ("y", j["auc"]), ("low", ci[0]), ("high", ci[1])):
        chart["series"][0][key].append(v)
    chart["series"][1]["x"].append(k); chart["series"][1]["y"].append(0.5)
json.dump(table, open(f"{run}/table.json", "w")); json.dump(chart, open(f"{run}/chart.json", "w"))
lib = "experiments/lib/plot.py"
subprocess.check_call([sys.executable, lib, "table", f"{run}/table.json", f"{run}/split-check.md"])
subprocess.check_call([sys.executable, lib, "chart", f"{run}/chart.json", f"{run}/split-check.svg"])
print(open(f"{run}/split-check.md").read())
PY
