#!/usr/bin/env python3
"""Reference data for diffmem's CLIP tokenizer (src/model/clip_tokenizer*.cpp).

The reference is transformers' slow, pure-Python `CLIPTokenizer` (transformers 4.x; 5.x replaced it
by the Rust-backed one) with ftfy installed, so its text cleanup is `ftfy.fix_text`, as for most
diffusers users. Setup and run (no torch needed):

    python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install "transformers<5" ftfy regex tokenizers
    python3 -m pip download open-clip-torch --no-deps -d /tmp/oc
    (cd /tmp/oc && unzip -o open_clip_torch-*.whl open_clip/bpe_simple_vocab_16e6.txt.gz)
    /tmp/tokvenv/bin/python tests/reference/make_clip_tokenizer_vectors.py \
        --bpe /tmp/oc/open_clip/bpe_simple_vocab_16e6.txt.gz

It writes, in tests/reference/model/clip_tokenizer/ (from seed_strings.json there):
  vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json   an SD 1.x tokenizer/
  sd2/tokenizer_config.json, sd2/special_tokens_map.json                   SD 2.x configs (pad "!")
  small_json/tokenizer.json           a 2,000-merge tokenizer as CLIPTokenizerFast saves it
  small_files/vocab.json, merges.txt  the same tokenizer as vocab.json + merges.txt
  vectors.jsonl   one case a line: {"set": sd1|sd2|small, "text", or "hex" (raw bytes, for input
                  that is not UTF-8), "ids", ["padded"], and where ftfy's mojibake repair changes
                  the ids, "fix_encoding": true with "ids[/padded]_without_fix_encoding"}
The C++ side's Unicode and ftfy tables (src/model/clip_tokenizer_tables_*.cpp) come from the same
Python, regex and ftfy, by make_clip_tokenizer_tables.py beside this script.
"""
import argparse, codecs, functools, gzip, json, os, random, shutil, sys, tempfile

import ftfy
import ftfy.bad_codecs  # noqa: F401  (registers sloppy-windows-1252)
import ftfy.chardata as chardata
import regex
import transformers
from transformers import CLIPTokenizer, CLIPTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "model", "clip_tokenizer")
SEED = 20240531
SEEDS = json.load(open(os.path.join(OUT, "seed_strings.json"), encoding="utf-8"))
WORDS, EMOJI, SCRIPTS, ODD = SEEDS["words"].split(), SEEDS["emoji"], SEEDS["scripts"], SEEDS["odd"]
ALL_SCRIPTS = sum(SCRIPTS.values(), [])


# ---- tokenizer files ---------------------------------------------------------------------------
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def vocab_and_merges(bpe_gz, n_merges=None):
    """openai/CLIP's construction (open_clip/tokenizer.py): merges are lines 1..48894 of the gz;
    vocab = byte symbols, the same + </w>, merge results, <|startoftext|>, <|endoftext|>."""
    merges = gzip.open(bpe_gz).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1][:n_merges]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == len(set(vocab))
    return {v: i for i, v in enumerate(vocab)}, merges


def write_vocab_files(folder, vocab, merges):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")


def dump_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def added(content, normalized=True, **extra):
    return dict(content=content, lstrip=False, normalized=normalized, rstrip=False, single_word=False, **extra)


