#!/usr/bin/env python3
"""Regenerate the PyTorch / Hugging Face reference fixtures for Koinon's Swift tests.

Run from the repository root (CPU only, needs torch, transformers, safetensors):

    python3 scripts/make_fixtures.py

Everything is deterministic (fixed seeds, float32, one thread). The script DELETES and
rewrites these directories:

  Tests/NeoModelTests/Fixtures/train/<case>/   training reference, cases `mixed`, `local3`
      config.json, model.safetensors   initial checkpoint, as written by save_pretrained
      reference.json                   {"input_ids": [[int]] (B x T),
                                        "targets": [[int]] (B x T; next token, -100 = ignored),
                                        "loss": float, "grad_norm": float,
                                        "adamw": {"lr", "beta1", "beta2", "eps",
                                                  "weight_decay", "max_grad_norm"},
                                        "train_losses": [10 floats]}
      reference.safetensors            float32 tensors:
                                        "logits"        [B, T, V] from the initial weights
                                        "grad.<name>"   gradient of `loss` (first backward,
                                                        before clipping) for every
                                                        model.named_parameters() name
                                        "step1.<name>"  parameter value after the first
                                                        AdamW step

  Tests/NeoModelTests/Fixtures/eval/<case>/    evaluation reference, several random models
      config.json, model.safetensors   checkpoint as written by save_pretrained (float32,
                                       except cases `fp16` / `bf16`, saved as float16 /
                                       bfloat16)
      tokens.txt                       3-6 lines of space-separated token ids
      expected.json                    {"loss": L, "tokens": N}: N = sum over lines of
                                       (len - 1); L = (sum over lines of the summed
                                       next-token cross entropy of that line run alone
                                       through GPTNeoForCausalLM in float32) / N

Training semantics (what the Swift trainer has to reproduce):
  loss = F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-100), i.e. the
  mean over non-ignored positions, where targets[b][t] = input_ids[b][t+1] for t < T-1,
  -100 at t = T-1, plus 3 more random positions (in total) set to -100.
  Each of the 10 iterations (same batch every time): forward, record loss, backward,
  clip_grad_norm_(all params, 1.0), AdamW step, zero_grad. AdamW = torch.optim.AdamW
  (lr 3e-3, betas (0.9, 0.95), eps 1e-8, foreach=False, constant lr) with two groups:
  p.dim() >= 2 -> weight_decay 0.1 (this includes wte and wpe), otherwise weight_decay 0.0.
  grad_norm is the return value of clip_grad_norm_ on the first backward (the total L2 norm
  before clipping).

Notes on the Hugging Face side:
  * lm_head.weight is tied to transformer.wte.weight. named_parameters() deduplicates shared
    parameters, so there is no "grad.lm_head.weight"; "grad.transformer.wte.weight" holds the
    sum of the embedding and the output-projection gradient (the script asserts the tie).
  * save_pretrained writes neither lm_head.weight (tied) nor the attn.attention.bias causal
    mask buffers (non-persistent) into model.safetensors.
  * bos_token_id / eos_token_id are set to vocab_size - 1 (HF's default 50256 would be out of
    range for these tiny vocabularies and only triggers warnings).
"""

import json
import math
import os
import shutil
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import GPTNeoConfig, GPTNeoForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "NeoModelTests", "Fixtures")
TRAIN_DIR = os.path.join(FIXTURES, "train")
EVAL_DIR = os.path.join(FIXTURES, "eval")

ADAMW = {
    "lr": 3e-3,
    "beta1": 0.9,
    "beta2": 0.95,
    "eps": 1e-8,
    "weight_decay": 0.1,
    "max_grad_norm": 1.0,
}
TRAIN_ITERATIONS = 10


def make_config(**kw):
    vocab = kw["vocab_size"]
    base = dict(
        activation_function="gelu_new",
        embed_dropout=0.0,
        attention_dropout=0.0,
        resid_dropout=0.0,
        bos_token_id=vocab - 1,
        eos_token_id=vocab - 1,
    )
    base.update(kw)
    return GPTNeoConfig(**base)


