#!/usr/bin/env bash
# Installs dbus-bms on a Venus OS GX device (Cerbo GX, Ekrano, Raspberry Pi), run as root from an
# unpacked release (tools/make-release.sh builds one):
#
#   bash install.sh              install or update. The first time it writes an example config and
#                                leaves the service down; edit the config and run it again. With a
#                                config, it checks it first (a broken one is refused and nothing
#                                changes), claims its serial ports from serial-starter and (re)starts
#                                the service.
#   bash install.sh --uninstall  removes everything but your config and state
#   bash install.sh --boot-early from /data/rcS.local: claims the ports again before serial-starter runs
#   bash install.sh --boot       from /data/rc.local: links the service again
#
# Everything lives under /data, which survives firmware updates: the code and its vendored
# dependencies in /data/apps/dbus-bms, the Remote Console pages (the gui-v2 plugin) in
# /data/apps/enabled/dbus-bms/gui-v2, your config and state in /data/dbus-bms. /service and the
# udev rules in /run are made again at every boot by the two lines in /data/rcS.local and rc.local.
# DBUS_BMS_ROOT prefixes every path, so the script can be tried out in a scratch folder; there it
# changes nothing of the machine's udev.
set -euo pipefail

ROOT=${DBUS_BMS_ROOT:-}
APP="$ROOT/data/apps/dbus-bms"
CONF_DIR="$ROOT/data/dbus-bms"
CONFIG="$CONF_DIR/config.yaml"
SERVICE="$ROOT/service/dbus-bms"
LOG_DIR="$ROOT/var/log/dbus-bms"
RC_LOCAL="$ROOT/data/rc.local"
RCS_LOCAL="$ROOT/data/rcS.local"
VENUS_VERSION="$ROOT/opt/victronenergy/version"
# The rules made from the config are kept with the code; the live copy is in RAM, under a name
# that sorts after Venus's own rules files, so its VE_SERVICE wins.
PORT_RULES="$APP/serial-starter.rules"
UDEV_RULES="$ROOT/run/udev/rules.d/zz-dbus-bms.rules"
BOOT_LINE="bash $APP/install.sh --boot  # dbus-bms"
EARLY_LINE="bash $APP/install.sh --boot-early  # dbus-bms"
# gui-v2 loads the *.json in each /data/apps/enabled/<app>/gui-v2/ and reloads when they change.
GUI_PLUGIN_DIR="$ROOT/data/apps/enabled/dbus-bms"
SRC=$(cd "$(dirname "$0")" && pwd)

say() { echo "dbus-bms: $*"; }
die() { echo "dbus-bms: $*" >&2; exit 1; }