def write_configs():
    # SD 1.x (CompVis/stable-diffusion-v1-4 tokenizer/): legacy files without added_tokens_decoder
    tok = lambda c: dict({"__type": "AddedToken"}, **added(c))  # noqa: E731
    dump_json(os.path.join(OUT, "tokenizer_config.json"), {
        "add_prefix_space": False, "bos_token": tok("<|startoftext|>"), "do_lower_case": True,
        "eos_token": tok("<|endoftext|>"), "errors": "replace", "model_max_length": 77,
        "name_or_path": "openai/clip-vit-large-patch14", "pad_token": "<|endoftext|>",
        "special_tokens_map_file": "./special_tokens_map.json", "tokenizer_class": "CLIPTokenizer",
        "unk_token": tok("<|endoftext|>")})
    dump_json(os.path.join(OUT, "special_tokens_map.json"), {
        "bos_token": added("<|startoftext|>"), "eos_token": added("<|endoftext|>"),
        "pad_token": "<|endoftext|>", "unk_token": added("<|endoftext|>")})
    # SD 2.x (stabilityai/stable-diffusion-2-1 tokenizer/) as transformers >= 4.34 saves it
    dump_json(os.path.join(OUT, "sd2", "tokenizer_config.json"), {
        "add_prefix_space": False,
        "added_tokens_decoder": {"0": added("!", False, special=True),
                                 "49406": added("<|startoftext|>", special=True),
                                 "49407": added("<|endoftext|>", False, special=True)},
        "bos_token": "<|startoftext|>", "clean_up_tokenization_spaces": True, "do_lower_case": True,
        "eos_token": "<|endoftext|>", "errors": "replace", "model_max_length": 77, "pad_token": "!",
        "tokenizer_class": "CLIPTokenizer", "unk_token": "<|endoftext|>"})
    dump_json(os.path.join(OUT, "sd2", "special_tokens_map.json"), {
        "bos_token": added("<|startoftext|>"), "eos_token": added("<|endoftext|>", False),
        "pad_token": added("!", False), "unk_token": added("<|endoftext|>", False)})


def write_small(bpe_gz):
    files = os.path.join(OUT, "small_files")
    write_vocab_files(files, *vocab_and_merges(bpe_gz, 2000))
    paths = os.path.join(files, "vocab.json"), os.path.join(files, "merges.txt")
    with tempfile.TemporaryDirectory() as tmp:
        CLIPTokenizerFast(*paths).save_pretrained(tmp)
        os.makedirs(os.path.join(OUT, "small_json"), exist_ok=True)
        shutil.copy(os.path.join(tmp, "tokenizer.json"), os.path.join(OUT, "small_json"))
    return CLIPTokenizer(*paths)


# ---- test strings (deterministic) --------------------------------------------------------------
def laion_caption(rng):
    words = [rng.choice(WORDS) for _ in range(rng.randint(3, 25))]
    for i in range(len(words)):
        r = rng.random()
        words[i] = words[i].capitalize() if r < 0.15 else words[i].upper() if r < 0.18 else words[i]
    text = " ".join(words)
    extras = [lambda: f" {rng.randint(1, 2024)}", lambda: f" ${rng.randint(1, 999)}.{rng.randint(0, 99):02d}",
              lambda: f" {rng.randint(8, 40)}x{rng.randint(8, 60)}", lambda: " - " + rng.choice(WORDS),
              lambda: ", " + rng.choice(WORDS), lambda: " | " + rng.choice(WORDS).title(),
              lambda: " #" + rng.choice(WORDS), lambda: " " + rng.choice(EMOJI),
              lambda: " (" + rng.choice(WORDS) + ")", lambda: rng.choice(["!", "?", "...", "!!", "."]),
              lambda: " " + rng.choice(ALL_SCRIPTS), lambda: " " + rng.choice(ODD)]
    for _ in range(rng.randint(0, 4)):
        text += rng.choice(extras)()
    return text


def random_soup(rng):
    blocks = [(0x20, 0x7e), (0xa0, 0x24f), (0x370, 0x3ff), (0x400, 0x4ff), (0x590, 0x6ff), (0x900, 0x97f),
              (0xe00, 0xe7f), (0x1100, 0x11ff), (0x1e00, 0x1fff), (0x2000, 0x206f), (0x2100, 0x24ff),
              (0x3000, 0x30ff), (0x4e00, 0x4fff), (0xac00, 0xacff), (0xfb00, 0xfb4f), (0xfe00, 0xfe6f),
              (0xff00, 0xffef), (0x1d400, 0x1d7ff), (0x1f300, 0x1faff), (0x0, 0x1f), (0x80, 0x9f), (0x300, 0x36f)]
    out = []
    for _ in range(rng.randint(1, 30)):
        lo, hi = rng.choice(blocks)
        out.append(chr(rng.randint(lo, hi)))
        if rng.random() < 0.2:
            out.append(" ")
    return "".join(out)


