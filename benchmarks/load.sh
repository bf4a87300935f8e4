#!/usr/bin/env bash
# Load benchmark (issue 4): N simulated workers over loopback doing lease →
# submit cycles with tiny payloads against one coordinator on its embedded
# PostgreSQL. Prints cycles/s and p50/p90/p99 cycle latency for each N.
# It stays on plain HTTP (`serve --insecure-http`): it measures the
# coordinator's lease/submit path and the database, comparable with the
# numbers from before TLS; 1,000 simulated workers' TLS handshakes would
# measure the load generator's CPU on the same 2 cores instead. Replication
# is off (`--no-replication`): simulated workers hand in the same zeros for
# every unit, which replication would rightly hold for replicas; the cycle
# it measures is the trusted worker's (a replica is one more such cycle).
#
# Then workers that compute between lease and submit, as volunteers do
# (KOINON_LOAD_PACED, "N:SECONDS" each): 1,000 workers computing ~0.5 s
# offer about 2,000 cycles/s, the issue's target rate, at its largest N. (As
# fast as they can, 1,000 workers queue behind each other: at 2,000 cycles/s
# a cycle would wait 1,000 / 2,000 s = 500 ms on average, whatever the
# coordinator does; the latency target is for the paced load.)
#
# Simulated workers ask for their next unit with each result
# (Koinon-Next-Lease), as koinon-worker does: one request a cycle;
# KOINON_LOAD_ARGS=--separate-leases measures two (lease, then submit);
# --distinct-payloads hands in a new gradient (a new blob) per unit instead
# of the same zeros.
#
#   benchmarks/load.sh                      # N = 10 100 1000, then 1000 computing ~0.5 s; 15 s each
#   KOINON_LOAD_WORKERS="100" KOINON_LOAD_PACED="" KOINON_LOAD_SECONDS=30 benchmarks/load.sh
#   KOINON_LOAD_COORDINATOR_DIR=/tmp/old benchmarks/load.sh   # another build's koinon-coordinator, to compare back to back
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/lib.sh
bin=$root/.build/release
coordinator_bin=${KOINON_LOAD_COORDINATOR_DIR:-$bin}
counts=${KOINON_LOAD_WORKERS-10 100 1000}
paced=${KOINON_LOAD_PACED-1000:0.5}
seconds=${KOINON_LOAD_SECONDS:-15}
read -r -a extra <<<"${KOINON_LOAD_ARGS:-}"

scripts/install-deps.sh
swift build -c release --product koinon-coordinator
swift build -c release --product koinon-loadtest
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

dir=$(mktemp -d /tmp/koinon-load.XXXXXX)
chmod 755 "$dir"
trap 'kill -TERM "${KOINON_COORDINATOR_PID:-0}" 2>/dev/null; wait 2>/dev/null; [ -n "${KOINON_LOAD_KEEP:-}" ] || rm -rf "$dir"' EXIT
corpus=$(koinon_corpus "$dir")
"$coordinator_bin/koinon-coordinator" dataset build --input "$corpus" --train-tokenizer 257 --out "$dir/data" >/dev/null
# A tiny model and steps of 4,096 one-sequence units: the benchmark measures
# the coordinator, not the model.
koinon_tiny_run "$dir" load 100000
port=$(koinon_free_port 8080)
koinon_start_coordinator "$coordinator_bin" "$port" "$dir/coordinator" "$dir/coordinator.log" --lease-seconds 120 \
    --registrations-per-minute 0 --worker-requests-per-second 0 --insecure-http --no-replication
"$coordinator_bin/koinon-coordinator" run create --config "$dir/load.yaml" --coordinator "http://127.0.0.1:$port" --insecure-http \
    --data-dir "$dir/coordinator"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for n in $counts; do
    "$bin/koinon-loadtest" --coordinator "http://127.0.0.1:$port" --workers "$n" --seconds "$seconds" "${extra[@]}"
done
for spec in $paced; do
    "$bin/koinon-loadtest" --coordinator "http://127.0.0.1:$port" --workers "${spec%%:*}" --compute-seconds "${spec#*:}" \
        --seconds "$seconds" "${extra[@]}"
done
steps=$(grep -c "run 1 step" "$dir/coordinator.log" || true)
echo "steps applied during the benchmark: $steps (4,096 units each)"
