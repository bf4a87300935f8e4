#!/usr/bin/env bash
# Quality anchor (issue 4): nanoGPT's CPU recipe for tiny Shakespeare
# (4 layers, 4 heads, 128 wide, context 64, batch 12, 2000 iterations,
# character-level) trained by Koinon as a distributed run: a coordinator with
# its embedded PostgreSQL and 2 workers on this machine. Prints the wall time
# of the 2000 batches and the final validation loss (nanoGPT: ≈ 1.89 in
# 97–114 s on this machine class).
#
# By default in local-steps mode (DiLoCo: 10 AdamW steps a unit, Nesterov
# outer SGD 0.7 / 0.9, so 200 outer steps); KOINON_DEMO_LOCAL_STEPS=1 trains
# in gradient-step mode (2000 steps, one gradient a unit, the exact recipe).
set -euo pipefail
cd "$(dirname "$0")/.."
KOINON_DEMO_STEPS=${KOINON_DEMO_STEPS:-2000} KOINON_DEMO_EVAL=${KOINON_DEMO_EVAL:-500} \
KOINON_DEMO_LOCAL_STEPS=${KOINON_DEMO_LOCAL_STEPS:-10} \
KOINON_DEMO_DIR=${KOINON_DEMO_DIR:-$PWD/.build/quality} exec scripts/demo.sh
