# Shared by scripts/kill-trials.sh and scripts/mpi-trials.sh (sourced; needs PY): the fixture
# they run on, and the comparison of two runs' result folders.
# The fixture: 24 rows of 16×16 noise images (8 distinct, each 3 times), members.npy marking the
# copies of 4 of them; the train stage's reference model is what sample and mia then read.
make_fixture() {  # make_fixture WORK
"$PY" - "$1" <<'PY'
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
}

compare() {  # compare REF RUN [resumed]: 0 when every result file matches
  "$PY" - "$1" "$2" "${3:-}" <<'PY'
import json, os, re, sys
ref, run, resumed = sys.argv[1], sys.argv[2], sys.argv[3] == "resumed"
# The report shows each number in a span naming its summary.json key; a "timing" number (seconds,
# peak memory) is what the run spent, not what it found.
TIMING_SPAN = re.compile(rb'(<span class="num" data-key="[^"]*/timing/[^"]*">)[^<]*(</span>)')
def html(b): return TIMING_SPAN.sub(rb"\1\2", b)
# A resumed run also counts only the generations it made itself (extract-blackbox's "generator"
# tally and "generation_unet_images_this_run"), not those of the run it resumed.
THIS_RUN = {"generator", "generation_unet_images_this_run"}
def timing(k):  # what this run did and how long it took, not what it found
    return k == "timing" or (resumed and k in THIS_RUN)
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

