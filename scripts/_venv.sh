# Shared by scripts/run-example, scripts/test-all and scripts/lock: make .venv and install
# into it at the versions in constraints.txt (regenerate that file with scripts/lock).
# Works on a bare Debian 12 (installs python3-venv when ensurepip is missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    # Install the Debian packages that are not there yet (one apt-get update at most).
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    if [ ${#missing[@]} -gt 0 ]; then
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

pip_install() {
    # pip install into .venv, every package at the version constraints.txt names.
    .venv/bin/python -m pip install -q -c constraints.txt "$@"
}

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    apt_install python3-venv
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
