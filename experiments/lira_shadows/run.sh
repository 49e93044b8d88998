#!/usr/bin/env bash
# Finding 2 of the "honest statistics" issue: LiRA beats the loss threshold, and by how much with
# 2, 4, 8 and 16 shadow models (one shadow gives no example two OUT scores, so no variance), with and without the strong variant (20 noise draws + the
# mirror, against 1 draw), on enough examples (N/2 members and N/2 non-members, N >= 2000) that a
# TPR at 0.1% FPR is measurable. AUC and TPR at 1% and 0.1% FPR with 95% bootstrap intervals.
# Trains K+1 models on seeded halves (experiments/mia/run.sh does the training); the shadow subsets
# are folders of links to the first k shadows; every mia call's cache/ is a link to one score cache,
# so each (draws, flip) setting scores every model once. Writes $RUN/lira-shadows.{md,svg}.
#   experiments/lira_shadows/run.sh        # N=2000, K=16: many hours on 2 cores (see EXPERIMENTS.md)
#   N=200 K=2 STEPS=20 SHADOWS="2" RUN=/tmp/lira-smoke experiments/lira_shadows/run.sh
#   TABLE_ONLY=1 RUN=... experiments/lira_shadows/run.sh   # tabulate the attacks already run (a run cut short)
set -euo pipefail
cd "$(dirname "$0")/../.."

DIFFMEM=${DIFFMEM:-build/diffmem}
RUN=${RUN:-runs/lira_shadows}
N=${N:-2000}
K=${K:-16}
SHADOWS=${SHADOWS:-"2 4 8 16"}   # 1 cannot fit a variance: no example has two OUT scores
STEPS=${STEPS:-2000}
BATCH=${BATCH:-64}
PRESET=${PRESET:-small}
T=${T:-100}
SEED=${SEED:-0}
STRONG_DRAWS=${STRONG_DRAWS:-20}  # the strong variant's noise draws (each also scored mirrored)
PY=/usr/bin/python3
say() { printf '\n== %s  (%s)\n' "$*" "$(date +%T)"; }

TABLE_ONLY=${TABLE_ONLY:-0}

# Training (and the data) through the MIA experiment's script, with one draw and no scoring yet.
[ "$TABLE_ONLY" = 1 ] || N=$N K=$K STEPS=$STEPS BATCH=$BATCH PRESET=$PRESET DRAWS=1 FLIP=0 T=$T SEED=$SEED RUN=$RUN \
  bash experiments/mia/run.sh
DATA="$RUN/data/subset-$N-s$SEED"
MODELS="$RUN/models"

for k in $SHADOWS; do
  dir="$RUN/shadows-$k"
  [ -d "$dir" ] && continue
  mkdir -p "$dir.tmp"
  for i in $(seq 1 "$k"); do ln -s "$(realpath "$MODELS")/$(printf 'model-%03d' "$i")" "$dir.tmp/"; done
  mv "$dir.tmp" "$dir"
done

ROWS=()
CACHE="$(realpath "$RUN")/mia/cache"   # experiments/mia/run.sh's, already holding the 1-draw scores
mkdir -p "$CACHE"
with_cache() { mkdir -p "$1"; [ -e "$1/cache" ] || ln -s "$CACHE" "$1/cache"; }
for variant in "weak 1 0" "strong $STRONG_DRAWS 1"; do
  set -- $variant
  name=$1 draws=$2 flip=$3
  args=(--data "$DATA" --target "$MODELS/model-000" --t "$T" --draws "$draws" --seed "$SEED")
  [ "$flip" = 1 ] && args+=(--flip)
  out="$RUN/mia-$name"
  say "loss threshold ($name: $draws draws, flip $flip)"
  with_cache "$out/loss"
  [ "$TABLE_ONLY" = 1 ] || "$DIFFMEM" mia loss "${args[@]}" --out "$out/loss"
  ROWS+=("$name=loss=0=$out/loss/loss")
  for k in $SHADOWS; do
    say "LiRA with $k shadows ($name)"
    with_cache "$out/lira-$k"
    [ "$TABLE_ONLY" = 1 ] || "$DIFFMEM" mia lira "${args[@]}" --shadows "$RUN/shadows-$k" --out "$out/lira-$k"
    ROWS+=("$name=lira-online=$k=$out/lira-$k/lira-online" "$name=lira-offline=$k=$out/lira-$k/lira-offline")
  done
done

$PY - "$RUN" "${ROWS[@]}" <<'PY'
import json, os, subprocess, sys
run, rows = sys.argv[1], [r.split("=") for r in sys.argv[2:]]
f = lambda v, c, pct: "n/m" if v is None else ((f"{100*v:.1f}%" if pct else f"{v:.3f}") +
     (f" [{100*c[0]:.1f}, {100*c[1]:.1f}]" if pct else f" [{c[0]:.3f}, {c[1]:.3f}]") if c else "")
table = {"columns": ["variant", "attack", "shadows", "AUC [95% CI]", "TPR@1%FPR [95% CI]", "TPR@0.1%FPR [95% CI]"], "rows": []}
series = {}
for variant, attack, k, path in rows:
    if not os.path.exists(f"{path}/summary.json"):
        print(f"not run: {variant} {attack} with {k} shadows ({path})", file=sys.stderr)
        continue
    j = json.load(open(f"{path}/summary.json"))
    table["rows"].append([variant, attack, k, f(j["auc"], j["ci"]["auc"], False),
                          f(j["tpr_at_fpr_0.01"], j["ci"]["tpr_at_fpr_0.01"], True),
                          f(j["tpr_at_fpr_0.001"], j["ci"]["tpr_at_fpr_0.001"], True)])
    if attack != "loss":
        s = series.setdefault(f"{attack} ({variant})", {"name": f"{attack} ({variant})", "x": [], "y": [], "low": [], "high": []})
        ci = j["ci"]["tpr_at_fpr_0.01"] or [None, None]
        s["x"].append(int(k)); s["y"].append(j["tpr_at_fpr_0.01"]); s["low"].append(ci[0]); s["high"].append(ci[1])
json.dump(table, open(f"{run}/table.json", "w"))
json.dump({"title": "LiRA: TPR at 1% FPR against shadow models (95% CI)", "x_label": "shadow models (log)", "log_x": True,
           "y_label": "TPR at 1% FPR", "y_min": 0, "y_max": 1, "series": list(series.values())}, open(f"{run}/chart.json", "w"))
subprocess.check_call([sys.executable, "experiments/lib/plot.py", "table", f"{run}/table.json", f"{run}/lira-shadows.md"])
subprocess.check_call([sys.executable, "experiments/lib/plot.py", "chart", f"{run}/chart.json", f"{run}/lira-shadows.svg"])
print(open(f"{run}/lira-shadows.md").read())
PY
