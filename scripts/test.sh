#!/usr/bin/env bash
# The whole check, on a fresh Debian machine as root with only Python 3.11 (or any machine where it
# ran before): installs the real services the tests start (PostgreSQL, Redis, promtool, nginx,
# HAProxy) and the venv with the test extra, then runs ruff, mypy and pytest. All three always run,
# so one report shows every failure; the exit status is non-zero if any failed. Extra arguments go
# to pytest. The guests' toolchains come with the test extra (zig, componentize-py, Node.js); the
# first run on a machine also installs componentize-js from the npm registry into ~/.cache/edgefn
# and keeps the test components it builds in ~/.cache/edgefn-tests (tests/components.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh
started=$SECONDS

missing=()
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v promtool >/dev/null || missing+=(prometheus)
# The node feed's consumers: real proxies read the target files its documented loop writes.
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
apt_install "${missing[@]}"
ensure_venv test

failed=()
run() {
    echo "==> $*"
    "$@" || failed+=("$1 (exit $?)")
}
run .venv/bin/ruff check .
run .venv/bin/mypy
# pytest-timeout (timeout = 120 in pyproject.toml) ends a hung test; exit 5 (no tests ran) is a failure.
run .venv/bin/pytest -p timeout "$@"

echo "==> took $((SECONDS - started)) s"
if ((${#failed[@]})); then
    echo "==> FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "==> all checks passed"