def save_checkpoint(model, directory):
    # transformers >= 5 always writes safetensors (the safe_serialization argument is gone).
    try:
        model.save_pretrained(directory, safe_serialization=True)
    except TypeError:
        model.save_pretrained(directory)
    assert os.path.isfile(os.path.join(directory, "model.safetensors")), directory
    assert os.path.isfile(os.path.join(directory, "config.json")), directory


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def reset_dir(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)


# ----------------------------------------------------------------------------------------
# Training cases
# ----------------------------------------------------------------------------------------

TRAIN_CASES = [
    dict(
        name="mixed",
        seed=1234,
        batch=2,
        seq=12,
        config=dict(
            vocab_size=97,
            hidden_size=32,
            num_layers=2,
            num_heads=4,
            attention_types=[[["global", "local"], 1]],
            window_size=5,
            max_position_embeddings=16,
            intermediate_size=None,
            layer_norm_epsilon=1e-5,
            initializer_range=0.2,
        ),
        perturb_norms_and_biases=False,
    ),
    dict(
        name="local3",
        seed=4321,
        batch=3,
        seq=10,
        config=dict(
            vocab_size=61,
            hidden_size=48,
            num_layers=3,
            num_heads=3,
            intermediate_size=80,
            attention_types=[[["local", "global", "local"], 1]],
            window_size=3,
            max_position_embeddings=12,
            layer_norm_epsilon=1e-6,
            initializer_range=0.1,
        ),
        perturb_norms_and_biases=True,
    ),
]


