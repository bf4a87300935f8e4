#!/usr/bin/env bash
# Installs the Debian packages Koinon builds against, when missing.
set -euo pipefail
# chromium renders the dashboard in the tests, prometheus brings promtool
# (checks /metrics), wrk drives the status benchmark.
packages=(libopenblas-dev libzstd-dev pkg-config zstd postgresql curl chromium prometheus wrk)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Python with venv and pip: scripts/api-fuzz.sh installs schemathesis into .build/api-fuzz-venv.
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3 python3-venv)
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
