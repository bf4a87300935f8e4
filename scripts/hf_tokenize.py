#!/usr/bin/env python3
"""Encode strings with Hugging Face `tokenizers` using a GPT-2 style vocab.json + merges.txt.

    python3 scripts/hf_tokenize.py TOKENIZER_DIR < input.json > output.json

input.json: a JSON list of strings. output.json: a JSON list of token id lists, one per input
string, in order (one line, no trailing spaces, newline at the end).

The tokenizer is loaded exactly as scripts/make_tokenizer_fixtures.py loads its fixtures:

    tok = tokenizers.ByteLevelBPETokenizer(DIR/vocab.json, DIR/merges.txt, add_prefix_space=False)
    tok.add_special_tokens(["<|endoftext|>"])
    ids = tok.encode(text).ids

(no normalizer, ByteLevel pre-tokenizer with the GPT-2 regex, no prefix space, no dropout; a
literal "<|endoftext|>" in the text becomes its single id, which must exist in vocab.json —
otherwise HF appends it as a new id = vocab size, and this script exits with status 2).

Exit status: 0 on success, 1 when `tokenizers` is not installed (the message on stderr starts
with "tokenizers not installed"), 2 on bad arguments or input.
"""

import json
import os
import sys


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        sys.exit(2)
    directory = sys.argv[1]
    try:
        from tokenizers import ByteLevelBPETokenizer
    except ImportError as e:  # pragma: no cover
        sys.stderr.write(f"tokenizers not installed ({e}); pip install tokenizers\n")
        sys.exit(1)

    vocab = os.path.join(directory, "vocab.json")
    merges = os.path.join(directory, "merges.txt")
    for p in (vocab, merges):
        if not os.path.isfile(p):
            sys.stderr.write(f"missing {p}\n")
            sys.exit(2)

    data = sys.stdin.buffer.read().decode("utf-8")
    try:
        texts = json.loads(data)
    except json.JSONDecodeError as e:
        sys.stderr.write(f"input is not JSON: {e}\n")
        sys.exit(2)
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        sys.stderr.write("input must be a JSON list of strings\n")
        sys.exit(2)

    with open(vocab, encoding="utf-8") as f:
        vocab_size = len(json.load(f))
    tok = ByteLevelBPETokenizer(vocab, merges, add_prefix_space=False)
    tok.add_special_tokens(["<|endoftext|>"])
    special_id = tok.token_to_id("<|endoftext|>")
    if special_id is None or special_id >= vocab_size:
        sys.stderr.write("<|endoftext|> is not in vocab.json\n")
        sys.exit(2)

    # encode() rather than encode_batch(): same ids, and no thread pool for a few strings.
    out = [tok.encode(t).ids for t in texts]
    sys.stdout.write(json.dumps(out, separators=(",", ":")))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
