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
# and KOINON_COORDINATOR_URL and returns once /v1/status answers (or fails
# with the log). The coordinator serves HTTPS with the self-signed certificate
# it makes in DATA_DIR/tls/cert.pem (it names 127.0.0.1), which curl is given
# with --cacert; with --insecure-http among the options, plain HTTP.
koinon_start_coordinator() {
    local bin=$1 port=$2 data=$3 log=$4 option
    shift 4
    KOINON_COORDINATOR_URL=https://127.0.0.1:$port
    for option in "$@"; do [ "$option" = --insecure-http ] && KOINON_COORDINATOR_URL=http://127.0.0.1:$port; done
    "$bin/koinon-coordinator" serve --port "$port" --data-dir "$data" "$@" >"$log" 2>&1 &
    KOINON_COORDINATOR_PID=$!
    for _ in $(seq 1 600); do
        koinon_curl "$data" "$KOINON_COORDINATOR_URL/v1/status" >/dev/null 2>&1 && return 0
        kill -0 "$KOINON_COORDINATOR_PID" 2>/dev/null || break
        sleep 0.2
    done
    cat "$log" >&2
    echo "error: the coordinator did not start (log above)" >&2
    return 1
}

# koinon_curl DATA_DIR URL [curl options...]: curl -fs, trusting the
# coordinator's certificate in DATA_DIR/tls/cert.pem for an https URL.
koinon_curl() {
    local data=$1 url=$2
    shift 2
    case $url in
    https://*) [ -f "$data/tls/cert.pem" ] || return 1; curl -fs --cacert "$data/tls/cert.pem" "$@" "$url" ;;
    *) curl -fs "$@" "$url" ;;
    esac
}

# koinon_fingerprint LOG: the TLS certificate's SHA-256 fingerprint as the
# coordinator logged it at start-up (what `koinon-worker --pin-sha256` takes).
koinon_fingerprint() {
    grep -o 'TLS certificate SHA-256 fingerprint: [0-9a-f:]*' "$1" | head -1 | cut -d' ' -f5
}

# koinon_char_dataset BIN CORPUS OUT: tiny Shakespeare as a character-level
# dataset (257 tokens = every byte + end of text), 10% held out.
koinon_char_dataset() {
    "$1/koinon-coordinator" dataset build --input "shakespeare=$2" --train-tokenizer 257 \
        --out "$3" --val-fraction 0.1 --min-chars 1 --near-dup-threshold 1.0
}

# koinon_tiny_run DIR NAME STEPS: a run of a tiny model (about 3,000
# parameters, 12 KB results) with steps of 4,096 one-sequence units, as
# DIR/NAME.yaml beside DIR/model.json (dataset directory "data" beside them):
# for exercising the coordinator, not the model.
koinon_tiny_run() {
    cat >"$1/model.json" <<'JSON'
{"vocab_size": 257, "max_position_embeddings": 16, "hidden_size": 8, "num_layers": 1, "num_heads": 1,
 "attention_types": [[["global"], 1]], "window_size": 16}
JSON
    cat >"$1/$2.yaml" <<YAML
name: $2
model:
  config: model.json
dataset: data
batch:
  sequence_length: 16
  global_sequences: 4096
  sequences_per_unit: 1
steps: $3
seed: 1
YAML
}

# koinon_char_run_yaml STEPS EVAL_EVERY [LOCAL_STEPS]: nanoGPT's CPU recipe for
# tiny Shakespeare as a Koinon run (dataset directory "data" beside the YAML).
# With LOCAL_STEPS = H > 1, in local-steps mode (DiLoCo): units of H AdamW
# steps each, so STEPS / H outer steps and validation every EVAL_EVERY / H
# (STEPS and EVAL_EVERY count batches, as nanoGPT's iterations, either way).
koinon_char_run_yaml() {
    local h=${3:-1} steps=$1 eval_every=$2
    if [ "$h" -gt 1 ]; then
        steps=$((steps / h))
        eval_every=$((eval_every / h))
    fi
    cat <<YAML
# nanoGPT's CPU recipe for tiny Shakespeare, as a Koinon run: 4 layers,
# 4 heads, 128 wide, context 64, 12 sequences a step cut into 2 work units.
name: shakespeare-char
model:
  preset: char-small
dataset: data
optimizer:
  learning_rate: 1.0e-3
  min_learning_rate: 1.0e-4
  warmup_steps: 100
  beta2: 0.99
  weight_decay: 0.1
  grad_clip: 1.0
batch:
  sequence_length: 64
  global_sequences: 12
  sequences_per_unit: 6
steps: $steps
eval:
  interval: $eval_every
  sequences: 240
checkpoint_interval: 100
seed: 1337
YAML
    if [ "$h" -gt 1 ]; then
        printf 'local_steps:\n  steps: %d\n  outer_learning_rate: %s\n  outer_momentum: %s\n' \
            "$h" "${KOINON_OUTER_LR:-0.7}" "${KOINON_OUTER_MOMENTUM:-0.9}"
    fi
}

# koinon_stop COORDINATOR_PID [WORKER_PID...]: stops the workers first,
# together (each finishes or gives back its unit, which needs the
# coordinator), then the coordinator; SIGTERM, then SIGKILL after 30 s.
koinon_stop() {
    [ $# -gt 0 ] || return 0
    local coordinator=$1 p
    shift
    koinon_stop_together "$@"
    koinon_stop_together "$coordinator"
}

koinon_stop_together() {
    local p alive
    for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 1 300); do
        alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
