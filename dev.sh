#!/usr/bin/env bash
# Set-up and entry point for a fresh machine:
#   ./dev.sh demo [ARGS]   the demo (private bus, simulated BMS, daemon, live view)
#   ./dev.sh test          the whole test suite, on one more worker than the machine has cores; then
#                          tests/aiobmsble under Python 3.12 in .venv312, when the machine has a 3.12
#   ./dev.sh test ARGS     pytest ARGS, as given (add -n N to spread them over N workers)
# Both create .venv, install dbus-bms with its test dependencies, and install the
# dbus-daemon package through apt when it is missing and we are root; `test` installs the
# daemontools package the same way (the install tests skip without it).
set -euo pipefail
cd "$(dirname "$0")"

need_dbus_daemon() {
    command -v dbus-daemon >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dbus-daemon >/dev/null
    else
        echo "dbus-daemon is missing: install the Debian package dbus-daemon (needs root)" >&2
        exit 1
    fi
}

need_daemontools() {
    command -v supervise >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq daemontools >/dev/null
    fi
}

venv() {
    local py=${PYTHON:-python3}
    if [ ! -x .venv/bin/python ]; then
        "$py" -m venv .venv
    fi
    if [ ! -f .venv/.installed ] || [ setup.py -nt .venv/.installed ]; then
        .venv/bin/pip install -q --disable-pip-version-check -e '.[test,plot]'
        touch .venv/.installed
    fi
}

# A Python 3.12: pyenv's newest 3.12, else python3.12 on PATH; fails when there is none.
python312() {
    local found
    found=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3 2>/dev/null | sort -V | tail -n 1)
    [ -n "$found" ] && { echo "$found"; return 0; }
    command -v python3.12
}

venv312() {
    if [ ! -x .venv312/bin/python ]; then
        "$1" -m venv .venv312
    fi
    if [ ! -f .venv312/.installed ] || [ setup.py -nt .venv312/.installed ]; then
        .venv312/bin/pip install -q --disable-pip-version-check -e '.[test,aiobmsble]'
        touch .venv312/.installed
    fi
}

cmd=${1:-}
shift || true
case "$cmd" in
    demo) need_dbus_daemon; venv; exec .venv/bin/dbus-bms demo "$@" ;;
    test)
        need_dbus_daemon; need_daemontools; venv
        # Much of the suite waits on daemons, buses and simulated links rather than computing: one
        # worker more than there are cores keeps the cores busy.
        [ $# -gt 0 ] && exec .venv/bin/python -m pytest "$@"
        status=0
        .venv/bin/python -m pytest -n "$(( $(nproc) + 1 ))" || status=$?
        # aiobmsble needs Python 3.12, as Venus OS ships: its tests run there, in a venv of their own.
        if py312=$(python312); then
            venv312 "$py312"
            aio=0
            .venv312/bin/python -m pytest -n "$(( $(nproc) + 1 ))" tests/aiobmsble || aio=$?
            [ "$aio" -gt "$status" ] && status=$aio
        else
            echo "tests/aiobmsble not run: no Python 3.12 found (neither pyenv's nor python3.12 on PATH)" >&2
        fi
        exit "$status" ;;
    *) echo "usage: ./dev.sh demo|test [ARGS]" >&2; exit 2 ;;
esac
