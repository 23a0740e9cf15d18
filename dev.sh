#!/usr/bin/env bash
# Set-up and entry point for a fresh machine:
#   ./dev.sh demo [ARGS]   the demo (private bus, simulated BMS, daemon, live view)
#   ./dev.sh test          the whole test suite, on one more worker than the machine has cores
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

cmd=${1:-}
shift || true
case "$cmd" in
    demo) need_dbus_daemon; venv; exec .venv/bin/dbus-bms demo "$@" ;;
    test)
        need_dbus_daemon; need_daemontools; venv
        # Much of the suite waits on daemons, buses and simulated links rather than computing: one
        # worker more than there are cores keeps the cores busy.
        [ $# -eq 0 ] && set -- -n "$(( $(nproc) + 1 ))"
        exec .venv/bin/python -m pytest "$@" ;;
    *) echo "usage: ./dev.sh demo|test [ARGS]" >&2; exit 2 ;;
esac
