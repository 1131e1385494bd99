#!/usr/bin/env bash
# One command to a running local platform, on a fresh Debian with only Python 3.11: creates .venv
# (installing python3-venv if Debian lacks it), installs edgefn into it, and runs `edgefn dev` on the
# repo's edgefn.toml. `edgefn dev` needs no services (SQLite, a folder for artifacts, in-memory rate
# windows). Arguments go to `edgefn dev`, e.g. ./scripts/dev.sh --ingress-port 3000.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh

ensure_venv ""
exec .venv/bin/edgefn dev --project . "$@"
