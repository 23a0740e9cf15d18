#!/usr/bin/env bash
# Set-up and entry point for a fresh machine:
#   ./dev.sh demo [ARGS]   the demo (private bus, simulated BMS, daemon, live view)
#   ./dev.sh test [ARGS]   the whole test suite
# Both create .venv, install dbus-bms with its test dependencies, and install the
# dbus-daemon package through apt when it is missing and we are root.
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

cmd=${1:-}
shift || true
case "$cmd" in
    demo) need_dbus_daemon; venv; exec .venv/bin/dbus-bms demo "$@" ;;
    test) need_dbus_daemon; venv; exec .venv/bin/python -m pytest "$@" ;;
    *) echo "usage: ./dev.sh demo|test [ARGS]" >&2; exit 2 ;;
esac