def perturb_norms_and_biases(model):
    """LayerNorm weights -> 1 + 0.1*randn, every bias (LayerNorm and Linear) -> 0.05*randn."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(1.0 + 0.1 * torch.randn_like(module.weight))
                module.bias.copy_(0.05 * torch.randn_like(module.bias))
            elif isinstance(module, torch.nn.Linear) and module.bias is not None:
                module.bias.copy_(0.05 * torch.randn_like(module.bias))


def make_train_case(case):
    name = case["name"]
    out = os.path.join(TRAIN_DIR, name)
    reset_dir(out)
    torch.manual_seed(case["seed"])

    config = make_config(**case["config"])
    model = GPTNeoForCausalLM(config).float()
    if case["perturb_norms_and_biases"]:
        perturb_norms_and_biases(model)
    model.eval()  # all dropouts are 0.0 anyway
    assert model.lm_head.weight is model.transformer.wte.weight, "lm_head must be tied to wte"
    save_checkpoint(model, out)

    B, T, V = case["batch"], case["seq"], config.vocab_size
    input_ids = torch.randint(0, V, (B, T), dtype=torch.long)
    base_targets = torch.full((B, T), -100, dtype=torch.long)
    base_targets[:, :-1] = input_ids[:, 1:]
    targets = base_targets.clone()
    # 3 extra ignored positions in total, distinct and never in the (already ignored) last column.
    candidates = torch.randperm(B * (T - 1))[:3]
    for c in candidates.tolist():
        targets[c // (T - 1), c % (T - 1)] = -100
    assert int((targets == -100).sum()) == B + 3

    def loss_fn(logits, tgt):
        return F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1), ignore_index=-100)

    # Cross-check against HF's own (shifting) loss: labels[t+1] pairs with logits[t].
    with torch.no_grad():
        logits0 = model(input_ids).logits
        hf_plain = model(input_ids, labels=input_ids).loss
        mine_plain = loss_fn(logits0, base_targets)
        assert torch.allclose(hf_plain, mine_plain, rtol=1e-6, atol=1e-6), (hf_plain, mine_plain)
        labels = torch.full((B, T), -100, dtype=torch.long)
        labels[:, 1:] = targets[:, :-1]
        hf_masked = model(input_ids, labels=labels).loss
        mine_masked = loss_fn(logits0, targets)
        assert torch.allclose(hf_masked, mine_masked, rtol=1e-6, atol=1e-6), (hf_masked, mine_masked)

    named = list(model.named_parameters())
    names = [n for n, _ in named]
    assert "lm_head.weight" not in names  # tied: deduplicated by named_parameters()
    decay = [p for _, p in named if p.dim() >= 2]
    no_decay = [p for _, p in named if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": ADAMW["weight_decay"]},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=ADAMW["lr"],
        betas=(ADAMW["beta1"], ADAMW["beta2"]),
        eps=ADAMW["eps"],
        foreach=False,
    )

    tensors = {}
    train_losses = []
    first_loss = None
    grad_norm = None
    for it in range(TRAIN_ITERATIONS):
        logits = model(input_ids).logits
        loss = loss_fn(logits, targets)
        train_losses.append(float(loss.item()))
        loss.backward()
        if it == 0:
            first_loss = float(loss.item())
            tensors["logits"] = logits.detach().float().contiguous().clone()
            for n, p in named:
                tensors["grad." + n] = p.grad.detach().float().contiguous().clone()
        norm = torch.nn.utils.clip_grad_norm_([p for _, p in named], ADAMW["max_grad_norm"])
        if it == 0:
            grad_norm = float(norm.item())
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if it == 0:
            for n, p in named:
                tensors["step1." + n] = p.detach().float().contiguous().clone()

    save_file(tensors, os.path.join(out, "reference.safetensors"))
    write_json(
        os.path.join(out, "reference.json"),
        {
            "input_ids": input_ids.tolist(),
            "targets": targets.tolist(),
            "loss": first_loss,
            "grad_norm": grad_norm,
            "adamw": ADAMW,
            "train_losses": train_losses,
        },
    )
    print(
        f"train/{name}: loss {first_loss:.6f} (log V = {math.log(V):.4f}) grad_norm {grad_norm:.6f} "
        f"final loss {train_losses[-1]:.6f}"
    )


# ----------------------------------------------------------------------------------------
# Evaluation cases
# ----------------------------------------------------------------------------------------

EVAL_CASES = [
    dict(
        name="l1_h1_global",
        seed=11,
        dtype="float32",
        lengths=[1, 8, 5, 2],
        config=dict(
            vocab_size=20, hidden_size=64, num_layers=1, num_heads=1,
            attention_types=[[["global"], 1]], window_size=2, max_position_embeddings=8,
            intermediate_size=16, layer_norm_epsilon=1e-5, initializer_range=0.3,
        ),
    ),
    dict(
        name="l2_h2_all_local",
        seed=22,
        dtype="float32",
        lengths=[16, 1, 3, 11, 7],
        config=dict(
            vocab_size=50, hidden_size=32, num_layers=2, num_heads=2,
            attention_types=[[["local"], 2]], window_size=3, max_position_embeddings=16,
            intermediate_size=48, layer_norm_epsilon=1e-6, initializer_range=0.15,
        ),
    ),
    dict(
        name="l3_h4_two_groups",
        seed=33,
        dtype="float32",
        lengths=[20, 4, 1, 13, 9, 2],
        config=dict(
            vocab_size=300, hidden_size=16, num_layers=3, num_heads=4,
            # two attention_types entries: expands to local, global, local
            attention_types=[[["local", "global"], 1], [["local"], 1]], window_size=4,
            max_position_embeddings=20, intermediate_size=None, layer_norm_epsilon=1e-5,
            initializer_range=0.3,
        ),
    ),
    dict(
        name="l4_h2_alternating",
        seed=44,
        dtype="float32",
        lengths=[24, 1, 6, 17],
        config=dict(
            vocab_size=128, hidden_size=24, num_layers=4, num_heads=2,
            attention_types=[[["global", "local"], 2]], window_size=8,
            max_position_embeddings=24, intermediate_size=40, layer_norm_epsilon=1e-6,
            initializer_range=0.2,
        ),
    ),
    dict(
        name="l2_h4_window2",
        seed=55,
        dtype="float32",
        lengths=[3, 12, 1],
        config=dict(
            vocab_size=200, hidden_size=24, num_layers=2, num_heads=4,  # head dim 6
            attention_types=[[["local", "global"], 1]], window_size=2,
            max_position_embeddings=12, intermediate_size=None, layer_norm_epsilon=1e-5,
            initializer_range=0.25,
        ),
    ),
    dict(
        name="fp16",
        seed=66,
        dtype="float16",
        lengths=[16, 1, 9, 4, 2],
        config=dict(
            vocab_size=40, hidden_size=32, num_layers=2, num_heads=2,
            attention_types=[[["global", "local"], 1]], window_size=4,
            max_position_embeddings=16, intermediate_size=None, layer_norm_epsilon=1e-5,
            initializer_range=0.2,
        ),
    ),
    dict(
        name="bf16",
        seed=77,
        dtype="bfloat16",
        lengths=[1, 14, 5],
        config=dict(
            vocab_size=77, hidden_size=24, num_layers=3, num_heads=3,
            attention_types=[[["global"], 1], [["local"], 2]], window_size=5,
            max_position_embeddings=14, intermediate_size=40, layer_norm_epsilon=1e-6,
            initializer_range=0.15,
        ),
    ),
]


def eval_loss(model, lines):
    """(sum over lines of summed next-token CE) / N and N, accumulated in float64."""
    total = 0.0
    count = 0
    with torch.no_grad():
        for ids in lines:
            if len(ids) < 2:
                continue
            x = torch.tensor([ids], dtype=torch.long)
            logits = model(x).logits[0].float()  # [L, V], float32 forward
            line_sum = F.cross_entropy(
                logits[:-1].double(), x[0, 1:], reduction="sum"
            )
            # Cross-check with HF's own mean loss for this line (float32).
            hf = model(x, labels=x).loss.double() * (len(ids) - 1)
            assert abs(float(hf) - float(line_sum)) <= 1e-4 * max(1.0, abs(float(line_sum))), (
                float(hf), float(line_sum))
            total += float(line_sum)
            count += len(ids) - 1
    return total / count, count


def make_eval_case(case):
    name = case["name"]
    out = os.path.join(EVAL_DIR, name)
    reset_dir(out)
    torch.manual_seed(case["seed"])
    config = make_config(**case["config"])
    model = GPTNeoForCausalLM(config).float()
    model.eval()
    assert max(case["lengths"]) <= config.max_position_embeddings
    assert 1 in case["lengths"] and 3 <= len(case["lengths"]) <= 6

    if case["dtype"] == "float16":
        model = model.half()
    elif case["dtype"] == "bfloat16":
        model = model.to(torch.bfloat16)
    save_checkpoint(model, out)
    model = model.float()  # expected loss from the round-tripped weights, in float32

    V = config.vocab_size
    lines = [torch.randint(0, V, (n,)).tolist() for n in case["lengths"]]
    with open(os.path.join(out, "tokens.txt"), "w") as f:
        for ids in lines:
            f.write(" ".join(str(t) for t in ids) + "\n")

    loss, count = eval_loss(model, lines)
    write_json(os.path.join(out, "expected.json"), {"loss": loss, "tokens": count})
    return loss, count


def check_eval_case(case, expected_loss, expected_count):
    out = os.path.join(EVAL_DIR, case["name"])
    model = GPTNeoForCausalLM.from_pretrained(out, dtype=torch.float32)
    model.eval()
    with open(os.path.join(out, "tokens.txt")) as f:
        lines = [[int(t) for t in line.split()] for line in f if line.strip()]
    loss, count = eval_loss(model, lines)
    assert count == expected_count
    assert abs(loss - expected_loss) <= 1e-6 * max(1.0, abs(expected_loss)), (loss, expected_loss)
    V = model.config.vocab_size
    print(
        f"eval/{case['name']}: loss {loss:.6f} over {count} tokens (log V = {math.log(V):.4f}), "
        f"dtype {case['dtype']}, layers {model.config.attention_layers}"
    )


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)

    for d in (TRAIN_DIR, EVAL_DIR):
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)

    for case in TRAIN_CASES:
        make_train_case(case)

    results = {}
    for case in EVAL_CASES:
        results[case["name"]] = make_eval_case(case)
    for case in EVAL_CASES:
        check_eval_case(case, *results[case["name"]])

    total = 0
    for base, _, files in os.walk(FIXTURES):
        for fn in files:
            total += os.path.getsize(os.path.join(base, fn))
    print(f"fixtures total size: {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
