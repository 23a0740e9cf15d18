"""The config ``type:`` names, what link each one uses, and the device each one builds.

Device modules are imported only when a device of that type is built, so validating a config or
reading a serial BMS never loads the BLE stack.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from .base import Device
from .plausibility import ReadingJudge


@dataclass(frozen=True)
class DeviceKind:
    """One ``type:``: what it is, its link (``serial`` or ``ble``), the protocols it can be told to
    use (empty when it speaks one), and the class that reads it (``module:Class`` under devices/).

    A ``bus`` type puts several BMSes on one port, each at its RS485 ``address`` (1-15); with
    ``listen: true`` a pack at address 0 is the bus master and we only listen. ``timeout`` is its
    reply timeout unless the config sets one (None: the link's default); ``listen_timeout`` how long
    a listening poll waits for the next record, and ``master_cycle`` the longest cycle of a master.
    """

    description: str
    link: str
    protocols: tuple[str, ...]
    implementation: str
    bus: bool = False
    timeout: float | None = None
    listen_timeout: float | None = None
    master_cycle: float | None = None
    # The line's baud rate unless the config sets one (None: 115200).
    baudrate: int | None = None


DEVICE_TYPES: dict[str, DeviceKind] = {
    "jk-nw": DeviceKind("JK BMS, UART/RS485 'NW' protocol (4E 57 frames)", "serial", (), "jk_nw:JkNwDevice"),
    "jbd": DeviceKind(
        "JBD / Xiaoxiang / Overkill Solar BMS, UART/RS485 (DD ... 77 frames)", "serial", (), "jbd:JbdDevice", baudrate=9600
    ),
    "daly": DeviceKind("Daly Smart BMS, UART/RS485 classic protocol (A5 13-byte frames)", "serial", (), "daly:DalyDevice",
                       baudrate=9600),
    "seplos": DeviceKind("Seplos v2 BMS, RS485 ASCII protocol (~ ... CR frames), one pack per port", "serial", (),
                         "seplos:SeplosDevice", baudrate=19200),
    "ant": DeviceKind("ANT BMS, UART/RS485: 2021+ protocol (7E A1 frames) or legacy (AA 55 AA FF), auto-detected",
                      "serial", ("auto", "new", "legacy"), "ant:AntDevice", baudrate=19200),
    "jk": DeviceKind(
        "JK BMS over Bluetooth LE (JK02_24S, JK02_32S, JK04; chosen from the firmware version)",
        "ble",
        ("auto", "jk02_24s", "jk02_32s", "jk04"),
        "jk_ble:JkBleDevice",
    ),
    # A pack answers a trigger in about 40 ms: one that does not answer costs the bus 0.3 s. A master
    # pack's cycle is about 4.4 s with 3 slaves, 7 s at most (two polls of each of 15 slaves, or a
    # scan of each empty address, and its own two records); a listening poll waits a cycle and more.
    "jk-pb": DeviceKind(
        "JK PB series (inverter BMS) on an RS485 bus: packs at addresses 1-15, or listening to a master at 0",
        "serial",
        (),
        "jk_pb:JkPbDevice",
        bus=True,
        timeout=0.3,
        listen_timeout=8.0,
        master_cycle=7.0,
    ),
}


def create_device(cfg: Any) -> Device:
    """The device for one battery's config (a BatteryConfig or anything with its fields); with
    charge settings, its readings count as frozen after ``charge.frozen_polls`` identical ones."""
    try:
        kind = DEVICE_TYPES[cfg.type]
    except KeyError:
        raise ValueError(f"unknown device type {cfg.type!r}; known: {', '.join(DEVICE_TYPES)}") from None
    module, cls = kind.implementation.split(":")
    device: Device = getattr(importlib.import_module(f"{__package__}.{module}"), cls).from_config(cfg)
    charge = getattr(cfg, "charge", None)
    if charge is not None:
        device.judge = ReadingJudge(frozen_polls=int(charge.frozen_polls))
    return device
