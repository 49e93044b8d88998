#!/usr/bin/env bash
# White-box extraction vs. duplication (Carlini et al. §5.1, Fig. 5), scaled to a small CPU machine:
# a Fashion-MNIST subset in which some images are planted 1, 2, 4, 8 and 16 times; a DDPM trained on
# it; DDIM generations; `diffmem extract` against the training set; the extraction rate per
# duplicate count. With MITIGATE=1 the same is repeated for a model trained on the deduplicated set
# (`diffmem dedup --write-deduplicated`), still scored against the planted counts.
#
# Every step resumes (finished data, models, shards and extraction shards are kept). The full run
# (3000 steps, 512 generations) takes about 25 minutes on 2 cores. Settings come from the
# environment, e.g. a smoke run:
#   STEPS=20 N_GEN=32 SAMPLE_STEPS=5 RUN=/tmp/extract-smoke experiments/extract/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

DIFFMEM=${DIFFMEM:-build/diffmem}
RUN=${RUN:-runs/extract}
DISTINCT=${DISTINCT:-64}           # distinct training images
COUNTS=${COUNTS:-1,2,4,8,16}       # planted duplicate counts
PICKS=${PICKS:-4}                  # distinct images planted per count
PRESET=${PRESET:-small}
STEPS=${STEPS:-3000}               # training steps
BATCH=${BATCH:-64}
SAMPLER=${SAMPLER:-ddim}
SAMPLE_STEPS=${SAMPLE_STEPS:-50}
N_GEN=${N_GEN:-512}                # generations
DELTA=${DELTA:-0.15}
MITIGATE=${MITIGATE:-0}            # 1: also train on the deduplicated set and compare
DEDUP_THRESHOLD=${DEDUP_THRESHOLD:-0.1}
DEDUP_STEPS=${DEDUP_STEPS:-$STEPS}  # the deduplicated arm's steps (fewer rows: fewer steps for the same epochs)
CAL_THRESHOLD=${CAL_THRESHOLD:-1.0}  # calibrated l2 (alpha 0.5, n 50) at or below it = extracted
SEED=${SEED:-0}
THREADS=${THREADS:-0}              # 0 = all cores

say() { printf '\n== %s\n' "$*"; }
dm() { "$DIFFMEM" --threads "$THREADS" "$@"; }
[ -x "$DIFFMEM" ] || { echo "no diffmem binary at $DIFFMEM (set DIFFMEM=...)" >&2; exit 1; }

SRC="$RUN/data/fashion-mnist"
if [ -f "$SRC/manifest.json" ]; then
  say "data: $SRC exists"
else
  say "data: importing Fashion-MNIST (train)"
  dm data import --from fashion-mnist --split train --out "$SRC"
fi

DATA="$RUN/data/subset-$DISTINCT-c${COUNTS//,/_}-p$PICKS-s$SEED"
if [ -f "$DATA/manifest.json" ]; then
  say "data: $DATA exists"
else
  say "data: $DISTINCT distinct images, $PICKS planted per count in {$COUNTS} (seed $SEED)"
  dm data subset --data "$SRC" --out "$DATA" --n "$DISTINCT" --duplicate-counts "$COUNTS" \
    --duplicate-picks "$PICKS" --seed "$SEED"
fi

# One arm: train on $1, sample, extract against the planted subset $DATA; $2 names the arm.
arm() {
  local train_data=$1 name=$2 steps=${3:-$STEPS}
  local model="$RUN/$name/model-$PRESET-$steps"
  local gens="$RUN/$name/generations-$SAMPLER$SAMPLE_STEPS-n$N_GEN"
  local out="$RUN/$name/extract-$SAMPLER$SAMPLE_STEPS-n$N_GEN-d$DELTA"
  say "$name: train $PRESET for $steps steps (batch $BATCH; resumes)"
  dm train --data "$train_data" --out "$model" --preset "$PRESET" --steps "$steps" --batch "$BATCH" \
    --seed "$SEED"
  say "$name: sample $N_GEN images ($SAMPLER, $SAMPLE_STEPS steps; resumes)"
  dm sample --model "$model" --out "$gens" --n "$N_GEN" --sampler "$SAMPLER" --steps "$SAMPLE_STEPS" \
    --seed "$SEED"
  say "$name: extract (delta $DELTA) against $DATA"
  dm extract --generations "$gens" --train "$DATA" --out "$out" --delta "$DELTA"
  RESULTS+=("$name=$out")
  say "$name: extract (calibrated l2 <= $CAL_THRESHOLD, alpha 0.5, n 50) against $DATA"
  dm extract --generations "$gens" --train "$DATA" --out "$out-cal$CAL_THRESHOLD" --delta "$DELTA" \
    --calibrated-threshold "$CAL_THRESHOLD" --alpha 0.5 --n-calibration 50
  RESULTS+=("$name-calibrated=$out-cal$CAL_THRESHOLD")
}

