#!/usr/bin/env bash
# API fuzzing (issue 5): schemathesis generates requests from openapi.yaml,
# valid and invalid, against a live coordinator (embedded PostgreSQL, a
# temporary data directory, a free port) with a tiny run and a registered
# worker, and checks every answer: never a 5xx, and status code, content
# type, headers and body as openapi.yaml describes them. Any finding fails
# the script, and so does a coordinator that did not survive it.
#
#   scripts/api-fuzz.sh                          # about 2-3 minutes on 2 cores
#   KOINON_FUZZ_EXAMPLES=100 scripts/api-fuzz.sh # more cases per operation
#   KOINON_FUZZ_SEED=7 scripts/api-fuzz.sh       # another seed (default: fixed)
#   KOINON_FUZZ_KEEP=1 scripts/api-fuzz.sh       # keep the directory (logs, report)
#
# schemathesis is installed (pinned) into .build/api-fuzz-venv when missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/lib.sh

examples=${KOINON_FUZZ_EXAMPLES:-100}
seed=${KOINON_FUZZ_SEED:-1}
schemathesis_version=4.32.5
venv=$root/.build/api-fuzz-venv
st=$venv/bin/schemathesis

if ! "$st" --version 2>/dev/null | grep -qF "$schemathesis_version"; then
    echo "installing schemathesis $schemathesis_version into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi

echo "building koinon-coordinator (debug)"
if ! build_log=$(swift build --product koinon-coordinator 2>&1); then
    grep -E "error" <<<"$build_log" >&2 || echo "$build_log" >&2
    echo "error: building koinon-coordinator failed" >&2
    exit 1
fi
bin=$(swift build --show-bin-path)
[ -x "$bin/koinon-coordinator" ] || { echo "error: $bin/koinon-coordinator was not built" >&2; exit 1; }

dir=$(mktemp -d /tmp/koinon-fuzz.XXXXXX)
chmod 755 "$dir"
cleanup() {
    local status=$?
    [ -z "${KOINON_COORDINATOR_PID:-}" ] || koinon_stop "$KOINON_COORDINATOR_PID" || true
    if [ -n "${KOINON_FUZZ_KEEP:-}" ] || [ "$status" -ne 0 ]; then
        echo "kept $dir (coordinator.log, report/)" >&2
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT

corpus=$(koinon_corpus "$dir")
koinon_char_dataset "$bin" "$corpus" "$dir/data" >"$dir/dataset.log" 2>&1 || { cat "$dir/dataset.log" >&2; exit 1; }
# A tiny model and steps of 4,096 one-sequence units: every lease request is
# answered at once (a unit is always free), so long polls do not stall the run.
for name in fuzz spare; do koinon_tiny_run "$dir" "$name" 3; done

# Plain HTTP where the coordinator serves HTTPS by default (schemathesis needs no certificate then).
transport=()
serve_help=$("$bin/koinon-coordinator" serve --help 2>&1 || true)
if grep -q -- "--insecure-http" <<<"$serve_help"; then transport=(--insecure-http); fi
port=$(koinon_free_port 18080)
url=http://127.0.0.1:$port
koinon_start_coordinator "$bin" "$port" "$dir/coordinator" "$dir/coordinator.log" "${transport[@]}" --lease-seconds 600
coordinator_pid=$KOINON_COORDINATOR_PID
operator_token=$(cat "$dir/coordinator/operator-token" 2>/dev/null || echo none)

json() { python3 -c 'import json, sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' "$@"; }
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# Run 1 is leased from; run 2 is the one the fuzzer may pause and resume.
for name in fuzz spare; do
    curl -fsS -X POST "$url/v1/runs" -H "Authorization: Bearer $operator_token" -H "Content-Type: application/json" \
        --data "$(json config_yaml "$(cat "$dir/$name.yaml")" base_directory "$dir")" >/dev/null
done
register() {
    curl -fsS -X POST "$url/v1/workers" -H "Content-Type: application/json" \
        --data "{\"name\": \"$1\", \"backend\": \"cpu\", \"threads\": 1, \"version\": \"0\"}"
}
worker_token=$(register fuzzer | field token)
# A worker for the fuzzer to ban and unban, and a real lease (and the run's manifest) to
# heartbeat, release and submit to, so those operations reach more than "not found".
victim=$(register victim | field worker_id)
assignment=$(curl -fsS -X POST "$url/v1/leases" -H "Authorization: Bearer $worker_token" -H "Content-Type: application/json" \
    --data '{}' | python3 -c 'import json, sys; a = json.load(sys.stdin)["assignment"]; print(a["lease_id"], a["data"]["manifest_sha256"])')
read -r lease manifest <<<"$assignment"

cat >"$dir/schemathesis.toml" <<TOML
[auth.openapi.workerToken]
bearer = "$worker_token"

[auth.openapi.operatorToken]
bearer = "$operator_token"

# Every answer: never a 5xx, and status, content type, headers and body as openapi.yaml says.
[checks]
enabled = false
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_headers_conformance.enabled = true
response_schema_conformance.enabled = true

# Pausing is fuzzed on the spare run only, so that leases of run 1 never wait.
[[operations]]
include-operation-id = ["pauseRun", "resumeRun"]
parameters = { run = 2 }

[[operations]]
include-operation-id = ["banWorker", "unbanWorker"]
parameters = { worker = "$victim" }

[[operations]]
include-operation-id = ["heartbeatLease", "releaseLease", "submitResult"]
parameters = { lease = "$lease" }

[[operations]]
include-operation-id = "getShard"
parameters = { sha = "$manifest" }
TOML

echo "schemathesis $schemathesis_version against $url: $examples examples per operation, seed $seed"
started=$(date +%s)
status=0
"$st" --no-color --config-file "$dir/schemathesis.toml" run "$root/openapi.yaml" --url "$url" \
    --max-examples "$examples" --seed "$seed" --workers 1 \
    --phases examples,coverage,fuzzing --request-timeout 30 --max-failures 50 \
    --suppress-health-check all --report junit --report-dir "$dir/report" >"$dir/schemathesis.log" 2>&1 || status=$?
cat "$dir/schemathesis.log"
echo "schemathesis took $(( $(date +%s) - started )) s (exit $status)"

if ! kill -0 "$coordinator_pid" 2>/dev/null; then
    echo "error: the coordinator died during the fuzzing; its log:" >&2
    tail -50 "$dir/coordinator.log" >&2
    exit 1
fi
curl -fsS "$url/v1/status" >/dev/null || { echo "error: the coordinator no longer answers /v1/status" >&2; exit 1; }
if grep -q "failed: " "$dir/coordinator.log"; then
    echo "error: the coordinator logged failed requests:" >&2
    grep "failed: " "$dir/coordinator.log" | head -20 >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "error: schemathesis found problems (above)" >&2
    exit "$status"
fi
echo "api fuzz: no findings; the coordinator is alive"
