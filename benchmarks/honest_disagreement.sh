#!/usr/bin/env bash
# Honest disagreement between replicas (issue 5, part 4): how far apart two
# honest copies of the same unit's gradient are (same parameter version, same
# data) when computed with a different thread count, a different OpenBLAS
# core type (OPENBLAS_CORETYPE, read when the library loads) or a different
# variant of Koinon's own kernels (KOINON_KERNELS), each in its own process,
# as different volunteers would. Prints, for every configuration against the
# reference (the worker's defaults on 1 thread), the worst relative L2 error,
# cosine and loss difference over the units, and the worst case against the
# ReplicaTolerance defaults (Sources/KoinonCore/Verification/GradientAgreement.swift).
# Then the ratio of the largest unit norm to its step's median, with steps
# cut into more and smaller units than the recipe's (for
# aggregation.clip_multiple; with 2 units a step it cannot exceed 2).
#
# The run is nanoGPT's char-small tiny Shakespeare recipe (scripts/lib.sh):
# 12 sequences of 64 characters a step in 2 units. Knobs (environment):
#   KOINON_HONEST_VERSIONS  trained versions besides 0 (default "50 300"),
#                           each trained once by `koinon-worker train --local`
#   KOINON_HONEST_UNITS     step:unit pairs (default "0:0 0:1 5:0 5:1 17:0 17:1")
#   KOINON_HONEST_PRESET    model shape (default char-small; e.g. gpt-neo-125M
#                           with KOINON_HONEST_VERSIONS="" KOINON_HONEST_UNITS="0:0 0:1")
#   KOINON_HONEST_CONFIGS   only configurations whose name matches this regex
#   KOINON_HONEST_RATIO_STEPS  steps for the norm ratios (default 40; 0 = skip)
#   KOINON_HONEST_RATIO_CUTS   "SxG ...": units of S sequences, G a step
#                           (default "1x12 6x72")
#   KOINON_HONEST_DIR       work directory (default .build/honest; dataset and
#                           checkpoints are reused, gradients are not kept)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/lib.sh

dir=${KOINON_HONEST_DIR:-$root/.build/honest}
bin=$root/.build/release
versions="0 ${KOINON_HONEST_VERSIONS-50 300}"
units=${KOINON_HONEST_UNITS:-"0:0 0:1 5:0 5:1 17:0 17:1"}
preset=${KOINON_HONEST_PRESET:-char-small}
only=${KOINON_HONEST_CONFIGS:-.}
ratio_steps=${KOINON_HONEST_RATIO_STEPS:-40}
ratio_cuts=${KOINON_HONEST_RATIO_CUTS:-1x12 6x72}
work=$dir/$preset
mkdir -p "$work"

# Release binaries: built when missing (or too old to have unit-gradient).
if ! "$bin/koinon-worker" unit-gradient --help >/dev/null 2>&1; then
    swift build -c release --product koinon-worker
fi
[ -x "$bin/koinon-coordinator" ] || swift build -c release --product koinon-coordinator
python3 -c 'import numpy' 2>/dev/null || { echo "error: needs numpy (pip install numpy)" >&2; exit 1; }

if [ ! -f "$dir/data/manifest.json" ]; then
    corpus=$(koinon_corpus "$dir")
    koinon_char_dataset "$bin" "$corpus" "$dir/data" >/dev/null
fi
# The 600-step demo run (its steps only shape the learning-rate schedule).
koinon_char_run_yaml 600 0 | sed -e "s/preset: char-small/preset: $preset/" -e "s|^dataset: data|dataset: ../data|" \
    >"$work/run.yaml"

params_for() {  # version → --parameters arguments (trains the checkpoint once)
    local v=$1
    [ "$v" -eq 0 ] && return 0
    if [ ! -f "$work/trained-$v/model.safetensors" ]; then
        sed -e "s/^steps: .*/steps: $v/" -e "s/^name: .*/name: trained-$v/" "$work/run.yaml" >"$work/train-$v.yaml"
        echo "training $v steps (train --local) for version $v" >&2
        "$bin/koinon-worker" train --local --config "$work/train-$v.yaml" --out "$work/trained-$v" \
            --log-every 1000 >"$work/train-$v.log" 2>&1
    fi
    echo "--parameters $work/trained-$v"
}

# Configurations: name, environment, threads. The CPU decides which
# OpenBLAS cores and kernel variants can run at all.
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { [[ " $flags " == *" $1 "* ]]; }
configs=("threads-2||2")
for core in Prescott Core2 Nehalem Barcelona Sandybridge Haswell Zen SkylakeX Cooperlake; do
    case $core in
        Sandybridge) has avx || continue ;;
        Haswell | Zen) has avx2 && has fma || continue ;;
        SkylakeX) has avx512f || continue ;;
        Cooperlake) has avx512_bf16 || continue ;;
    esac
    configs+=("openblas-$core|OPENBLAS_CORETYPE=$core|1")
