#!/usr/bin/env python3
"""Loads a checkpoint directory with transformers and prints its eval loss as JSON.

    python3 scripts/transformers_eval.py CHECKPOINT_DIR TOKENS_FILE

TOKENS_FILE holds one sequence of token ids per line (spaces between ids), the
format of `koinon-worker model eval`. Each line runs alone through
GPTNeoForCausalLM in float32; the result is {"loss": mean next-token cross
entropy over all predicted positions, "tokens": number of those positions}.
Used by the tests to check that checkpoints Koinon writes load in transformers.
"""
import json
import sys

import torch
import torch.nn.functional as F
from transformers import GPTNeoForCausalLM


def main() -> None:
    ckpt, tokens_path = sys.argv[1], sys.argv[2]
    model = GPTNeoForCausalLM.from_pretrained(ckpt, dtype=torch.float32).eval()
    total, count = 0.0, 0
    with open(tokens_path) as f, torch.no_grad():
        for line in f:
            ids = [int(x) for x in line.split()]
            if len(ids) < 2:
                continue
            x = torch.tensor([ids])
            logits = model(x).logits[0, :-1].double()
            total += F.cross_entropy(logits, x[0, 1:], reduction="sum").item()
            count += len(ids) - 1
    print(json.dumps({"loss": total / count, "tokens": count}))


if __name__ == "__main__":
    main()