def whitespace_mess(rng):
    ws = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2003", "\x0b", "\x0c", "\u1680", "\u202f"]
    words = [rng.choice(WORDS + ALL_SCRIPTS) for _ in range(rng.randint(1, 8))]
    return rng.choice(["", " ", "\t"]) + "".join(w + rng.choice(ws) for w in words)


def punctuation_run(rng):
    chars = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~" + "…—–‘’“”«»¡¿§¶•·°±×÷" + "aZ09 "
    return "".join(rng.choice(chars) for _ in range(rng.randint(1, 20)))


def digits(rng):
    forms = [lambda: str(rng.randint(0, 10 ** rng.randint(1, 12))), lambda: f"{rng.random() * 1000:.3f}",
             lambda: f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/{rng.randint(1990, 2030)}",
             lambda: "".join(rng.choice("0123456789٠١٢٣४५๖໗") for _ in range(rng.randint(1, 8))),
             lambda: f"{rng.randint(1, 99)}{rng.choice(['k', 'M', 'px', 'mm', '°C', '%', 'th', 'x'])}"]
    return " ".join(rng.choice(forms)() for _ in range(rng.randint(1, 6)))


def contractions(rng):
    base = ["it's", "don't", "we're", "they've", "I'm", "you'll", "she'd", "IT'S", "DON'T", "We'Re",
            "rock'n'roll", "o'clock", "'tis", "y'all'd've", "don’t", "it‘s", "''", "'", "dogs'", "'s"]
    return " ".join(rng.choice(base) for _ in range(rng.randint(1, 6)))


def long_caption(rng):
    parts = [laion_caption(rng) for _ in range(rng.randint(4, 10))]
    return rng.choice([", ", ". ", " ", "; "]).join(parts)


def special_mix(rng):
    tokens = ["<|endoftext|>", "<|startoftext|>", "<|ENDOFTEXT|>", "<|endoftext", "!", "!!", " ", "a",
              "photo", "<", "|", ">", "&lt;|endoftext|&gt;", "\n"]
    return "".join(rng.choice(tokens) for _ in range(rng.randint(1, 10)))


def make_strings():
    rng = random.Random(SEED)
    cases = ALL_SCRIPTS + ODD + EMOJI + [" ".join(EMOJI)]
    for maker, count in [(laion_caption, 900), (long_caption, 200), (random_soup, 250), (whitespace_mess, 150),
                         (punctuation_run, 150), (digits, 120), (contractions, 100), (special_mix, 100)]:
        cases += [maker(rng) for _ in range(count)]
    cases += [bytes.fromhex(h) for h in SEEDS["bytes_hex"]]  # not UTF-8: raw bytes for the C++
    cases += [bytes.fromhex(h).decode("utf-8", "surrogatepass") for h in SEEDS["surrogates_hex"]]
    # every ftfy table entry once: HTML entities (also upper-cased), widths, ligatures
    entities = sorted(chardata.HTML_ENTITIES)
    cases += [" ".join(entities[i:i + 12]) for i in range(0, len(entities), 12)]
    cases += [" ".join(e.upper() for e in entities[i:i + 40]) for i in range(0, len(entities), 40)]
    chars = [chr(c) for c in sorted(chardata.WIDTH_MAP) + sorted(chardata.LIGATURES)]
    cases += ["x" + "x".join(chars[i:i + 16]) for i in range(0, len(chars), 16)]
    return list(dict.fromkeys(cases))


def surrogate_decode(data):
    """UTF-8 decoding as diffmem's C++ does it: a 3-byte encoding of a surrogate (CESU-8) gives the
    surrogate (as a Python str may hold it); any other invalid run one U+FFFD per maximal invalid
    subpart, as Python's errors="replace"."""
    def handler(e):
        b, s = e.object, e.start
        if b[s] == 0xED and s + 2 < len(b) and 0xA0 <= b[s + 1] <= 0xBF and 0x80 <= b[s + 2] <= 0xBF:
            return chr(((b[s] & 0x0F) << 12) | ((b[s + 1] & 0x3F) << 6) | (b[s + 2] & 0x3F)), s + 3
        return "\ufffd", e.end
    codecs.register_error("diffmem_clip", handler)
    return data.decode("utf-8", "diffmem_clip")


