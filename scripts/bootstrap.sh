# Sourced by dev.sh and test.sh: Debian packages and the project's .venv, on a fresh machine or an old one.
# Works as root (CI, a fresh Debian) or as a user with sudo; never asks a question.

# apt_install PKG...: installs what is missing, without prompts and without starting the packages'
# own daemons (the tests start private PostgreSQL and Redis servers; a system-wide Prometheus would
# also take :9090, the port `edgefn dev` serves metrics on).
apt_install() {
    (($#)) || return 0
    local sudo=() policy=/usr/sbin/policy-rc.d own_policy=0
    ((EUID == 0)) || sudo=(sudo)
    if ! command -v apt-get >/dev/null; then
        echo "bootstrap: please install $* (this script knows Debian's apt-get only)" >&2
        return 1
    fi
    echo "==> apt-get install $*"
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        own_policy=1
    fi
    local status=0
    {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
            { sleep 5 && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq; }
    } && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >/dev/null || status=$?
    ((own_policy)) && "${sudo[@]}" rm -f "$policy"
    return $status
}

# find_python: python3.11 or a newer python3, printed; fails with a sentence otherwise.
find_python() {
    local candidate
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "bootstrap: Python 3.11 or newer is required (apt-get install python3)" >&2
    return 1
}

# ensure_venv EXTRA: .venv with `pip install -e .[EXTRA]`, re-run only when pyproject.toml changed.
ensure_venv() {
    local extra=$1 python stamp=.venv/.edgefn-install
    if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
        python=$(find_python) || return 1
        # Debian's python has no ensurepip (so no venv) until python3-venv is installed.
        if ! "$python" -c 'import ensurepip' 2>/dev/null; then
            apt_install python3-venv || return 1
        fi
        echo "==> creating .venv with $python"
        rm -rf .venv
        "$python" -m venv .venv || return 1
    fi
    local want
    want="$extra $(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [[ ! -f $stamp ]] || ! grep -qxF "$want" "$stamp"; then
        echo "==> pip install -e '.${extra:+[$extra]}': the first time, about two minutes (wasmtime, litestar, granian" \
            "and the rest are downloaded and installed, quietly); later runs skip it"
        .venv/bin/python -m pip install -q --disable-pip-version-check --no-input -e ".${extra:+[$extra]}" ||
            return 1
        echo "$want" >>"$stamp"
    fi
}
