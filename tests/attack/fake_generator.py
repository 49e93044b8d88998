#!/usr/bin/python3
"""A stand-in for an image generator, driven by `diffmem extract-blackbox --generator-cmd`.

  fake_generator.py --prompt P --seed S --out FILE [--size 32] [--argv-dir DIR] [--fail-once DIR]

Prompts containing "memorized" give near-copies of one fixed image per prompt (each pixel moved by
at most 3/255, seeded by --seed); any other prompt gives a fresh random image of 4x4-pixel colour
blocks for every seed. Prompts containing "always-fail" exit 1 without writing.
--argv-dir DIR: writes DIR/<seed>.json holding this process's argv (so a test can check that the
prompt arrived byte for byte). --fail-once DIR: the first run for each (prompt, seed) exits 2
without writing and leaves a marker in DIR; the next succeeds. Standard library only.
"""
import hashlib
import json
import os
import random
import struct
import sys
import zlib


def png_bytes(width, height, rgb):
    raw = b"".join(b"\x00" + bytes(rgb[y * width * 3:(y + 1) * width * 3]) for y in range(height))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def blocks(rng, size):
    colours = {}
    out = []
    for y in range(size):
        for x in range(size):
            key = (y // 4, x // 4)
            if key not in colours:
                colours[key] = [rng.randrange(256) for _ in range(3)]
            out.extend(colours[key])
    return out


def main(argv):
    args = {"--size": "32"}
    i = 0
    while i < len(argv):
        if argv[i] not in ("--prompt", "--seed", "--out", "--size", "--argv-dir", "--fail-once") or i + 1 >= len(argv):
            print("fake_generator: bad arguments", argv, file=sys.stderr)
            return 64
        args[argv[i]] = argv[i + 1]
        i += 2
    prompt, seed, out, size = args["--prompt"], int(args["--seed"]), args["--out"], int(args["--size"])
    if "--argv-dir" in args:
        with open(os.path.join(args["--argv-dir"], "%d.json" % seed), "w") as f:
            json.dump(sys.argv, f)
    if "always-fail" in prompt:
        print("fake_generator: refusing", file=sys.stderr)
        return 1
    if "--fail-once" in args:
        digest = hashlib.sha256(prompt.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        marker = os.path.join(args["--fail-once"], "%s-%d" % (digest, seed))
        if not os.path.exists(marker):
            open(marker, "w").close()
            print("fake_generator: failing once on purpose", file=sys.stderr)
            return 2
    prompt_key = int(hashlib.sha256(prompt.encode("utf-8", "surrogateescape")).hexdigest()[:15], 16)
    if "memorized" in prompt:
        base = blocks(random.Random(prompt_key), size)
        noise = random.Random(seed)
        pixels = [min(255, max(0, v + noise.randint(-3, 3))) for v in base]
    else:
        pixels = blocks(random.Random(prompt_key * 1000003 + seed), size)
    with open(out, "wb") as f:
        f.write(png_bytes(size, size, pixels))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