done
for kernels in generic avx2 avx512; do
    case $kernels in
        avx2) has avx2 && has fma || continue ;;
        avx512) has avx512f && has avx512bw && has avx512dq && has avx512vl || continue ;;
    esac
    configs+=("kernels-$kernels|KOINON_KERNELS=$kernels|1")
done
configs+=("prescott+generic+2-threads|OPENBLAS_CORETYPE=Prescott KOINON_KERNELS=generic|2")

# compare.py REF OTHER NAME VERSION STEP:UNIT: one JSON line, the measures of
# GradientAgreement.measure (in float64) between two unit-gradient outputs.
cat >"$work/compare.py" <<'PY'
import json, sys, numpy as np
def load(base):
    raw = open(base + ".bin", "rb").read()
    assert raw[:4] == b"KNTP" and int.from_bytes(raw[6:8], "little") == 1, base  # float32 TensorPayload
    g = np.frombuffer(raw[48:], dtype="<f4").astype(np.float64)
    assert g.size == int.from_bytes(raw[8:16], "little"), base
    info = json.loads(open(base + ".json").read().splitlines()[-1])
    return g, info
a, ia = load(sys.argv[1])
b, ib = load(sys.argv[2])
na, nb = np.sqrt(a @ a), np.sqrt(b @ b)
rel = 0.0 if max(na, nb) == 0 else float(np.sqrt((a - b) @ (a - b)) / max(na, nb))
cos = 1.0 if na == 0 and nb == 0 else (0.0 if na == 0 or nb == 0 else float((a @ b) / (na * nb)))
print(json.dumps({"config": sys.argv[3], "version": int(sys.argv[4]), "unit": sys.argv[5], "rel": rel, "cos": cos,
                  "loss": abs(ia["loss"] - ib["loss"]), "identical": bool(np.array_equal(a, b)),
                  "backend": ib["backend"], "reference": ia["backend"]}))
