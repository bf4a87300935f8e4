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
# coordinator does. The same holds for any N: workers as fast as they can
# wait N / X on average at X cycles/s, so at 2,000 cycles/s p99 < 50 ms can
# only hold for N well under 100; the default N includes 50 for that.)
#
# Simulated workers ask for their next unit with each result
# (Koinon-Next-Lease), as koinon-worker does: one request a cycle;
# KOINON_LOAD_ARGS=--separate-leases measures two (lease, then submit);
# --distinct-payloads hands in a new gradient (a new blob) per unit instead
# of the same zeros.
#
# Under each load's figures, the CPU time a cycle cost each process on the
# shared cores: coordinator, PostgreSQL, load generator. At 2,000 cycles/s,
# two cores give all three together 1 ms a cycle. KOINON_LOAD_STATEMENTS=1
# restarts the embedded PostgreSQL with pg_stat_statements and prints, under
# each load, the statements it spent most time on.
#
#   benchmarks/load.sh                      # N = 10 50 100 1000, then 1000 computing ~0.5 s; 15 s each
#   KOINON_LOAD_WORKERS="100" KOINON_LOAD_PACED="" KOINON_LOAD_SECONDS=30 benchmarks/load.sh
#   KOINON_LOAD_COORDINATOR_DIR=/tmp/old benchmarks/load.sh   # another build's koinon-coordinator, to compare back to back
#   KOINON_LOAD_STATEMENTS=1 KOINON_LOAD_WORKERS="" benchmarks/load.sh   # where PostgreSQL's time goes, paced load only
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/lib.sh
bin=$root/.build/release
coordinator_bin=${KOINON_LOAD_COORDINATOR_DIR:-$bin}
counts=${KOINON_LOAD_WORKERS-10 50 100 1000}
paced=${KOINON_LOAD_PACED-1000:0.5}
seconds=${KOINON_LOAD_SECONDS:-15}
read -r -a extra <<<"${KOINON_LOAD_ARGS:-}"

# psql on the embedded cluster, as the account that owns it (postmaster.pid's fifth
# line is the socket's directory).
statements() {
    local socket owner
    socket=$(sed -n 5p "$cluster/pgdata/postmaster.pid")
    owner=$(stat -c %U "$cluster/pgdata")
    local run=(psql -h "$socket" -U koinon -d koinon -X -q -P pager=off -c "$1")
    if [ "$(id -un)" = "$owner" ]; then "${run[@]}"; else su "$owner" -s /bin/bash -c "$(printf '%q ' "${run[@]}")"; fi
}

# CPU seconds (user + system) the processes have used so far, in clock ticks.
cpu_ticks() {
    local total=0 pid
    for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0))); done
    echo "$total"
}

# One load: koinon-loadtest with the given options, then the CPU time a cycle cost
# each process sharing the cores (coordinator, PostgreSQL's processes, load generator),
# read from /proc over most of the measured window (it starts after the 3 s warm-up
# and the registrations), divided by the cycles done in it at the measured rate.
# With KOINON_LOAD_STATEMENTS=1, also the statements PostgreSQL spent most time on in
# that window (wall time: on busy cores it includes waiting for one).
measure_load() {
    "$bin/koinon-loadtest" --coordinator "http://127.0.0.1:$port" --seconds "$seconds" "$@" "${extra[@]}" >"$dir/load.out" &
    local generator=$! window=$((seconds > 4 ? seconds - 3 : 1))
    sleep 5
    local server
    server=$(head -1 "$cluster/pgdata/postmaster.pid")
    local pg=("$server" $(pgrep -P "$server"))
    [ -z "${KOINON_LOAD_STATEMENTS:-}" ] || statements "SELECT pg_stat_statements_reset()" >/dev/null
    local c0 p0 g0 c1 p1 g1
    c0=$(cpu_ticks "$KOINON_COORDINATOR_PID") p0=$(cpu_ticks "${pg[@]}") g0=$(cpu_ticks "$generator")
    sleep "$window"
    c1=$(cpu_ticks "$KOINON_COORDINATOR_PID") p1=$(cpu_ticks "${pg[@]}") g1=$(cpu_ticks "$generator")
    [ -z "${KOINON_LOAD_STATEMENTS:-}" ] || statements "
        SELECT calls, round(total_exec_time::numeric / calls, 3) AS ms_a_call, round(rows::numeric / calls, 1) AS rows_a_call,
               round(total_exec_time::numeric) AS ms_in_all,
               left(regexp_replace(query, '\s+', ' ', 'g'), 70) AS statement
        FROM pg_stat_statements WHERE toplevel AND calls > 0 ORDER BY total_exec_time DESC LIMIT 6" >"$dir/statements.out"
    wait "$generator"
    cat "$dir/load.out"
    local rate hz
    rate=$(sed -E 's/.*: +([0-9]+) cycles\/s.*/\1/' "$dir/load.out")
    hz=$(getconf CLK_TCK)
    if [ "$rate" -gt 0 ]; then
        awk -v c=$((c1 - c0)) -v p=$((p1 - p0)) -v g=$((g1 - g0)) -v hz="$hz" -v n=$((rate * window)) 'BEGIN {
            f = 1e6 / hz / n
            printf "      CPU a cycle: coordinator %.0f µs, PostgreSQL %.0f µs, load generator %.0f µs\n", c * f, p * f, g * f }'
    fi
    [ -z "${KOINON_LOAD_STATEMENTS:-}" ] || cat "$dir/statements.out"
}

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
cluster=$dir/coordinator/postgres
if [ -n "${KOINON_LOAD_STATEMENTS:-}" ]; then
    # pg_stat_statements needs loading at server start: restart with it.
    echo "shared_preload_libraries = 'pg_stat_statements'" >>"$cluster/pgdata/postgresql.auto.conf"
    kill -TERM "$KOINON_COORDINATOR_PID"
    wait "$KOINON_COORDINATOR_PID" || true
    koinon_start_coordinator "$coordinator_bin" "$port" "$dir/coordinator" "$dir/coordinator.log" --lease-seconds 120 \
        --registrations-per-minute 0 --worker-requests-per-second 0 --insecure-http --no-replication
    statements "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
fi
"$coordinator_bin/koinon-coordinator" run create --config "$dir/load.yaml" --coordinator "http://127.0.0.1:$port" --insecure-http \
    --data-dir "$dir/coordinator"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for n in $counts; do
    measure_load --workers "$n"
done
for spec in $paced; do
    measure_load --workers "${spec%%:*}" --compute-seconds "${spec#*:}"
done
steps=$(grep -c "run 1 step" "$dir/coordinator.log" || true)
echo "steps applied during the benchmark: $steps (4,096 units each)"
