#!/usr/bin/env bash
# `make demo`: a real distributed training run on this machine.
#
# Builds Koinon (release), builds a character-level dataset from tiny
# Shakespeare, starts a coordinator with its embedded PostgreSQL, creates a run
# of a small GPT-Neo, starts two workers, shows the loss falling, then exports
# the checkpoint and prints a sample from it. Everything lives in
# $KOINON_DEMO_DIR (default .build/demo), recreated on every run.
#
# Knobs (environment): KOINON_DEMO_CORPUS (a text file), KOINON_DEMO_STEPS
# (default 600), KOINON_DEMO_PORT (default: the first free from 8080),
# KOINON_DEMO_WORKERS (default 2), KOINON_DEMO_EVAL (validation every N steps),
# KOINON_DEMO_SERVE_ARGS (more `koinon-coordinator serve` options, to compare settings),
# KOINON_DEMO_LOCAL_STEPS (H > 1: local-steps mode, H batches a unit; then
# KOINON_DEMO_STEPS and KOINON_DEMO_EVAL count batches and the run has
# STEPS / H steps; KOINON_OUTER_LR, KOINON_OUTER_MOMENTUM for its outer SGD).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/lib.sh

demo=${KOINON_DEMO_DIR:-$root/.build/demo}
steps=${KOINON_DEMO_STEPS:-600}
workers=${KOINON_DEMO_WORKERS:-2}
eval_every=${KOINON_DEMO_EVAL:-100}
local_steps=${KOINON_DEMO_LOCAL_STEPS:-1}
bin=$root/.build/release
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing what is missing and building (release)"
scripts/install-deps.sh
swift build -c release --product koinon-coordinator
swift build -c release --product koinon-worker

say "tiny Shakespeare"
rm -rf "$demo"
mkdir -p "$demo"
corpus=$(koinon_corpus "$demo")
echo "corpus: $corpus ($(wc -c <"$corpus") bytes)"

say "dataset: clean, dedupe, byte-level tokens (257 = every byte + end of text), shards"
koinon_char_dataset "$bin" "$corpus" "$demo/data" | sed 's/^/  /'
koinon_char_run_yaml "$steps" "$eval_every" "$local_steps" >"$demo/run.yaml"
if [ "$local_steps" -gt 1 ]; then  # the run's steps are outer steps of $local_steps batches each
    echo "local-steps mode: $((steps / local_steps)) steps of $local_steps batches per unit"
    steps=$((steps / local_steps))
    eval_every=$((eval_every / local_steps))
fi

port=${KOINON_DEMO_PORT:-$(koinon_free_port 8080)}
url=https://127.0.0.1:$port
data=$demo/coordinator
pids=()
cleanup() {
    koinon_stop "${pids[@]}"
}
trap cleanup EXIT

say "coordinator with embedded PostgreSQL on $url (HTTPS, self-signed certificate)"
# Results are verified by replication as on a real deployment; every worker here shares 127.0.0.1.
read -r -a serve_args <<<"${KOINON_DEMO_SERVE_ARGS:-}"
koinon_start_coordinator "$bin" "$port" "$data" "$demo/coordinator.log" --replicas-from-same-address ${serve_args[@]+"${serve_args[@]}"}
pids+=("$KOINON_COORDINATOR_PID")
grep -E "database|migration" "$demo/coordinator.log" | sed 's/^/  /' || true
fingerprint=$(koinon_fingerprint "$demo/coordinator.log")
[ -n "$fingerprint" ] || { echo "error: no TLS fingerprint in $demo/coordinator.log" >&2; exit 1; }
echo "  TLS certificate: $data/tls/cert.pem"
echo "  TLS certificate SHA-256 fingerprint: $fingerprint"
echo "  operator token: $data/operator-token (the run and status commands read it with --data-dir)"
# The operator's commands take the token from --data-dir and pin the certificate found there.
"$bin/koinon-coordinator" run create --config "$demo/run.yaml" --coordinator "$url" --data-dir "$data"

say "$workers workers (1 thread each; logs in $demo/worker-N.log)"
start=$(date +%s%N)
elapsed() { local ms=$((($(date +%s%N) - start) / 1000000)); printf "%d.%d" $((ms / 1000)) $((ms % 1000 / 100)); }
# Workers trust the coordinator by its fingerprint (odd ones) or by its certificate file (even ones).
for i in $(seq 1 "$workers"); do
    if [ $((i % 2)) -eq 1 ]; then trust=(--pin-sha256 "$fingerprint"); else trust=(--ca "$data/tls/cert.pem"); fi
    "$bin/koinon-worker" --coordinator "$url" "${trust[@]}" --name "demo-worker-$i" --owner "demo-owner-$i" \
        --threads 1 --cache-dir "$demo/worker-$i" >"$demo/worker-$i.log" 2>&1 &
    pids+=($!)
    echo "  demo-worker-$i: ${trust[*]}"
done
echo "dashboard: $url/   status JSON: $url/v1/status   metrics: $url/metrics"
echo "(self-signed: a browser asks to accept it; check the fingerprint $fingerprint; curl --cacert $data/tls/cert.pem)"

say "training $steps steps (loss every 25 steps; validation every $eval_every)"
# The coordinator logs "run 1 step N: loss X" per applied step and "run 1
# version N: validation Y" when the workers' evaluation units of version N
# are in. Only lines not seen yet are read (the log grows with every step).
seen_lines=0
pattern='run 1 ((step|version) ([0-9]+): (loss|validation).*)$'
final_validation="run 1 version $steps: validation"
while true; do
    finished=$(koinon_curl "$data" "$url/v1/status" | grep -c '"state":"finished"' || true)
    while IFS= read -r line; do
        seen_lines=$((seen_lines + 1))
        [[ "$line" =~ $pattern ]] || continue
        n=${BASH_REMATCH[3]}
        if [ $((n % 25)) -eq 0 ] || [ "${BASH_REMATCH[4]}" = validation ] || [ "$n" -eq 1 ]; then
            printf '  %s  (%s s)\n' "${BASH_REMATCH[1]}" "$(elapsed)"
        fi
    done < <(tail -n +$((seen_lines + 1)) "$demo/coordinator.log")
    # Finished in the database: the last step's and the final evaluation's lines follow; one more pass once they are there.
    if [ "$finished" -ge 1 ]; then
        [ -n "${draining:-}" ] && break
        took=${took:-$(elapsed)}
        for _ in $(seq 1 600); do grep -q "$final_validation" "$demo/coordinator.log" && break; sleep 0.1; done
        draining=1
        continue
    fi
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "error: a process exited; see $demo/*.log" >&2; exit 1; }; done
    sleep 1
done
echo "  finished $steps steps in $took s (final evaluation in at $(elapsed) s)"
grep -E "run 1 step $steps: |$final_validation" "$demo/coordinator.log" | sed -E 's/.*run 1 (.*)/  final: \1/' || true
sleep 1.5  # the status snapshot is rebuilt about once a second
"$bin/koinon-coordinator" status --coordinator "$url" --data-dir "$data" | sed 's/^/  /'

say "export and sample"
"$bin/koinon-coordinator" run export --run 1 --out "$demo/checkpoint" --coordinator "$url" --data-dir "$data"
"$bin/koinon-worker" generate --checkpoint "$demo/checkpoint" --prompt "ROMEO:" --max-tokens 300 \
    --temperature 0.8 --top-k 40 --seed 1
echo
say "done"
echo "exported checkpoint (Hugging Face format + tokenizer): $demo/checkpoint"
echo "the dashboard was at $url/ (status JSON at $url/v1/status; TLS fingerprint $fingerprint); logs in $demo/"
