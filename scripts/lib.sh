# Shell functions shared by scripts/demo.sh and the benchmarks (source it).

# Prints the path of the tiny Shakespeare text: $KOINON_DEMO_CORPUS, else
# ../shared/data/tinyshakespeare.txt, else downloaded into directory $1.
koinon_corpus() {
    local corpus=${KOINON_DEMO_CORPUS:-}
    local shared
    shared="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/../shared/data/tinyshakespeare.txt"
    if [ -z "$corpus" ] && [ -f "$shared" ]; then corpus=$shared; fi
    if [ -z "$corpus" ]; then
        corpus=$1/tinyshakespeare.txt
        local url=https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt
        echo "downloading $url" >&2
        curl -fsSL --retry 3 -o "$corpus" "$url"
    fi
    [ -s "$corpus" ] || { echo "error: corpus '$corpus' is missing or empty" >&2; return 1; }
    echo "$corpus"
}

# Prints the first port from $1 (default 8080) nobody listens on.
koinon_free_port() {
    local port=${1:-8080}
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    echo "$port"
}

# koinon_start_coordinator BIN PORT DATA_DIR LOG [serve options...]: starts
# `koinon-coordinator serve` in the background, sets KOINON_COORDINATOR_PID
# and returns once /v1/status answers (or fails with the log).
koinon_start_coordinator() {
    local bin=$1 port=$2 data=$3 log=$4
    shift 4
    "$bin/koinon-coordinator" serve --port "$port" --data-dir "$data" "$@" >"$log" 2>&1 &
    KOINON_COORDINATOR_PID=$!
    for _ in $(seq 1 600); do
        curl -fs "http://127.0.0.1:$port/v1/status" >/dev/null 2>&1 && return 0
        kill -0 "$KOINON_COORDINATOR_PID" 2>/dev/null || break
        sleep 0.2
    done
    cat "$log" >&2
    echo "error: the coordinator did not start (log above)" >&2
    return 1
}
