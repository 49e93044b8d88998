#!/usr/bin/env bash
# Real kills: runs train, train-gan, sample (a diffusion model's and a GAN's), extract, extract-blackbox (a model's generations, and PNG
# folders per prompt), mia and the audit once uninterrupted, then N times each SIGKILLed at a
# random moment and resumed with the same command, and compares every result file of the resumed
# run with the uninterrupted one, byte for byte (JSON without its "timing" objects — seconds,
# rates, what was reused —, and the run's own folder's path read as the reference's; logs left
# out). Prints one line per stage, "STAGE: K/N identical", and exits non-zero unless every trial
# matched.
#   scripts/kill-trials.sh [N=5] [WORK_DIR] [STAGE ...]   (DIFFMEM=path/to/diffmem, default
#        build/diffmem; SCALE=k: k times the training steps and samples; STAGE: only these)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
if [ -n "${2:-}" ]; then WORK=$2; else WORK=$(mktemp -d /tmp/diffmem-kill.XXXXXX); trap 'rm -rf "$WORK"' EXIT; fi
ONLY=("${@:3}")
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
    json.dump({"source": "kill-trials", "shape": [n, h, w, 1], "count": n}, open(os.path.join(d, "manifest.json"), "w"))
# Black-box groups as PNG folders: 6 prompts of 12 greyscale 16x16 images, in prompts 0-2 the
# first 6 images copies of one picture (a clique), the rest noise.
g = os.path.join(work, "groups")
if not os.path.exists(os.path.join(work, "prompts.csv")):
    import zlib
    def png(path, pixels, w, h):
        raw = b"".join(b"\x00" + pixels[r * w:(r + 1) * w] for r in range(h))
        def chunk(t, b):
            return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    rng = random.Random(1)
    rows = ["id,prompt"]
    for p in range(6):
        os.makedirs(os.path.join(g, "p%d" % p), exist_ok=True)
        same = bytes(rng.randrange(256) for _ in range(256))
        for i in range(12):
            pix = same if p < 3 and i < 6 else bytes(rng.randrange(256) for _ in range(256))
            png(os.path.join(g, "p%d" % p, "%02d.png" % i), pix, 16, 16)
        rows.append("p%d,prompt %d" % (p, p))
    open(os.path.join(work, "prompts.csv"), "w").write("\n".join(rows) + "\n")
PY

compare() {  # compare REF RUN: 0 when every result file matches
  "$PY" - "$1" "$2" <<'PY'
import json, os, re, sys
ref, run = sys.argv[1], sys.argv[2]
# The report shows each number in a span naming its summary.json key; a "timing" number (seconds,
# peak memory) is what the run spent, not what it found.
TIMING_SPAN = re.compile(rb'(<span class="num" data-key="[^"]*/timing/[^"]*">)[^<]*(</span>)')
def html(b): return TIMING_SPAN.sub(rb"\1\2", b)
def timing(k):  # what this run did and how long it took, not what it found
    return k == "timing"
def strip(j):  # timing objects out; the run's own folder read as the reference's
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
    else:  # text that names the run's folder (a CSV, the report) names the reference's once read so
        same = html(open(pa, "rb").read()) == html(open(pb, "rb").read().replace(run.encode(), ref.encode()))
    if not same: bad.append(rel)
if bad:
    print("  differs: " + ", ".join(bad[:8]), file=sys.stderr)
    sys.exit(1)
PY
}

# STAGE and its command line with OUT standing for the output folder.
stages=(
  "train|train --data $WORK/data --out OUT --preset tiny --steps $((60 * SCALE)) --batch 8 --warmup 5 --checkpoint-every 10 --seed 0"
  "train-gan|train-gan --data $WORK/data --out OUT --steps $((200 * SCALE)) --batch 8 --width 8 --z-dim 16 --checkpoint-every 20 --seed 0"
  "sample-gan|sample --model $WORK/ref-train-gan --out OUT --n $((64 * SCALE)) --shard-size 4 --batch 3 --seed 0"
  "sample|sample --model $WORK/ref-train --out OUT --n $((48 * SCALE)) --shard-size 4 --sampler ddim --steps 8 --seed 0"
  "extract|extract --generations $WORK/ref-sample --train $WORK/data --out OUT --delta 0.5"
  "extract-blackbox|extract-blackbox --model $WORK/ref-train --per-prompt $((64 * SCALE)) --sampler ddim --steps 16 --batch 4 --min-clique 3 --out OUT"
  "extract-blackbox-folders|extract-blackbox --prompts $WORK/prompts.csv --images $WORK/groups --min-clique 4 --out OUT"
  "mia|mia loss --target $WORK/ref-train --data $WORK/data --out OUT --draws 4"
  "audit|audit --run OUT --data $WORK/data --preset tiny --steps $((40 * SCALE)) --batch 8 --samples $((16 * SCALE)) --sampler ddim --sample-steps 4 --draws 2 --inpaint-targets 2 --candidates 2 --inpaint-steps 2 --seed 0 --set train.warmup_steps=5 --set train.checkpoint_every=10"
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
  # A stage left out still leaves its reference run, which later stages read.
  if [ ${#ONLY[@]} -gt 0 ] && [[ ! " ${ONLY[*]} " == *" $stage "* ]]; then continue; fi
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