RESULTS=()
arm "$DATA" duplicated
if [ "$MITIGATE" = 1 ]; then
  DEDUP="$DATA-dedup$DEDUP_THRESHOLD"
  say "dedup: near-duplicates of $DATA (normalized l2 <= $DEDUP_THRESHOLD)"
  dm dedup --data "$DATA" --threshold "$DEDUP_THRESHOLD" --out "$DEDUP-report" --write-deduplicated "$DEDUP"
  if [ "$DEDUP_STEPS" = "$STEPS" ]; then
    arm "$DEDUP" deduplicated
  else
    arm "$DEDUP" "deduplicated-${DEDUP_STEPS}steps" "$DEDUP_STEPS"
  fi
fi

say "extraction rate by duplicate count (Fig. 5)"
for r in "${RESULTS[@]}"; do
  /usr/bin/python3 - "${r%%=*}" "${r#*=}/summary.json" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
s = json.load(open(path))
print(f"{name}: {s['extracted_generations']} of {s['generations']} generations within delta "
      f"{s['delta']}; {s['unique_extracted']} unique training images extracted ({path})")
ci = lambda r: f"[{100 * r['rate_ci'][0]:.0f}, {100 * r['rate_ci'][1]:.0f}]" if r.get("rate_ci") else ""
print(f"  {'copies':>7} {'planted':>8} {'extracted':>10} {'rate':>7} 95% CI")
for r in s["duplicate_rates"]:
    print(f"  {r['count']:>7} {r['planted']:>8} {r['extracted']:>10} {100 * r['rate']:>6.1f}% {ci(r)}")
u = s.get("unplanted")
if u:
    print(f"  {'other':>7} {u['images']:>8} {u['extracted']:>10} {100 * u['rate']:>6.1f}% {ci(u)}")
PY
done

# One table and one chart over the arms: rate [95% CI] per planted count.
/usr/bin/python3 - "$RUN" "${RESULTS[@]}" <<'PY'
import json, subprocess, sys
run, arms = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
sums = {name: json.load(open(f"{path}/summary.json")) for name, path in arms}
counts = [r["count"] for r in next(iter(sums.values()))["duplicate_rates"]]
cell = lambda r: f"{r['extracted']}/{r.get('planted', r.get('images'))} = {100 * r['rate']:.0f}%" + (f" [{100 * r['rate_ci'][0]:.0f}, {100 * r['rate_ci'][1]:.0f}]" if r.get("rate_ci") else "")
table = {"columns": ["copies"] + [n for n, _ in arms], "rows": []}
for k, c in enumerate(counts):
    table["rows"].append([c] + [cell(sums[n]["duplicate_rates"][k]) for n, _ in arms])
if all("unplanted" in s for s in sums.values()):
    table["rows"].append(["not planted"] + [cell(sums[n]["unplanted"]) for n, _ in arms])
table["rows"].append(["generations extracted"] + [f"{sums[n]['extracted_generations']}/{sums[n]['generations']}" for n, _ in arms])
series = [{"name": n, "x": counts, "y": [r["rate"] for r in sums[n]["duplicate_rates"]],
           "low": [(r.get("rate_ci") or [None])[0] for r in sums[n]["duplicate_rates"]],
           "high": [(r.get("rate_ci") or [None, None])[1] for r in sums[n]["duplicate_rates"]]} for n, _ in arms]
json.dump(table, open(f"{run}/duplicates-table.json", "w"))
json.dump({"title": "Extraction rate against duplicate count (95% CI)", "x_label": "copies in the training set (log)",
           "log_x": True, "y_label": "fraction extracted", "y_min": 0, "y_max": 1, "series": series},
          open(f"{run}/duplicates-chart.json", "w"))
lib = "experiments/lib/plot.py"
subprocess.check_call([sys.executable, lib, "table", f"{run}/duplicates-table.json", f"{run}/duplicates.md"])
subprocess.check_call([sys.executable, lib, "chart", f"{run}/duplicates-chart.json", f"{run}/duplicates.svg"])
print(open(f"{run}/duplicates.md").read())
PY
