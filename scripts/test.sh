#!/usr/bin/env bash
# The whole check, runnable on a fresh Debian machine as root with only Python 3.11: it installs the real
# services the tests start (PostgreSQL, Redis, promtool), the venv with the test extra, then runs ruff,
# mypy and pytest. All three always run so one report shows every failure. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python=$(command -v python3.11 || command -v python3 || true)
if [[ -z $python ]]; then
    echo "test.sh: python3.11 (or python3 >= 3.11) is required" >&2
    exit 1
fi

missing=()
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v promtool >/dev/null || missing+=(prometheus)
# Debian's python lacks ensurepip (needed by venv) until python3-venv is installed.
[[ -d .venv ]] || "$python" -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
    echo "==> apt-get install ${missing[*]}"
    sudo=()
    ((EUID == 0)) || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
    echo "==> creating .venv with $python"
    "$python" -m venv .venv
fi
echo "==> pip install -e '.[test]'"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

failed=()
run() {
    echo "==> $*"
    "$@" || failed+=("$1 (exit $?)")
}
run .venv/bin/ruff check .
run .venv/bin/mypy
run .venv/bin/pytest "$@"

if ((${#failed[@]})); then
    echo "==> FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "==> all checks passed"
