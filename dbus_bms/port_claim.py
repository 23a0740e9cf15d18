"""The udev rules that keep Venus OS's serial-starter off the config's serial ports.

serial-starter starts Victron's own drivers on every USB serial port it finds, one after another,
unless udev gives the port the property VE_SERVICE=ignore. A rule here names one USB serial
interface by its udev identity (ID_SERIAL and ID_USB_INTERFACE_NUM), the same identity a
/dev/serial/by-id/ name is built from, so it follows the adapter to whichever ttyUSB number it
gets and claims nothing else. docs/install-gx.md explains the mechanism and where it was read.

Run as ``python3 -m dbus_bms.port_claim CONFIG``: the rules on stdout, and on stderr one line for
each serial port that could not be claimed, with what to do.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import Config, ConfigError, load_config
from .transports.tcp import is_tcp

BY_ID = "/dev/serial/by-id/"
# udev's own by-id name: usb-<ID_SERIAL>-if<ID_USB_INTERFACE_NUM>, with -port<N> for an
# interface that has several ports.
_BY_ID_NAME = re.compile(r"usb-(?P<serial>.+)-if(?P<interface>[0-9a-fA-F]{2})(?:-port\d+)?")
# udev writes ID_SERIAL with these characters only (it replaces the rest with _); anything else
# cannot be a real adapter, and a quote or a glob character would change what the rule matches.
_SAFE = re.compile(r"[A-Za-z0-9#+.:=@_-]+")


@dataclass(frozen=True)
class Claim:
    alias: str
    port: str
    serial: str
    interface: str


Lookup = Callable[[str], dict[str, str]]


def udev_properties(device: str) -> dict[str, str]:
    """What udev knows of a device node, as serial-starter reads it (empty when it knows nothing)."""
    try:
        r = subprocess.run(["udevadm", "info", "--query=property", f"--name={device}"],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if r.returncode != 0:
        return {}
    return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)


def claims(config: Config, lookup: Lookup = udev_properties) -> tuple[list[Claim], list[str]]:
    """The config's USB serial ports as udev identifies them, and a sentence for each serial port
    that cannot be claimed. Ports shared by several packs are claimed once."""
    found: list[Claim] = []
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for battery in config.batteries:
        port = battery.port
        if port is None or is_tcp(port):
            continue
        claim, problem = _claim(battery.alias, port, lookup)
        if problem:
            problems.append(f"{battery.alias}: {port} is not claimed from serial-starter: {problem}")
        elif claim and (claim.serial, claim.interface) not in seen:
            seen.add((claim.serial, claim.interface))
            found.append(claim)
    return found, problems


def _claim(alias: str, port: str, lookup: Lookup) -> tuple[Claim | None, str]:
    if port.startswith(BY_ID):
        name = _BY_ID_NAME.fullmatch(port[len(BY_ID):])
        if name is None:
            return None, "not a USB adapter's by-id name (usb-<serial>-if<NN>...)"
        serial, interface = name["serial"], name["interface"].lower()
    else:
        props = lookup(port)
        if props.get("ID_BUS") != "usb" or not props.get("ID_SERIAL"):
            return None, (f"udev knows no USB serial adapter there now; name the port by its {BY_ID} path, "
                          "so it is claimed whether or not it is plugged in")
        serial, interface = props["ID_SERIAL"], props.get("ID_USB_INTERFACE_NUM", "00")
    if not _SAFE.fullmatch(serial) or not _SAFE.fullmatch(interface):
        return None, f"its USB serial id {serial!r} has characters udev never writes"
    return Claim(alias, port, serial, interface), ""


def rules(found: list[Claim], source: str) -> str:
    """The rules file: a comment naming the config, then one rule per claimed port."""
    lines = [f"# Written by dbus-bms from {source}: serial-starter leaves these ports to dbus-bms.",
             "# Made again by install.sh; edit the config and run it, not this file."]
    for c in found:
        # No ACTION match: the property must hold after any later event on the port, not only
        # after it was plugged in.
        lines += [f"# {c.alias}: {c.port}",
                  f'SUBSYSTEM=="tty", ENV{{ID_BUS}}=="usb", ENV{{ID_SERIAL}}=="{c.serial}", '
                  f'ENV{{ID_USB_INTERFACE_NUM}}=="{c.interface}", ENV{{VE_SERVICE}}="ignore"']
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 -m dbus_bms.port_claim CONFIG", file=sys.stderr)
        return 2
    try:
        config = load_config(argv[0])
    except (ConfigError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 2
    found, problems = claims(config)
    for problem in problems:
        print(problem, file=sys.stderr)
    sys.stdout.write(rules(found, str(Path(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
