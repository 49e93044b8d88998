#!/usr/bin/env bash
# Strong scaling of the MPI ranks on this machine: `sample` and `extract`, the same work on one
# rank and on two (`mpirun -np 1` against `-np 2`, one thread per rank, both under mpirun so that
# start-up costs alike), in one run; and extract's merge — rank 0's pass over the shards the ranks
# computed, writing matches.csv, extracted.csv, summary.json and pairs.png — timed alone as a rerun
# over a full shard cache, as a fraction of the one-rank stage; and extract with the training set
# split across the two ranks (--split-train), with rank 0's peak RSS against the unsplit run's
# (summary.json timing.peak_rss_bytes). Prints a markdown table.
#   bench/mpi_scaling.sh [WORK_DIR]   (DIFFMEM=path/to/diffmem; N_GEN images sampled, default 2048;
#        N_EXTRACT random generations searched, default 8192, among N_TRAIN random training images,
#        default 20000; REPEAT runs each, the best kept, default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${1:-}" ]; then WORK=$1; else WORK=$(mktemp -d /tmp/diffmem-mpibench.XXXXXX); trap 'rm -rf "$WORK"' EXIT; fi
BIN=$(realpath "${DIFFMEM:-build/diffmem}")
PY=${PYTHON:-python3}
N_GEN=${N_GEN:-2048}
N_EXTRACT=${N_EXTRACT:-8192}
N_TRAIN=${N_TRAIN:-20000}
REPEAT=${REPEAT:-2}
MPIRUN=(mpirun --oversubscribe --allow-run-as-root --bind-to none)
mkdir -p "$WORK"

# Training data: N_TRAIN random 32×32×3 images (CIFAR-shaped), ids 0..N-1; generations to search:
# N_EXTRACT random images in shards of 512, as `diffmem sample` writes them.
"$PY" - "$WORK/train" "$N_TRAIN" "$WORK/gen" "$N_EXTRACT" <<'PY'
import json, os, struct, sys, random
d, n, g, m = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def npy(path, descr, shape, data):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, ", ".join(map(str, shape)) + ("," if len(shape) == 1 else ""))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data)
if not os.path.exists(os.path.join(g, "seeds-00000.npy")):
    os.makedirs(g, exist_ok=True)
    rng = random.Random(1)
    for s in range((m + 511) // 512):
        k = min(512, m - 512 * s)
        npy(os.path.join(g, "images-%05d.npy" % s), "|u1", (k, 32, 32, 3), rng.randbytes(k * 32 * 32 * 3))
        npy(os.path.join(g, "seeds-%05d.npy" % s), "<i8", (k,), b"".join(struct.pack("<q", 512 * s + i) for i in range(k)))
if not os.path.exists(os.path.join(d, "manifest.json")):
    os.makedirs(d, exist_ok=True)
    npy(os.path.join(d, "images.npy"), "|u1", (n, 32, 32, 3), random.Random(0).randbytes(n * 32 * 32 * 3))
    npy(os.path.join(d, "labels.npy"), "<i8", (n,), bytes(8 * n))
    npy(os.path.join(d, "ids.npy"), "<i8", (n,), b"".join(struct.pack("<q", i) for i in range(n)))
    json.dump({"source": "mpi_scaling", "shape": [n, 32, 32, 3], "count": n}, open(os.path.join(d, "manifest.json"), "w"))
PY
[ -d "$WORK/model" ] || "$BIN" --quiet --threads 1 train --data "$WORK/train" --out "$WORK/model" --preset tiny \
  --steps 2 --batch 4 --warmup 1 --seed 0 >/dev/null

best() {  # best NAME -- command: the shortest of REPEAT runs, in seconds (outputs removed before each)
  local name=$1 t b=""
  shift 2
  for _ in $(seq 1 "$REPEAT"); do
    rm -rf "$WORK/out-$name"
    t=$("$PY" -c 'import subprocess, sys, time; t = time.time(); subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); print(time.time() - t)' "$@")
    b=$("$PY" -c "print(min(float('$t'), float('${b:-inf}')))")
  done
  echo "$b"
}
S="sample --model $WORK/model --n $N_GEN --shard-size 256 --sampler ddim --steps 2 --batch 64 --seed 0"
E="extract --generations $WORK/gen --train $WORK/train --delta 0.1"
s1=$(best s1 -- "${MPIRUN[@]}" -np 1 "$BIN" --quiet --threads 1 $S --out "$WORK/out-s1")
s2=$(best s2 -- "${MPIRUN[@]}" -np 2 "$BIN" --quiet --threads 1 $S --out "$WORK/out-s2")
e1=$(best e1 -- "${MPIRUN[@]}" -np 1 "$BIN" --quiet --threads 1 $E --out "$WORK/out-e1")
e2=$(best e2 -- "${MPIRUN[@]}" -np 2 "$BIN" --quiet --threads 1 $E --out "$WORK/out-e2")
e2s=$(best e2s -- "${MPIRUN[@]}" -np 2 "$BIN" --quiet --threads 1 $E --split-train --out "$WORK/out-e2s")
rss() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["timing"]["peak_rss_bytes"] / 2**20)' "$1/summary.json"; }
r2=$(rss "$WORK/out-e2")
r2s=$(rss "$WORK/out-e2s")
cmp -s "$WORK/out-e2/matches.csv" "$WORK/out-e2s/matches.csv" || { echo "mpi_scaling: --split-train's matches.csv differs" >&2; exit 1; }
# The merge alone: the same one-rank run over the cache the two ranks left.
"${MPIRUN[@]}" -np 2 "$BIN" --quiet --threads 1 $E --out "$WORK/merge" >/dev/null
m=1e9
for _ in $(seq 1 "$REPEAT"); do
  t=$("$PY" -c 'import subprocess, sys, time; t = time.time(); subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); print(time.time() - t)' \
      "${MPIRUN[@]}" -np 1 "$BIN" --quiet --threads 1 $E --out "$WORK/merge")
  m=$("$PY" -c "print(min($t, $m))")
done
"$PY" - "$s1" "$s2" "$e1" "$e2" "$m" "$N_GEN" "$N_TRAIN" "$N_EXTRACT" "$e2s" "$r2" "$r2s" <<'PY'
import sys
s1, s2, e1, e2, m = map(float, sys.argv[1:6]); n_gen, n_train, n_extract = sys.argv[6:9]
e2s, r2, r2s = map(float, sys.argv[9:12])
print("| stage | 1 rank (s) | 2 ranks (s) | speed-up | rerun over the full cache (bounds the merge) / 1-rank stage |")
print("|---|---|---|---|---|")
print(f"| sample {n_gen} images (tiny U-Net, DDIM 2 steps, 32×32) | {s1:.2f} | {s2:.2f} | {s1 / s2:.2f}× | — |")
print(f"| extract {n_extract} generations against {n_train} images | {e1:.2f} | {e2:.2f} | {e1 / e2:.2f}× | {m:.2f} s = {100 * m / e1:.0f}% |")
print(f"| the same, `--split-train` (rank 0's peak RSS {r2s:.0f} MiB against {r2:.0f} MiB unsplit) | {e1:.2f} | {e2s:.2f} | {e1 / e2s:.2f}× | — |")
PY
