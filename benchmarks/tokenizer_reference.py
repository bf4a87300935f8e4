#!/usr/bin/env python3
"""Hugging Face `tokenizers` reference for Koinon's byte-level BPE tokenizer, side by side.

Usage (from the repository root, after `swift build -c release`):

    python3 benchmarks/tokenizer_reference.py                    # train with Koinon, compare
    python3 benchmarks/tokenizer_reference.py --skip-koinon      # HF numbers only
    python3 benchmarks/tokenizer_reference.py --tokenizer Tests/TokenizerTests/Fixtures/mixed-2k
    python3 benchmarks/tokenizer_reference.py --repeat 4 --koinon .build/release/koinon-coordinator

It prints versions, thread counts, the load average and a Markdown table for BENCHMARKS.md:
| metric | HF tokenizers | Koinon | ratio |, where ratio is always Koinon speed / HF speed
(> 1 means Koinon is faster): MB/s Koinon / MB/s HF for encoding, seconds HF / seconds Koinon
for training.

Corpus and documents (the Swift `tokenizer bench` mirrors this exactly):
  text      = the file (--input, default tiny Shakespeare) read as UTF-8, concatenated
              --repeat times (default 8) with NO separator in between (the file ends in a
              single "\\n", so the last document of one copy runs into the first of the next).
  documents = text.split("\\n\\n") -- Python str.split with a literal separator: scanned left
              to right, non-overlapping, separators dropped, empty documents kept (they encode
              to zero tokens); "a\\n\\n\\nb" gives ["a", "\\nb"].
  Every document is encoded on its own, no special tokens are added.
  bytes     = UTF-8 length of the whole repeated text (separators included); MB = 10^6 bytes.
  tokens    = sum over documents of the number of ids.

Encoding (HF): RAYON_NUM_THREADS=--threads (default 2) and TOKENIZERS_PARALLELISM=true are set
before `tokenizers` is imported; the tokenizer is loaded like the test fixtures
(ByteLevelBPETokenizer(vocab.json, merges.txt, add_prefix_space=False) +
add_special_tokens(["<|endoftext|>"])); one warm-up encode_batch on the first 1000 documents,
then whole-corpus passes of tok.encode_batch(documents) are timed (time.perf_counter) until at
least --min-seconds (default 3) have passed. MB/s = bytes * passes / seconds / 1e6.

Encoding (Koinon): `KOINON tokenizer bench --tokenizer DIR --input FILE --repeat N --json`
(KOINON = --koinon, default .build/release/koinon-coordinator); the LAST stdout line is parsed as
a JSON object with keys mb_per_second, tokens, bytes, seconds, threads. Its `tokens` must equal
HF's total for the same documents and vocabulary (checked; exit status 1 when not), and its
`bytes` should equal the bytes above (warned).

Vocabulary: --tokenizer DIR (vocab.json + merges.txt). Without it, the vocabulary that Koinon
trains in the training comparison (vocab size 4096) is used for both tools; with
--skip-koinon and no --tokenizer, the HF-trained one.

Training (wall clock of one run each, vocab size 4096, on the file itself, not repeated):
  HF:     ByteLevelBPETokenizer().train([FILE], vocab_size=4096, min_frequency=2,
                                        special_tokens=["<|endoftext|>"], show_progress=False)
          (HF reads the file line by line, keeping each "\\n", and pre-tokenizes every line
          separately. That differs from pre-tokenizing the whole text only where a whitespace
          match would cross a line end, e.g. "\\n\\n\\n", "x  \\ny" or "\\n  indented"; for
          tiny Shakespeare at vocab 4096, train([file]), train_from_iterator([text]) and
          train_from_iterator(text.split("\\n\\n")) give identical merges.)
  Koinon: `KOINON tokenizer train --input FILE --vocab-size 4096 --out TMPDIR` as a subprocess.
  The script also reports whether the two merges.txt files are identical (informational).
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECIAL = "<|endoftext|>"
VOCAB_SIZE = 4096


def parse_args():
    ap = argparse.ArgumentParser(
        description="HF tokenizers vs Koinon BPE benchmark",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--input", help="text file (default: tiny Shakespeare in shared/data)")
    ap.add_argument("--repeat", type=int, default=8, help="corpus repetitions (default 8)")
    ap.add_argument("--tokenizer", help="directory with vocab.json + merges.txt to encode with")
    ap.add_argument("--koinon", default=os.path.join(".build", "release", "koinon-coordinator"),
                    help="Koinon binary (default .build/release/koinon-coordinator)")
    ap.add_argument("--skip-koinon", action="store_true", help="only run Hugging Face")
    ap.add_argument("--threads", type=int, default=2, help="HF encode/train threads (default 2)")
    ap.add_argument("--min-seconds", type=float, default=3.0,
                    help="minimum timed seconds of HF encoding (default 3)")
    return ap.parse_args()


ARGS = parse_args()
# Must happen before `tokenizers` is imported (its Rayon pool reads them once).
os.environ["RAYON_NUM_THREADS"] = str(ARGS.threads)
os.environ["TOKENIZERS_PARALLELISM"] = "true"

import tokenizers  # noqa: E402
from tokenizers import ByteLevelBPETokenizer  # noqa: E402


def fail(msg):
    sys.stderr.write(f"error: {msg}\n")
    sys.exit(2)


def find_input(explicit):
    candidates = [explicit] if explicit else [
        os.path.join(REPO, "shared", "data", "tinyshakespeare.txt"),
        os.path.join(REPO, "..", "shared", "data", "tinyshakespeare.txt"),
        "/work/shared/data/tinyshakespeare.txt",
    ]
    for p in candidates:
        if p and os.path.isfile(p):
            return os.path.abspath(p)
    fail(f"input text not found (tried {candidates}); pass --input FILE")


def check_koinon(path):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        fail(
            f"Koinon binary not found or not executable: {path}\n"
            "       build it with `swift build -c release` (or pass --koinon PATH), "
            "or run with --skip-koinon for the Hugging Face numbers only"
        )
    return os.path.abspath(path)


def run_koinon(cmd):
    """Run a Koinon subcommand; return (wall seconds, stdout). Exits on failure."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:])
        sys.stderr.write(p.stderr[-4000:])
        fail(f"`{' '.join(cmd)}` exited with status {p.returncode}")
    return dt, p.stdout


