#!/usr/bin/env bash
# One command for every benchmark: installs what is missing, then runs `python -m bench "$@"`.
#   bench/run.sh                 # everything (about 15 minutes)
#   bench/run.sh --quick         # a smoke run
#   bench/run.sh --only ingress,heartbeats
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import edgehost" 2>/dev/null; then
  .venv/bin/pip install -q -e .
fi
.venv/bin/python -c "import psutil, httpx" 2>/dev/null || .venv/bin/pip install -q psutil httpx
[ -x .venv/bin/py-spy ] || .venv/bin/pip install -q py-spy || echo "py-spy unavailable: profiling skipped" >&2

# wrk loads the server with the least CPU of its own; without it bench/loadgen.py falls back to Python.
if ! command -v wrk >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }) \
    || echo "wrk could not be installed: using the Python load generator" >&2
fi
# PostgreSQL for the CP heartbeat benchmark (tests/services.PostgresServer runs a throwaway cluster).
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get install -y -q postgresql >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; }) \
    || echo "postgresql could not be installed: the heartbeat benchmark will fail" >&2
fi

# workerd for the ingress benchmark's baseline: the npm registry's `workerd` package (its platform
# package ships the binary), kept in the bench cache (bench/common.py, CACHE).
cache="${EDGEFN_BENCH_CACHE:-${TMPDIR:-/tmp}/edgefn-bench-cache}"
if [ ! -x "$cache/workerd/node_modules/.bin/workerd" ]; then
  if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q npm >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q npm >/dev/null; } || true
  fi
  mkdir -p "$cache/workerd"
  npm install --prefix "$cache/workerd" --no-audit --no-fund --silent 'workerd@^1.20240000.0' >/dev/null 2>&1 \
    || echo "workerd could not be installed: the ingress benchmark leaves its baseline out" >&2
fi

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores" >&2
exec .venv/bin/python -m bench "$@"