PY

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; model $preset"
echo "units (step:unit): $units; versions: $versions"
results=$work/results.jsonl
: >"$results"
gradient() {  # NAME ENV THREADS STEP UNIT PARAMS... → $work/grad-NAME.{bin,json}
    local name=$1 env=$2 threads=$3 s=$4 u=$5
    shift 5
    # shellcheck disable=SC2086
    env $env "$bin/koinon-worker" unit-gradient --config "$work/run.yaml" --step "$s" --unit "$u" \
        --threads "$threads" --out "$work/grad-$name.bin" "$@" >"$work/grad-$name.json" 2>"$work/grad-$name.log" \
        || { cat "$work/grad-$name.log" >&2; exit 1; }
}
for v in $versions; do
    p=$(params_for "$v")
    read -r -a params <<<"$p"
    for su in $units; do
        s=${su%:*} u=${su#*:}
        gradient reference "" 1 "$s" "$u" "${params[@]}"
        for c in "${configs[@]}"; do
            IFS='|' read -r name env threads <<<"$c"
            [[ $name =~ $only ]] || continue
            gradient other "$env" "$threads" "$s" "$u" "${params[@]}"
            python3 "$work/compare.py" "$work/grad-reference" "$work/grad-other" "$name" "$v" "$su" >>"$results"
        done
    done
done
# For scale: what cheating looks like, against the first unit at the first
# trained version V (else version 0): sign-flipped, scaled, another unit, and
# a stale copy (the unit computed at version V − 1 instead of V).
s0=${units%% *} s1=$(echo "$units" | cut -d' ' -f2)
last=$(echo "$versions" | cut -d' ' -f2)
p=$(params_for "${last:-0}")
read -r -a params <<<"$p"
gradient reference "" 1 "${s0%:*}" "${s0#*:}" "${params[@]}"
gradient other "" 1 "${s1%:*}" "${s1#*:}" "${params[@]}"
python3 "$work/compare.py" "$work/grad-reference" "$work/grad-other" "other unit" "${last:-0}" "$s0" >"$work/scale.jsonl"
if [ -n "$last" ] && [ "$last" -gt 1 ]; then
    p=$(params_for $((last - 1)))
    read -r -a params <<<"$p"
    gradient other "" 1 "${s0%:*}" "${s0#*:}" "${params[@]}"
    python3 "$work/compare.py" "$work/grad-reference" "$work/grad-other" "stale by one version" "$last" "$s0" >>"$work/scale.jsonl"
fi
python3 - "$work" >>"$work/scale.jsonl" <<'PY'
import json, sys, numpy as np
w = sys.argv[1]
g = np.frombuffer(open(f"{w}/grad-reference.bin", "rb").read()[48:], dtype="<f4").astype(np.float64)
for what, b in {"sign-flipped": -g, "×1.01": 1.01 * g, "×100": 100 * g}.items():
    rel = np.sqrt((g - b) @ (g - b)) / max(np.sqrt(g @ g), np.sqrt(b @ b))
    print(json.dumps({"config": what, "rel": float(rel), "cos": float((g @ b) / np.sqrt((g @ g) * (b @ b))), "loss": 0.0}))
PY
rm -f "$work"/grad-*.bin

# Norm ratios: steps cut into units of S sequences, G sequences a step
# (KOINON_HONEST_RATIO_CUTS, "SxG" each): the largest unit norm of a step
# against the step's median, what aggregation.clip_multiple is compared with.
if [ "$ratio_steps" -gt 0 ]; then
    for cut in $ratio_cuts; do
        per=${cut%x*} global=${cut#*x}
        sed -e "s/sequences_per_unit: 6/sequences_per_unit: $per/" -e "s/global_sequences: 12/global_sequences: $global/" \
            "$work/run.yaml" >"$work/run-$cut.yaml"
        for v in $versions; do
            p=$(params_for "$v")
            read -r -a params <<<"$p"
            "$bin/koinon-worker" unit-gradient --config "$work/run-$cut.yaml" --step 0 --steps "$ratio_steps" \
                "${params[@]}" 2>/dev/null >"$work/norms-$cut-v$v.jsonl"
        done
    done
fi

python3 - "$work" "$versions" "$ratio_steps" "$ratio_cuts" <<'PY'
import json, re, sys, numpy as np
w, versions, ratio_steps, cuts = sys.argv[1], sys.argv[2].split(), int(sys.argv[3]), sys.argv[4].split()
TOL_REL, TOL_COS, TOL_LOSS = 1e-3, 0.9999, 1e-3  # ReplicaTolerance() defaults
rows = [json.loads(x) for x in open(f"{w}/results.jsonl")]
print()
print(f"reference: {rows[0]['reference']}")
print()
print("| configuration (vs reference) | backend | version | max rel. L2 error | min cosine | max loss diff. | bit-identical units |")
print("| --- | --- | --- | --- | --- | --- | --- |")
groups = {}
for r in rows: groups.setdefault((r["version"], r["config"]), []).append(r)
for (v, name), rs in groups.items():
    backend = re.sub(r" \(slow path[^)]*\)", "", rs[0]["backend"].replace("cpu: OpenBLAS core ", ""))
    print(f"| {name} | {backend} | {v} | {max(r['rel'] for r in rs):.2e} | 1 − {1 - min(r['cos'] for r in rs):.1e} "
          f"| {max(r['loss'] for r in rs):.1e} | {sum(r['identical'] for r in rs)}/{len(rs)} |")
rel, cos, loss = max(r["rel"] for r in rows), min(r["cos"] for r in rows), max(r["loss"] for r in rows)
print()
print(f"worst honest case: relative L2 {rel:.2e} (tolerance {TOL_REL:g}, ×{TOL_REL / max(rel, 1e-300):.0f} margin); "
      f"cosine 1 − {1 - cos:.1e} (tolerance 1 − {1 - TOL_COS:.0e}, ×{(1 - TOL_COS) / max(1 - cos, 1e-300):.0e} margin); "
      f"loss {loss:.1e} (tolerance {TOL_LOSS:g}, ×{TOL_LOSS / max(loss, 1e-300):.0f} margin)")
for x in open(f"{w}/scale.jsonl"):
    r = json.loads(x)
    print(f"for scale, {r['config']}: relative L2 {r['rel']:.3g}, cosine {r['cos']:.4f}, loss diff. {r['loss']:.3g}")
if ratio_steps > 0:
    print()
    print("largest unit norm / the step's median, per step")
    for cut in cuts:
        per, glob = cut.split("x")
        for v in versions:
            steps = {}
            for x in open(f"{w}/norms-{cut}-v{v}.jsonl"):
                if x.startswith("{"):
                    r = json.loads(x)
                    steps.setdefault(r["step"], []).append(r["norm"])
            ratios = [max(n) / float(np.median(n)) for n in steps.values()]
            print(f"  units of {per} sequences, {int(glob) // int(per)} a step, version {v}: {len(ratios)} steps, "
                  f"median {np.median(ratios):.2f}, 95th percentile {np.percentile(ratios, 95):.2f}, max {max(ratios):.2f}")
PY