def load(directory):
    for fn in ("vocab.json", "merges.txt"):
        if not os.path.isfile(os.path.join(directory, fn)):
            fail(f"{directory} has no {fn}")
    tok = ByteLevelBPETokenizer(
        os.path.join(directory, "vocab.json"),
        os.path.join(directory, "merges.txt"),
        add_prefix_space=False,
    )
    tok.add_special_tokens([SPECIAL])
    return tok


def read_merges(directory):
    with open(os.path.join(directory, "merges.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    return [l for l in lines if l and not l.startswith("#version")]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    input_path = find_input(ARGS.input)
    koinon = None if ARGS.skip_koinon else check_koinon(ARGS.koinon)
    if ARGS.repeat < 1:
        fail("--repeat must be >= 1")

    with open(input_path, encoding="utf-8") as f:
        raw = f.read()
    text = raw * ARGS.repeat
    docs = text.split("\n\n")
    n_bytes = len(text.encode("utf-8"))

    work = tempfile.mkdtemp(prefix="koinon-tokbench-")
    try:
        print(f"# Tokenizer benchmark: {os.path.basename(input_path)} x {ARGS.repeat} = "
              f"{n_bytes / 1e6:.2f} MB, {len(docs)} documents (split at blank lines)")
        print()
        print(f"- Python {platform.python_version()}, tokenizers {tokenizers.__version__}, "
              f"{platform.system()} {platform.machine()}, {cpu_model()}, "
              f"{os.cpu_count()} logical CPUs")
        print(f"- HF threads: RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']}, "
              f"TOKENIZERS_PARALLELISM={os.environ['TOKENIZERS_PARALLELISM']}")
        print(f"- load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        sys.stdout.flush()

        # ---- training -------------------------------------------------------------------
        hf_dir = os.path.join(work, "hf")
        os.makedirs(hf_dir)
        hf_tok = ByteLevelBPETokenizer()
        t0 = time.perf_counter()
        hf_tok.train([input_path], vocab_size=VOCAB_SIZE, min_frequency=2,
                     special_tokens=[SPECIAL], show_progress=False)
        hf_train_s = time.perf_counter() - t0
        hf_tok.save_model(hf_dir)

        ko_train_s = None
        ko_dir = None
        merges_note = None
        if koinon:
            ko_dir = os.path.join(work, "koinon")
            os.makedirs(ko_dir)
            ko_train_s, _ = run_koinon([koinon, "tokenizer", "train", "--input", input_path,
                                        "--vocab-size", str(VOCAB_SIZE), "--out", ko_dir])
            a, b = read_merges(hf_dir), read_merges(ko_dir)
            if a == b:
                merges_note = f"Koinon's and HF's merges.txt are identical ({len(a)} merges)"
            else:
                same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                merges_note = (f"merges differ: HF {len(a)}, Koinon {len(b)} merges, "
                               f"first difference at merge {same + 1}"
                               + (f" (HF {a[same]!r} vs Koinon {b[same]!r})"
                                  if same < min(len(a), len(b)) else ""))

        if ARGS.tokenizer:
            tok_dir, tok_src = os.path.abspath(ARGS.tokenizer), ARGS.tokenizer
        elif ko_dir:
            tok_dir, tok_src = ko_dir, f"trained by Koinon (vocab {VOCAB_SIZE})"
        else:
            tok_dir, tok_src = hf_dir, f"trained by HF (vocab {VOCAB_SIZE})"

        # ---- HF encoding ----------------------------------------------------------------
        tok = load(tok_dir)
        tok.encode_batch(docs[:1000])  # warm-up
        # Each encode_batch call is timed on its own; counting tokens and freeing the
        # Encoding objects happen outside the timed region.
        passes, hf_tokens, hf_seconds = 0, None, 0.0
        while hf_seconds < ARGS.min_seconds:
            t0 = time.perf_counter()
            encs = tok.encode_batch(docs)
            hf_seconds += time.perf_counter() - t0
            passes += 1
            if hf_tokens is None:
                hf_tokens = sum(len(e.ids) for e in encs)
            del encs
        hf_mbps = n_bytes * passes / hf_seconds / 1e6

        # ---- Koinon encoding ------------------------------------------------------------
        ko = None
        if koinon:
            _, out = run_koinon([koinon, "tokenizer", "bench", "--tokenizer", tok_dir,
                                 "--input", input_path, "--repeat", str(ARGS.repeat), "--json"])
            lines = [l for l in out.strip().split("\n") if l.strip()]
            if not lines:
                fail("Koinon bench printed nothing")
            try:
                ko = json.loads(lines[-1])
                for k in ("mb_per_second", "tokens", "bytes", "seconds", "threads"):
                    ko[k]
            except (ValueError, KeyError, TypeError) as e:
                fail(f"cannot parse Koinon's last stdout line as the expected JSON ({e}): "
                     f"{lines[-1][:300]!r}")

        # ---- report ---------------------------------------------------------------------
        print(f"- vocabulary: {tok_src} ({tok.get_vocab_size()} tokens incl. {SPECIAL})")
        print(f"- HF encode: {passes} timed pass(es) of encode_batch over {len(docs)} documents "
              f"in {hf_seconds:.2f} s, {hf_tokens} tokens per pass")
        if ko is not None:
            print(f"- Koinon encode: threads={ko['threads']}, {ko['tokens']} tokens, "
                  f"{ko['bytes']} bytes in {ko['seconds']:.3f} s")
        if merges_note:
            print(f"- training: {merges_note}")
        print(f"- load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print()

        def ratio(x):
            return f"{x:.2f}x" if x is not None else "-"

        rows = [
            ("encode throughput (MB/s)", f"{hf_mbps:.2f}",
             f"{ko['mb_per_second']:.2f}" if ko else "-",
             ratio(ko["mb_per_second"] / hf_mbps) if ko else "-"),
            ("encode throughput (M tokens/s)", f"{hf_tokens * passes / hf_seconds / 1e6:.3f}",
             f"{ko['tokens'] / ko['seconds'] / 1e6:.3f}" if ko else "-",
             ratio((ko["tokens"] / ko["seconds"]) / (hf_tokens * passes / hf_seconds))
             if ko else "-"),
            ("tokens (whole corpus)", f"{hf_tokens}", f"{ko['tokens']}" if ko else "-",
             ("equal" if ko["tokens"] == hf_tokens else "MISMATCH") if ko else "-"),
            (f"train vocab {VOCAB_SIZE} on {os.path.basename(input_path)} (s)",
             f"{hf_train_s:.2f}", f"{ko_train_s:.2f}" if ko_train_s is not None else "-",
             ratio(hf_train_s / ko_train_s) if ko_train_s else "-"),
        ]
        print("| metric | HF tokenizers | Koinon | ratio |")
        print("|---|---:|---:|---:|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        print()
        print(f"HF: {ARGS.threads} threads (RAYON_NUM_THREADS); "
              f"Koinon: {ko['threads'] if ko else '-'} threads. "
              "ratio = Koinon speed / HF speed (> 1: Koinon faster).")

        status = 0
        if ko is not None:
            if ko["tokens"] != hf_tokens:
                print(f"\nERROR: token count mismatch: HF {hf_tokens}, Koinon {ko['tokens']}")
                status = 1
            if ko["bytes"] != n_bytes:
                print(f"\nWARNING: Koinon reports {ko['bytes']} bytes, expected {n_bytes}")
        sys.exit(status)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
