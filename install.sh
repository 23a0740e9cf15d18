#!/usr/bin/env bash
# Installs dbus-bms on a Venus OS GX device (Cerbo GX, Ekrano, Raspberry Pi), run as root from an
# unpacked release (tools/make-release.sh builds one):
#
#   bash install.sh            install or update; the first time, it writes an example config and
#                              leaves the service down: edit the config and run it again
#   bash install.sh --boot     re-create the service after a reboot or firmware update (from rc.local)
#   bash install.sh --uninstall
#
# Everything lives under /data, which survives firmware updates: the code and its vendored
# dependencies in /data/apps/dbus-bms, your config and state in /data/dbus-bms. /service is rebuilt
# at every boot, so one line in /data/rc.local re-links the service.
# DBUS_BMS_ROOT prefixes every path, so the script can be tried out in a scratch folder.
set -euo pipefail

ROOT=${DBUS_BMS_ROOT:-}
APP="$ROOT/data/apps/dbus-bms"
CONF_DIR="$ROOT/data/dbus-bms"
SERVICE="$ROOT/service/dbus-bms"
RC_LOCAL="$ROOT/data/rc.local"
BOOT_LINE="bash /data/apps/dbus-bms/install.sh --boot  # dbus-bms"
SRC=$(cd "$(dirname "$0")" && pwd)

say() { echo "dbus-bms: $*"; }
die() { echo "dbus-bms: $*" >&2; exit 1; }

check_python() {
    command -v python3 >/dev/null || die "python3 not found; dbus-bms needs Venus OS 3.60 or later"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "python3 is $(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])'); dbus-bms needs 3.11 or later (Venus OS 3.60 and later ship 3.12)"
}

link_service() {
    mkdir -p "$(dirname "$SERVICE")"
    ln -sfn "/data/apps/dbus-bms/service" "$SERVICE"
}

add_boot_line() {
    if [ ! -f "$RC_LOCAL" ]; then
        printf '#!/bin/bash\n' > "$RC_LOCAL"
    fi
    chmod +x "$RC_LOCAL"
    grep -qxF "$BOOT_LINE" "$RC_LOCAL" || echo "$BOOT_LINE" >> "$RC_LOCAL"
}

install() {
    check_python
    [ -d "$SRC/dbus_bms" ] && [ -d "$SRC/ext" ] || die "run me from an unpacked release (tools/make-release.sh builds one)"
    mkdir -p "$APP" "$CONF_DIR"
    if [ "$SRC" != "$APP" ]; then
        rm -rf "$APP.new"
        mkdir -p "$APP.new"
        cp -r "$SRC/dbus_bms" "$SRC/ext" "$SRC/service" "$SRC/examples" "$SRC/install.sh" "$APP.new/"
        rm -rf "$APP"
        mv "$APP.new" "$APP"
    fi
    chmod +x "$APP/service/run" "$APP/service/log/run" "$APP/install.sh"
    if [ -e "$CONF_DIR/config.yaml" ]; then
        say "keeping your config $CONF_DIR/config.yaml"
        rm -f "$APP/service/down"
    else
        cp "$APP/examples/dbus-bms.yaml" "$CONF_DIR/config.yaml"
        # The example names /dev/ttyUSB0, which on this GX may be another device: the service
        # stays down until the owner has put in the real ports.
        touch "$APP/service/down"
        say "wrote an example config to $CONF_DIR/config.yaml; the service stays down until you"
        say "have edited it and run this again: bash /data/apps/dbus-bms/install.sh"
    fi
    add_boot_line
    link_service
    say "installed in $APP; check your config with:"
    say "  PYTHONPATH=$APP/ext:$APP python3 -m dbus_bms check-config $CONF_DIR/config.yaml"
}

uninstall() {
    if [ -L "$SERVICE" ] || [ -e "$SERVICE" ]; then
        command -v svc >/dev/null && [ -z "$ROOT" ] && svc -d "$SERVICE" "$SERVICE/log" || true
        rm -rf "$SERVICE"
    fi
    if [ -f "$RC_LOCAL" ]; then
        grep -vxF "$BOOT_LINE" "$RC_LOCAL" > "$RC_LOCAL.tmp" || true
        cat "$RC_LOCAL.tmp" > "$RC_LOCAL"
        rm -f "$RC_LOCAL.tmp"
    fi
    rm -rf "$APP"
    say "removed; kept your config and state in $CONF_DIR"
}

case "${1:-}" in
    "") install ;;
    --boot) check_python; link_service ;;
    --uninstall) uninstall ;;
    *) die "usage: bash install.sh [--boot | --uninstall]" ;;
esac
