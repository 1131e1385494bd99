#!/usr/bin/env bash
# One command to a running local platform: `edgefn dev` needs only the package (embedded SQLite, folder
# artifact store, in-memory rate windows), so no services are installed here. Args go to `edgefn dev`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -x .venv/bin/python ]]; then
    python=$(command -v python3.11 || command -v python3 || true)
    if [[ -z $python ]]; then
        echo "dev.sh: python3.11 (or python3 >= 3.11) is required" >&2
        exit 1
    fi
    echo "==> creating .venv with $python"
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/edgefn dev "$@"