# ---- vectors -----------------------------------------------------------------------------------
def case_record(case):
    if isinstance(case, bytes):
        return surrogate_decode(case), {"hex": case.hex()}
    try:
        case.encode("utf-8")
        return case, {"text": case}
    except UnicodeEncodeError:  # lone surrogates
        return case, {"hex": case.encode("utf-8", "surrogatepass").hex()}


def encode(tok, text, padded=False):
    if padded:
        return tok(text, padding="max_length", max_length=77, truncation=True)["input_ids"]
    return tok(text)["input_ids"]


def write_vectors(sd1, sd1_plain, sd2, sd2_plain, small):
    assert sd1.fix_text is ftfy.fix_text, "the reference must run with ftfy installed"
    for t in (sd1_plain, sd2_plain):  # what diffmem does: everything but the mojibake repair
        t.fix_text = functools.partial(ftfy.fix_text, fix_encoding=False)
    rng = random.Random(SEED + 1)
    lines, stats = [], dict(sd1=0, sd2=0, small=0, fix_encoding=0, long=0)
    for i, case in enumerate(make_strings()):
        text, rec = case_record(case)
        out = dict(set="sd1", **rec, ids=encode(sd1, text))
        stats["long"] += len(out["ids"]) > 77
        if len(out["ids"]) > 77 or rng.random() < 0.06:
            out["padded"] = encode(sd1, text, True)
        plain = encode(sd1_plain, text)
        if plain != out["ids"]:
            out.update(fix_encoding=True, ids_without_fix_encoding=plain)
            stats["fix_encoding"] += 1
        lines.append(out)
        stats["sd1"] += 1
        if i % 10 == 0 or "!" in text:
            line = dict(set="sd2", **rec, ids=encode(sd2, text), padded=encode(sd2, text, True))
            if "fix_encoding" in out:
                line.update(fix_encoding=True, ids_without_fix_encoding=encode(sd2_plain, text),
                            padded_without_fix_encoding=encode(sd2_plain, text, True))
            lines.append(line)
            stats["sd2"] += 1
        if i % 8 == 0 and "fix_encoding" not in out:
            lines.append(dict(set="small", **rec, ids=encode(small, text), padded=encode(small, text, True)))
            stats["small"] += 1
    with open(os.path.join(OUT, "vectors.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines)
    print("vectors:", stats)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bpe", required=True, help="open_clip's bpe_simple_vocab_16e6.txt.gz")
    args = ap.parse_args()
    assert transformers.__version__.split(".")[0] == "4", "needs transformers 4.x (the slow CLIPTokenizer)"
    vocab, merges = vocab_and_merges(args.bpe)
    assert len(vocab) == 49408 and len(merges) == 48894
    write_vocab_files(OUT, vocab, merges)
    write_configs()
    with tempfile.TemporaryDirectory() as tmp:  # the SD 2.x configs beside the same vocabulary
        for name in ["vocab.json", "merges.txt", "sd2/tokenizer_config.json", "sd2/special_tokens_map.json"]:
            shutil.copy(os.path.join(OUT, name), tmp)
        sd2, sd2_plain = CLIPTokenizer.from_pretrained(tmp), CLIPTokenizer.from_pretrained(tmp)
    sd1, sd1_plain = CLIPTokenizer.from_pretrained(OUT), CLIPTokenizer.from_pretrained(OUT)
    assert sd2.pad_token == "!" and sd2.pad_token_id == 0 and sd1.pad_token_id == 49407
    write_vectors(sd1, sd1_plain, sd2, sd2_plain, write_small(args.bpe))
    print("transformers", transformers.__version__, "ftfy", ftfy.__version__, "regex", regex.__version__,
          "python", sys.version.split()[0])


if __name__ == "__main__":
    main()
