#!/usr/bin/env bash
# Status benchmark (issue 6): `/v1/status` and `/` under wrk on loopback
# during a live training run (coordinator + embedded PostgreSQL + 2 workers,
# the char-small run of `make demo`), and what the load does to training.
#
# Phases of $KOINON_STATUS_SECONDS (default 30) each; training steps/s are
# read from /v1/status before and after every phase, and every load phase is
# compared with the mean of the quiet phases around it:
#   quiet            no HTTP load (the reference for training speed)
#   status-max       wrk -t1 -c16 on /v1/status, as fast as it goes
#   dashboard-max    wrk -t1 -c16 on /, as fast as it goes
#   status-5000      wrk -t1 -c70 on /v1/status, each connection pausing 10 ms
#                    between requests: about 5,000 requests/s ($KOINON_STATUS_ROUNDS
#                    rounds, default 3, summed at the end)
# The run evaluates only at its (never reached) last step, so no evaluation
# falls into a phase. wrk runs at nice 19 (it stands in for remote watchers).
# Over HTTPS, as watchers reach a coordinator (wrk speaks TLS and does not
# check certificates; keep-alive connections, so the handshakes are few).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/lib.sh
bin=$root/.build/release
seconds=${KOINON_STATUS_SECONDS:-30}

scripts/install-deps.sh
swift build -c release --product koinon-coordinator
swift build -c release --product koinon-worker

dir=$(mktemp -d /tmp/koinon-status.XXXXXX)
chmod 755 "$dir"
pids=()
cleanup() {
    koinon_stop "${pids[@]}"
    rm -rf "$dir"
}
trap cleanup EXIT
corpus=$(koinon_corpus "$dir")
koinon_char_dataset "$bin" "$corpus" "$dir/data" >/dev/null
koinon_char_run_yaml 100000 0 >"$dir/run.yaml"
port=$(koinon_free_port 8080)
url=https://127.0.0.1:$port
data=$dir/coordinator
koinon_start_coordinator "$bin" "$port" "$data" "$dir/coordinator.log" --replicas-from-same-address
pids+=("$KOINON_COORDINATOR_PID")
"$bin/koinon-coordinator" run create --config "$dir/run.yaml" --coordinator "$url" --data-dir "$data" >/dev/null
for i in 1 2; do
    "$bin/koinon-worker" --coordinator "$url" --ca "$data/tls/cert.pem" --name "bench-$i" --threads 1 --cache-dir "$dir/worker-$i" \
        >"$dir/worker-$i.log" 2>&1 &
    pids+=($!)
done
cat >"$dir/paced.lua" <<'LUA'
-- Each connection waits 10 ms between requests (70 connections: about 5,000/s at 3 ms latency).
function delay() return 10 end
LUA

step() { koinon_curl "$data" "$url/v1/status" | grep -o '"parameter_version":[0-9]*' | head -1 | cut -d: -f2; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "warming up (20 s)"
sleep 20

# phase NAME [wrk arguments...]: runs wrk (or sleeps) for $seconds; prints requests/s and latency, and
# sets RATE to the training steps/s meanwhile.
phase() {
    local name=$1
    shift
    local s0 s1 t0 t1 out=""
    s0=$(step)
    t0=$(date +%s%N)
    # wrk stands in for watchers on other machines: at the lowest priority, so the load generator's
    # own work takes idle CPU only, while the coordinator serves them at its normal priority.
    if [ $# -gt 0 ]; then out=$(nice -n 19 wrk -d "${seconds}s" --latency "$@"); else sleep "$seconds"; fi
    t1=$(date +%s%N)
    s1=$(step)
    RATE=$(awk -v a="$s0" -v b="$s1" -v t="$(((t1 - t0) / 1000000))" 'BEGIN { printf "%.3f", (b - a) * 1000 / t }')
    if [ -n "$out" ]; then
        LINE=$(printf '%-14s %9s req/s  p50 %-8s p99 %-8s' "$name" "$(echo "$out" | awk '/Requests\/sec/ { print $2 }')" \
            "$(echo "$out" | awk '$1 == "50%" { print $2 }')" "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
    else
        LINE=$(printf '%-14s %9s' "$name" "-")
    fi
}

# load NAME [wrk arguments...]: the load phase between two quiet ones, training compared with their mean.
quiet_rate=""
load() {
    if [ -z "$quiet_rate" ]; then phase quiet; quiet_rate=$RATE; echo "$LINE   training $RATE steps/s"; fi
    local before=$quiet_rate
    phase "$@"
    local loaded=$RATE line=$LINE
    phase quiet
    quiet_rate=$RATE
    local ref
    ref=$(awk -v a="$before" -v b="$RATE" 'BEGIN { printf "%.3f", (a + b) / 2 }')
    echo "$line   training $loaded steps/s vs $ref quiet ($(awk -v l="$loaded" -v r="$ref" 'BEGIN { printf "%+.1f%%", (l / r - 1) * 100 }'))"
    echo "$LINE   training $RATE steps/s"
    LOADED=$loaded
    REF=$ref
}

load status-max -t1 -c16 "$url/v1/status"
load dashboard-max -t1 -c16 "$url/"
# The paced load, $KOINON_STATUS_ROUNDS times (default 3): training speed drifts by itself, so one
# comparison says little; the sums over the rounds say more.
loaded_sum=0
ref_sum=0
for _ in $(seq 1 "${KOINON_STATUS_ROUNDS:-3}"); do
    load status-5000 -t1 -c70 -s "$dir/paced.lua" "$url/v1/status"
    loaded_sum=$(awk -v a="$loaded_sum" -v b="$LOADED" 'BEGIN { print a + b }')
    ref_sum=$(awk -v a="$ref_sum" -v b="$REF" 'BEGIN { print a + b }')
done
echo "status-5000 over all rounds: training $(awk -v l="$loaded_sum" -v r="$ref_sum" 'BEGIN { printf "%+.1f%%", (l / r - 1) * 100 }') against the quiet phases around them"
echo "status JSON: $(koinon_curl "$data" "$url/v1/status" | wc -c) bytes; dashboard: $(koinon_curl "$data" "$url/" | wc -c) bytes"
