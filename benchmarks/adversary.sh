#!/usr/bin/env bash
# The adversary suite as a benchmark (issue 5): 7 honest and 3 malicious
# workers (30%) train one run against a real coordinator over HTTPS on a real
# PostgreSQL; the malicious ones send every kind of bad result, register again
# when quarantined, and one earns trust first (a sleeper). Prints the
# detection rate per attack, false positives, the extra compute at steady
# state (the last third of the run) and the final validation loss against a
# clean run with the same seed. `make test` runs the same suite on 60 steps;
# this runs longer (default 300 steps) so the steady state holds enough units.
#
#   benchmarks/adversary.sh                    # 300 steps
#   KOINON_ADVERSARY_STEPS=600 benchmarks/adversary.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests 2>&1 | grep -E "error|warning: " | grep -v distributed-tracing || true
export KOINON_ADVERSARY_STEPS=${KOINON_ADVERSARY_STEPS:-300}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
.build/debug/KoinonPackageTests.xctest --testing-library swift-testing --filter AdversaryTests 2>&1 \
    | grep -E "^adversary:|✘|passed after|failed after"