check_venus() {
    # Absent on a machine that is not a GX; Python is checked next in any case.
    [ -f "$VENUS_VERSION" ] || return 0
    local version
    version=$(head -n 1 "$VENUS_VERSION")
    if [[ $version =~ ^v([0-9]+)\.([0-9]+) ]]; then
        local major=$((10#${BASH_REMATCH[1]})) minor=$((10#${BASH_REMATCH[2]}))
        if [ "$major" -lt 3 ] || { [ "$major" -eq 3 ] && [ "$minor" -lt 60 ]; }; then
            die "Venus OS $version is too old: dbus-bms needs Venus OS v3.60 or later (its Python 3.12). Update the GX (Settings > General > Firmware), then run this again."
        fi
    else
        say "cannot read the Venus OS version in $VENUS_VERSION ('$version'); going by the Python version alone"
    fi
}

check_python() {
    command -v python3 >/dev/null || die "python3 not found; dbus-bms needs Venus OS v3.60 or later"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "python3 is $(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])'); dbus-bms needs 3.11 or later (Venus OS v3.60 and later ship 3.12): update the GX, then run this again"
}

# python3 with the code and vendored dependencies of the folder $1.
run_python() {
    local code=$1
    shift
    PYTHONPATH="$code/ext:$code" python3 "$@"
}

supervised() { command -v svok >/dev/null && svok "$1" 2>/dev/null; }

link_service() {
    mkdir -p "$(dirname "$SERVICE")"
    ln -sfn "$APP/service" "$SERVICE"
}

keep_down() {
    touch "$APP/service/down"
    link_service
    if supervised "$SERVICE"; then svc -d "$SERVICE"; fi
}

start_service() {
    rm -f "$APP/service/down"
    link_service
    if supervised "$SERVICE"; then
        # supervise reads service/down only when it starts, so it is told. -t first: a daemon that
        # runs restarts onto the new code and config.
        svc -t -u "$SERVICE"
        if supervised "$SERVICE/log"; then svc -u "$SERVICE/log"; fi
        say "the service runs: svstat $SERVICE"
    else
        say "svscan starts the service within seconds: svstat $SERVICE"
    fi
}

add_boot_line() {
    local file=$1 line=$2
    [ -f "$file" ] || printf '#!/bin/bash\n' > "$file"
    chmod +x "$file"
    grep -qxF "$line" "$file" || echo "$line" >> "$file"
}

remove_boot_line() {
    local file=$1 line=$2
    [ -f "$file" ] || return 0
    grep -vxF "$line" "$file" > "$file.tmp" || true
    cat "$file.tmp" > "$file"
    rm -f "$file.tmp"
    # Only the first line written here is left: the file does nothing any more.
    if ! grep -qv '^#!/bin/bash$' "$file"; then rm -f "$file"; fi
}

# The USB serial ids in a rules file.
serials() { [ -f "$1" ] && sed -n 's/.*ENV{ID_SERIAL}=="\([^"]*\)".*/\1/p' "$1" || true; }

# Puts the kept rules in force; the adapters whose USB serial ids are given (no longer claimed)
# go back to serial-starter.
activate_claims() {
    if grep -q 'VE_SERVICE' "$PORT_RULES" 2>/dev/null; then
        mkdir -p "$(dirname "$UDEV_RULES")"
        cp "$PORT_RULES" "$UDEV_RULES"
    else
        rm -f "$UDEV_RULES"
    fi
    if [ -n "$ROOT" ] || ! command -v udevadm >/dev/null; then return 0; fi
    udevadm control --reload
    # An add event again on just these adapters' ports: udev gives them the property, and
    # serial-starter sees a port that was given back as new.
    local serial
    for serial in $(serials "$UDEV_RULES") "$@"; do
        udevadm trigger --action=add --subsystem-match=tty --property-match="ID_SERIAL=$serial"
    done
}

claim_ports() {
    local before
    before=$(serials "$PORT_RULES")
    run_python "$APP" -m dbus_bms.port_claim "$CONFIG" > "$PORT_RULES.new"
    mv "$PORT_RULES.new" "$PORT_RULES"
    local released=() serial
    for serial in $before; do
        grep -qF "ENV{ID_SERIAL}==\"$serial\"" "$PORT_RULES" || released+=("$serial")
    done
    activate_claims "${released[@]}"
    local port tty other
    for port in $(sed -n 's|^# [A-Za-z0-9_]*: \(/.*\)|\1|p' "$PORT_RULES"); do
        say "claimed $port from serial-starter"
        tty=$(basename "$(readlink -f "$port")")
        for other in "$ROOT"/service/*."$tty"; do
            [ -e "$other" ] || continue
            say "serial-starter already runs $(basename "$other") on $tty: it keeps the port until the GX restarts (or: svc -d $other)"
        done
    done
}

copy_release() {
    rm -rf "$APP.new"
    mkdir -p "$APP.new"
    cp -r "$SRC/dbus_bms" "$SRC/ext" "$SRC/examples" "$SRC/qml" "$SRC/install.sh" "$APP.new/"
    local part
    for part in dbus_bms ext examples qml install.sh; do
        rm -rf "${APP:?}/$part"
        mv "$APP.new/$part" "$APP/$part"
    done
    # The service folder itself stays: supervise keeps its state in it, and a new folder would get
    # a second supervise beside the first.
    cp "$SRC/service/run" "$APP.new/run"
    cp "$SRC/service/log/run" "$APP.new/log-run"
    mv -f "$APP.new/run" "$APP/service/run"
    mv -f "$APP.new/log-run" "$APP/service/log/run"
    rm -rf "$APP.new"
}

install_gui_plugin() {
    mkdir -p "$GUI_PLUGIN_DIR/gui-v2"
    # Renamed into place: gui-v2 reads every *.json there as soon as it appears.
    cp "$APP/qml/gui-v2/dbus-bms.json" "$GUI_PLUGIN_DIR/gui-v2/dbus-bms.json.new"
    mv -f "$GUI_PLUGIN_DIR/gui-v2/dbus-bms.json.new" "$GUI_PLUGIN_DIR/gui-v2/dbus-bms.json"
}

install() {
    check_venus
    check_python
    [ -d "$SRC/dbus_bms" ] && [ -d "$SRC/ext" ] || die "run me from an unpacked release (tools/make-release.sh builds one)"
    if [ -e "$CONFIG" ]; then
        say "checking your config $CONFIG"
        # With the code being installed, before anything is changed.
        run_python "$SRC" -m dbus_bms check-config "$CONFIG" \
            || die "your config has errors (above): nothing was changed. Fix them, then run this again: bash $SRC/install.sh"
    fi
    mkdir -p "$APP/service/log" "$CONF_DIR"
    if [ "$SRC" != "$APP" ]; then copy_release; fi
    chmod +x "$APP/service/run" "$APP/service/log/run" "$APP/install.sh"
    install_gui_plugin
    add_boot_line "$RCS_LOCAL" "$EARLY_LINE"
    add_boot_line "$RC_LOCAL" "$BOOT_LINE"
    if [ ! -e "$CONFIG" ]; then
        cp "$APP/examples/dbus-bms.yaml" "$CONFIG"
        # The example names /dev/ttyUSB0, which on this GX may be another device: nothing runs, and
        # no port is claimed, until the owner has put in the real ports.
        keep_down
        say "installed in $APP and wrote an example config to $CONFIG; the service stays down until"
        say "you have edited it and run this again: bash $APP/install.sh"
        return 0
    fi
    if cmp -s "$CONFIG" "$APP/examples/dbus-bms.yaml"; then
        keep_down
        say "$CONFIG is still the example: the service stays down until you have put in your own"
        say "ports and run this again: bash $APP/install.sh"
        return 0
    fi
    claim_ports
    start_service
    say "installed in $APP; your config and state stay in $CONF_DIR; the log: tail -F $LOG_DIR/current | tai64nlocal"
}

uninstall() {
    rm -f "$SERVICE"
    if [ -d "$APP/service" ]; then
        # -x: supervise ends too once the daemon is down; without the link svscan starts no other.
        local dir
        for dir in "$APP/service" "$APP/service/log"; do
            if supervised "$dir"; then svc -dx "$dir"; fi
        done
        local waited=0
        while { supervised "$APP/service" || supervised "$APP/service/log"; } && [ "$waited" -lt 300 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
    fi
    local released
    released=$(serials "$PORT_RULES")
    rm -f "$PORT_RULES"
    # shellcheck disable=SC2086
    activate_claims $released
    remove_boot_line "$RCS_LOCAL" "$EARLY_LINE"
    remove_boot_line "$RC_LOCAL" "$BOOT_LINE"
    rm -rf "$APP" "$APP.new" "$LOG_DIR" "$GUI_PLUGIN_DIR"
    say "removed; your config and state are kept in $CONF_DIR (delete that folder to remove them too)"
}

case "${1:-}" in
    "") install ;;
    --boot) check_python; link_service ;;
    --boot-early) activate_claims ;;
    --uninstall) uninstall ;;
    *) die "usage: bash install.sh [--uninstall | --boot-early | --boot]" ;;
esac
