#!/usr/bin/env bash
# Real kills: runs train, sample, extract and mia once uninterrupted, then N times
# each SIGKILLed at a random moment and resumed with the same command, and compares every result
# file of the resumed run with the uninterrupted one, byte for byte (JSON with its timing fields
# — *seconds, *_per_s, timings — and the counts of shards reused or computed left out, and its
# own folder's path read as the reference's; logs left out). Prints one line per stage,
# "STAGE: K/N identical", and exits non-zero unless every trial matched.
#   scripts/kill-trials.sh [N=5] [WORK_DIR]      (DIFFMEM=path/to/diffmem, default build/diffmem;
#                                                 SCALE=k: k times the training steps and samples)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
if [ -n "${2:-}" ]; then WORK=$2; else WORK=$(mktemp -d /tmp/diffmem-kill.XXXXXX); trap 'rm -rf "$WORK"' EXIT; fi
BIN=${DIFFMEM:-build/diffmem}
PY=${PYTHON:-python3}
SCALE=${SCALE:-1}
mkdir -p "$WORK"
D() { "$BIN" --quiet --threads 1 "$@"; }

# The fixture: 24 rows of 16×16 noise images (8 distinct, each 3 times), members.npy marking the
# copies of 4 of them; the train stage's reference model is what sample and mia then read.
"$PY" - "$WORK" <<'PY'
import json, os, struct, sys, random
work = sys.argv[1]
d = os.path.join(work, "data")
if not os.path.exists(os.path.join(d, "manifest.json")):
    os.makedirs(d, exist_ok=True)
    rng = random.Random(0)
    n, h, w = 24, 16, 16
    def npy(path, descr, shape, data):
        header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, ", ".join(map(str, shape)) + ("," if len(shape) == 1 else ""))
        header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
        with open(path, "wb") as f:
            f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data)
    base = [bytes(rng.randrange(256) for _ in range(h * w)) for _ in range(8)]
    images = b"".join(base[i % 8] for i in range(n))
    npy(os.path.join(d, "images.npy"), "|u1", (n, h, w, 1), images)
    npy(os.path.join(d, "labels.npy"), "<i8", (n,), b"".join(struct.pack("<q", i % 8) for i in range(n)))
    npy(os.path.join(d, "ids.npy"), "<i8", (n,), b"".join(struct.pack("<q", i) for i in range(n)))
    npy(os.path.join(d, "members.npy"), "|b1", (n,), bytes(int(i % 8 < 4) for i in range(n)))
    json.dump({"source": "kill-trials"}, open(os.path.join(d, "manifest.json"), "w"))
PY

compare() {  # compare REF RUN: 0 when every result file matches
  "$PY" - "$1" "$2" <<'PY'
import json, os, sys
ref, run = sys.argv[1], sys.argv[2]
HISTORY = {"timings", "reused", "computed", "shards_reused", "shards_skipped"}  # what this run did, not found
def timing(k):
    return k in HISTORY or k.endswith("seconds") or k.endswith("_per_s")
def strip(j):  # timing fields out; the run's own folder read as the reference's
    if isinstance(j, dict): return {k: strip(v) for k, v in j.items() if not timing(k)}
    if isinstance(j, list): return [strip(v) for v in j]
    if isinstance(j, str): return j.replace(run, ref)
    return j
def files(root):
    out = set()
    for dp, dn, fn in os.walk(root):
        for f in fn:
            if f == ".diffmem.lock" or "log" in f: continue
            out.add(os.path.relpath(os.path.join(dp, f), root))
    return out
a, b = files(ref), files(run)
bad = sorted(a ^ b)
for rel in sorted(a & b):
    pa, pb = os.path.join(ref, rel), os.path.join(run, rel)
    if rel.endswith(".json"):
        same = strip(json.load(open(pa))) == strip(json.load(open(pb)))
    else:
        same = open(pa, "rb").read() == open(pb, "rb").read()
    if not same: bad.append(rel)
if bad:
    print("  differs: " + ", ".join(bad[:8]), file=sys.stderr)
    sys.exit(1)
PY
}

# STAGE and its command line with OUT standing for the output folder.
stages=(
  "train|train --data $WORK/data --out OUT --preset tiny --steps $((60 * SCALE)) --batch 8 --warmup 5 --checkpoint-every 10 --seed 0"
  "sample|sample --model $WORK/ref-train --out OUT --n $((48 * SCALE)) --shard-size 4 --sampler ddim --steps 8 --seed 0"
  "extract|extract --generations $WORK/ref-sample --train $WORK/data --out OUT --delta 0.5"
  "mia|mia loss --target $WORK/ref-train --data $WORK/data --out OUT --draws 4"
)
failed=0
for entry in "${stages[@]}"; do
  stage=${entry%%|*}
  cmd=${entry#*|}
  ref="$WORK/ref-$stage"
  rm -rf "$ref"
  start=$(date +%s.%N)
  D ${cmd//OUT/$ref} >/dev/null
  took=$("$PY" -c "import time; print(max(0.2, time.time() - $start))")
  ok=0
  for i in $(seq 1 "$N"); do
    out="$WORK/$stage-$i"
    rm -rf "$out"
    delay=$("$PY" -c "import random; random.seed($i * 7919 + ${#stage}); print(round(random.uniform(0.05, 0.95) * $took, 3))")
    "$BIN" --quiet --threads 1 ${cmd//OUT/$out} >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if D ${cmd//OUT/$out} >/dev/null && compare "$ref" "$out"; then
      ok=$((ok + 1))
    else
      echo "  $stage trial $i (killed after ${delay}s of ${took}s) did not match" >&2
    fi
    rm -rf "$out"
  done
  echo "$stage: $ok/$N identical (killed at random within a ${took%.*}s run)"
  [ "$ok" -eq "$N" ] || failed=1
done
exit $failed
