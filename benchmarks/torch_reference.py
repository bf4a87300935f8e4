#!/usr/bin/env python3
"""PyTorch reference throughput for Koinon's benchmark presets, side by side with Koinon.

For every preset this script times GPTNeoForCausalLM training steps in PyTorch (CPU, float32,
torch.set_num_threads(--threads), default 2) and then runs

    <koinon> bench --preset NAME --json [--steps N]

as a subprocess, parsing the LAST line of its stdout as a JSON object with at least the keys
preset, tokens_per_second, gflops_per_second, peak_memory_bytes, expected_memory_bytes.
It prints a Markdown table (ready to paste into BENCHMARKS.md) with the ratio
Koinon tokens/s / PyTorch tokens/s.

One PyTorch training step: forward with labels (HF's shifted mean cross entropy), backward,
torch.optim.AdamW(lr=1e-4, weight_decay 0.1 on parameters with dim >= 2, 0 otherwise) step,
zero_grad(set_to_none=True). Random token inputs, all dropouts 0. 2 warm-up steps, then steps
are timed with time.perf_counter until at least --min-seconds (default 10) have passed and at
least 3 steps were taken (or exactly --steps N steps if given). --steps is always passed on to
Koinon; --min-seconds and --threads only when given explicitly.
tokens/s = batch * seq * steps / seconds.

Usage (from the repository root, after `swift build -c release`):

    python3 benchmarks/torch_reference.py                          # all presets
    python3 benchmarks/torch_reference.py --presets char-small --skip-koinon
    python3 benchmarks/torch_reference.py --koinon .build/release/koinon-worker --steps 20
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import torch
import transformers
from transformers import GPTNeoConfig, GPTNeoForCausalLM

NO_DROPOUT = dict(embed_dropout=0.0, attention_dropout=0.0, resid_dropout=0.0)

# name -> (GPTNeoConfig kwargs, batch, seq)
PRESETS = {
    "gpt-neo-125M": (
        dict(
            vocab_size=50257,
            max_position_embeddings=2048,
            hidden_size=768,
            num_layers=12,
            num_heads=12,
            attention_types=[[["global", "local"], 6]],
            window_size=256,
            intermediate_size=None,
            layer_norm_epsilon=1e-5,
            activation_function="gelu_new",
        ),
        4,
        64,
    ),
    "gpt2-124M-shape": (
        dict(
            vocab_size=50257,
            max_position_embeddings=1024,
            hidden_size=768,
            num_layers=12,
            num_heads=12,
            attention_types=[[["global"], 12]],
            window_size=256,
            intermediate_size=None,
            layer_norm_epsilon=1e-5,
            activation_function="gelu_new",
        ),
        4,
        64,
    ),
    "char-small": (
        dict(
            vocab_size=65,
            max_position_embeddings=64,
            hidden_size=128,
            num_layers=4,
            num_heads=4,
            attention_types=[[["global"], 4]],
            window_size=256,
            intermediate_size=None,
            layer_norm_epsilon=1e-5,
            activation_function="gelu_new",
            bos_token_id=0,
            eos_token_id=0,
        ),
        12,
        64,
    ),
}


def bench_torch(name, steps=None, min_seconds=10.0, seed=0):
    kwargs, batch, seq = PRESETS[name]
    torch.manual_seed(seed)
    config = GPTNeoConfig(**kwargs, **NO_DROPOUT)
    model = GPTNeoForCausalLM(config).float()
    model.train()
    named = list(model.named_parameters())
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for _, p in named if p.dim() >= 2], "weight_decay": 0.1},
            {"params": [p for _, p in named if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=1e-4,
    )
    input_ids = torch.randint(0, config.vocab_size, (batch, seq), dtype=torch.long)

    def step():
        loss = model(input_ids, labels=input_ids, use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(2):
        step()
    n = 0
    start = time.perf_counter()
    while True:
        step()
        n += 1
        elapsed = time.perf_counter() - start
        if steps is not None:
            if n >= steps:
                break
        elif n >= 3 and elapsed >= min_seconds:
            break
    params = sum(p.numel() for _, p in named)
    return {
        "preset": name,
        "batch": batch,
        "seq": seq,
        "steps": n,
        "seconds": elapsed,
        "tokens_per_second": batch * seq * n / elapsed,
        "parameters": params,
    }


def bench_koinon(path, name, steps=None, min_seconds=None, threads=None):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError(
            f"Koinon binary not found or not executable: {path!r} "
            "(build it with `swift build -c release`, pass --koinon PATH, or use --skip-koinon)"
        )
    cmd = [path, "bench", "--preset", name, "--json"]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    if min_seconds is not None:
        cmd += ["--min-seconds", str(min_seconds)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    # On Linux, getrusage(RUSAGE_SELF).ru_maxrss of a freshly exec'd child starts at the RSS of
    # the process that forked it (the high-water mark of the pre-exec address space is kept), so
    # spawned straight from this Python process (GBs after the 125M presets) Koinon would report
    # our peak as its own. Go through a small /bin/sh that forks the worker (no exec) instead.
    spawn = cmd
    if os.path.exists("/bin/sh"):
        spawn = ["/bin/sh", "-c", '"$@"; exit $?', "sh"] + cmd
    proc = subprocess.run(spawn, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited with status {proc.returncode}\n"
            f"stderr (tail):\n{proc.stderr[-2000:]}\nstdout (tail):\n{proc.stdout[-2000:]}"
        )
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    if not lines:
        raise RuntimeError(f"{' '.join(cmd)} printed nothing on stdout; stderr:\n{proc.stderr[-2000:]}")
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError as e:
        raise RuntimeError(
            f"cannot parse the last stdout line of {' '.join(cmd)} as JSON ({e}): {lines[-1][:500]!r}"
        )
    if not isinstance(result, dict):
        raise RuntimeError(f"last stdout line of {' '.join(cmd)} is not a JSON object: {lines[-1][:500]!r}")
    required = ["preset", "tokens_per_second", "gflops_per_second", "peak_memory_bytes",
                "expected_memory_bytes"]
    missing = [k for k in required if k not in result]
    if missing:
        raise RuntimeError(f"Koinon JSON is missing keys {missing}: {lines[-1][:500]!r}")
    if result["preset"] != name:
        raise RuntimeError(f"Koinon reported preset {result['preset']!r}, expected {name!r}")
    return result


def fmt(x, digits=0):
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default=",".join(PRESETS),
                    help="comma-separated preset names (default: %(default)s)")
    ap.add_argument("--koinon", default=".build/release/koinon-worker", help="path of koinon-worker")
    ap.add_argument("--skip-koinon", action="store_true", help="only run the PyTorch side")
    ap.add_argument("--steps", type=int, default=None,
                    help="timed steps per preset (both sides); default: time >= --min-seconds")
    ap.add_argument("--min-seconds", type=float, default=None,
                    help="minimum timed seconds (default 10; passed to Koinon only when given)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch.set_num_threads (default 2; passed to Koinon only when given, "
                         "Koinon's own default is all cores)")
    args = ap.parse_args()

    names = [n.strip() for n in args.presets.split(",") if n.strip()]
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        ap.error(f"unknown preset(s) {unknown}; known: {list(PRESETS)}")
    if args.steps is not None and args.steps < 1:
        ap.error("--steps must be >= 1")

    if not args.skip_koinon and not (os.path.isfile(args.koinon) and os.access(args.koinon, os.X_OK)):
        print(f"error: Koinon binary not found or not executable: {args.koinon!r} "
              "(build with `swift build -c release`, pass --koinon PATH, or use --skip-koinon)",
              file=sys.stderr)
        return 2

    threads = args.threads if args.threads is not None else 2
    min_seconds = args.min_seconds if args.min_seconds is not None else 10.0
    torch.set_num_threads(threads)
    load_start = os.getloadavg()[0]
    if load_start > 0.5:
        print(f"warning: 1-minute load average is {load_start:.2f} before starting; other processes "
              "(e.g. a build) compete for the CPU and will distort both sides' numbers",
              file=sys.stderr, flush=True)
    rows = []
    for name in names:
        kwargs, batch, seq = PRESETS[name]
        print(f"[torch] {name}: batch {batch} x {seq} ...", file=sys.stderr, flush=True)
        t = bench_torch(name, steps=args.steps, min_seconds=min_seconds)
        print(f"[torch] {name}: {t['steps']} steps in {t['seconds']:.2f} s, "
              f"{t['tokens_per_second']:.1f} tokens/s ({t['parameters']:,} parameters)",
              file=sys.stderr, flush=True)
        k = None
        if not args.skip_koinon:
            print(f"[koinon] {name} ...", file=sys.stderr, flush=True)
            try:
                k = bench_koinon(args.koinon, name, steps=args.steps, min_seconds=args.min_seconds,
                                 threads=args.threads)
            except RuntimeError as e:
                print(f"error: {e}", file=sys.stderr)
                return 1
            print(f"[koinon] {name}: {k['tokens_per_second']:.1f} tokens/s", file=sys.stderr, flush=True)
        rows.append((name, batch, seq, t, k))

    print()
    print(f"PyTorch {torch.__version__} (transformers {transformers.__version__}), CPU float32, "
          f"torch.set_num_threads({threads}), {platform.machine()}, "
          f"{os.cpu_count()} logical CPUs, load average {load_start:.2f} at start / "
          f"{os.getloadavg()[0]:.2f} at end")
    print()
    print("| preset | batch x seq | PyTorch tokens/s | Koinon tokens/s | ratio | Koinon GFLOP/s | Koinon peak MiB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, batch, seq, t, k in rows:
        pt = t["tokens_per_second"]
        if k is not None:
            kt = float(k["tokens_per_second"])
            ratio = f"{kt / pt:.2f}"
            gf = fmt(float(k["gflops_per_second"]), 1)
            mib = fmt(float(k["peak_memory_bytes"]) / (1 << 20), 1)
            kts = fmt(kt, 1)
        else:
            kts, ratio, gf, mib = "n/a", "n/a", "n/a", "n/a"
        print(f"| {name} | {batch} x {seq} | {fmt(pt, 1)} | {kts} | {ratio} | {gf} | {mib} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
