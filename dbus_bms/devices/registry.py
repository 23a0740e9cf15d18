"""The config ``type:`` names, what link each one uses, and the device each one builds.

Device modules are imported only when a device of that type is built, so validating a config or
reading a serial BMS never loads the BLE stack.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import Device
from .plausibility import ReadingJudge


@dataclass(frozen=True)
class DeviceKind:
    """One ``type:``: what it is, its link (``serial``, ``ble``, or ``dbus`` for a service on the GX's
    own D-Bus), the protocols it can be told to use (empty when it speaks one), and the class that
    reads it (``module:Class`` under devices/).

    A ``bus`` type puts several BMSes on one port, each at its RS485 ``address``, one of
    ``addresses`` (``default_address`` when the config gives none; None: it must); with
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
    addresses: range = range(1, 16)
    default_address: int | None = None
    # The type finds its BMS's family by probing the port (``auto``): each family at its own baud
    # rate unless the config sets one, and the device keeps what it found in the state directory.
    probes: bool = False
    # Why the type cannot be used in this Python environment; None: it can.
    unavailable: str | None = None
    # What a device of this type can lend a battery under its ``borrow:`` (names of
    # ``borrowing.LENT_FIELDS``); empty: it is not a source.
    lends: tuple[str, ...] = ()
    # Only ever a source under a battery's ``borrow:``, never a battery of its own (a battery monitor
    # that knows no cells).
    source_only: bool = False


def _aiobmsble_modules() -> tuple[str, ...]:
    """The BMS modules of the installed aiobmsble, by file name and without importing it (it needs
    Python 3.12, and validating a config should load no BLE stack); () when it is not installed."""
    try:
        spec = importlib.util.find_spec("aiobmsble")
    except (ImportError, ValueError):
        return ()
    if spec is None or not spec.submodule_search_locations:
        return ()
    found = pkgutil.iter_modules([str(Path(p) / "bms") for p in spec.submodule_search_locations])
    return tuple(sorted(m.name for m in found if m.name.endswith("_bms") and m.name != "dummy_bms"))


AIOBMSBLE_MODULES = _aiobmsble_modules()


DEVICE_TYPES: dict[str, DeviceKind] = {
    "jk-nw": DeviceKind("JK BMS, UART/RS485 'NW' protocol (4E 57 frames)", "serial", (), "jk_nw:JkNwDevice"),
    "jbd": DeviceKind(
        "JBD / Xiaoxiang / Overkill Solar BMS, UART/RS485 (DD ... 77 frames)", "serial", (), "jbd:JbdDevice", baudrate=9600
    ),
    "jbd-ble": DeviceKind("JBD / Xiaoxiang / Overkill Solar BMS over Bluetooth LE (its UART module, service FF00; "
                          "protocol dh04: modules bridging on FFF1/FFF2); pin: the module's password, if it has one",
                          "ble", ("ff00", "dh04"), "jbd:JbdDevice"),
    "daly": DeviceKind("Daly Smart BMS, UART/RS485 classic protocol (A5 13-byte frames)", "serial", (), "daly:DalyDevice",
                       baudrate=9600),
    "daly-ble": DeviceKind("Daly Smart BMS over Bluetooth LE: the classic module (A5 frames) or the newer Modbus one "
                           "(D2 03), auto-detected", "ble", ("auto", "classic", "modbus"), "daly_ble:DalyBleDevice"),
    "seplos-ble": DeviceKind("Seplos v2 BMS over Bluetooth LE (its module's binary form, 7E ... 0D, service FF00)",
                             "ble", (), "seplos_ble:SeplosBleDevice"),
    "seplos": DeviceKind("Seplos v2 BMS, RS485 ASCII protocol (~ ... CR frames): packs at addresses 0-15 (0 unless given)",
                         "serial", (), "seplos:SeplosDevice", baudrate=19200, bus=True, timeout=0.5,
                         addresses=range(0, 16), default_address=0),
    "ant": DeviceKind("ANT BMS, UART/RS485: 2021+ protocol (7E A1 frames) or legacy (AA 55 AA FF), auto-detected",
                      "serial", ("auto", "new", "legacy"), "ant:AntDevice", baudrate=19200),
    "ant-ble": DeviceKind("ANT BMS over Bluetooth LE (its UART module, service FFE0): 2021+ or legacy protocol, "
                          "auto-detected", "ble", ("auto", "new", "legacy"), "ant:AntDevice"),
    "cbtpwr-ble": DeviceKind("CBT Power / Creabest smart BMS over Bluetooth LE (AA 55 frames, services FFE5 and FFE0); "
                             "read-only", "ble", (), "cbtpwr:CbtPowerDevice"),
    # The balancer streams cell info about once a second: a reply waits up to 3 s.
    "neey-ble": DeviceKind("NEEY / Heltec active balancer over Bluetooth LE (GW-24S4EB, EK-24S4EB, EK-B24S8E200A; "
                           "service FFE0): cells, balancing and its balancer switch; alone, or lending its cells to "
                           "a battery under borrow:", "ble", (), "neey:NeeyBleDevice", timeout=3.0, lends=("cells",)),
    # A service on the GX's own D-Bus answers within milliseconds; a busy GX may take a while.
    "dbus-battery": DeviceKind("A battery monitor the GX already publishes on its D-Bus (a SmartShunt or BMV on "
                               "VE.Direct: service com.victronenergy.battery.ttyS5), lending its current, SoC and "
                               "consumed Ah to a battery under borrow:", "dbus", (), "dbus_source:DbusBatterySource",
                               timeout=1.0, lends=("current", "soc", "consumed_ah"), source_only=True),
    # A value read is one ATT round trip; a reply waits up to 2 s.
    "smartshunt-ble": DeviceKind("Victron SmartShunt over Bluetooth LE GATT (firmware 2.31 or later with Bluetooth "
                                 "GATT enabled in VictronConnect; pin: its PIN, 000000 unless changed), lending its "
                                 "current, SoC and consumed Ah to a battery under borrow:", "ble", (),
                                 "smartshunt_ble:SmartShuntBleDevice", timeout=2.0,
                                 lends=("current", "soc", "consumed_ah"), source_only=True),
    "sok-ble": DeviceKind("SOK battery BMS (ABC-BMS) over Bluetooth LE (EE/CC frames, service FFE0); read-only",
                          "ble", (), "sok:SokDevice"),
    "supervolt-ble": DeviceKind("Supervolt battery of the older kind over Bluetooth LE (ASCII : ... ~ frames, Nordic "
                                "UART service); read-only. Newer Supervolt batteries (SX1..., SX60...): jbd-ble",
                                "ble", (), "supervolt:SupervoltDevice"),
    "cbtpwr-vb-ble": DeviceKind("Creabest / CBT Power VB series over Bluetooth LE (ASCII ~ ... CR frames, the CBT "
                                "Power module's FFE9/FFE4); read-only", "ble", (), "cbtpwr_vb:CbtPowerVbDevice"),
    "auto": DeviceKind("A serial BMS of unknown family: jk-nw, seplos, daly, jbd or ant, found by probing the port "
                       "with read requests", "serial", (), "auto:AutoDevice", probes=True),
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
    # A pack answers within 40 ms at 19200 baud; one that does not costs the bus 0.4 s.
    "seplos-v3": DeviceKind(
        "Seplos v3 (10E and later) on an RS485 bus, Modbus RTU: packs at addresses 0-15; protocol: 200a (boards "
        "up to 200 A, the default) or 400a (boards of 300 A and 400 A, which count the current in 0.1 A)", "serial", ("200a", "400a"),
        "seplos_v3:SeplosV3Device", bus=True, timeout=0.4, baudrate=19200, addresses=range(0, 16),
    ),
    # A status reply of 16 cells is 168 bytes, 175 ms at 9600 baud.
    "jbd-up": DeviceKind(
        "JBD UP series (UP16S) on an RS485 bus of daisy-chained packs, 0x78 reads: packs at addresses 1-15",
        "serial", (), "jbd_up:JbdUpDevice", bus=True, timeout=0.6, baudrate=9600,
    ),
    # The module names are protocol names, so the config checks them as it checks any protocol.
    "aiobmsble": DeviceKind(
        "Any BLE BMS the aiobmsble library reads, read only; protocol: its module name (ogt_bms, ...), or auto "
        "(the default): the module whose advertisement patterns match the device",
        "ble", ("auto", *AIOBMSBLE_MODULES), "aiobmsble_adapter:AiobmsbleDevice",
        unavailable=None if AIOBMSBLE_MODULES else (
            "needs the aiobmsble library, which is not installed here: pip install 'dbus-bms[aiobmsble]' "
            "(Python 3.12 or later; Venus OS 3.60 ships 3.12)"),
    ),
}


def create_device(cfg: Any, *, state_dir: Path | None = None) -> Device:
    """The device for one battery's config (a BatteryConfig or anything with its fields); with
    charge settings, its readings count as frozen after ``charge.frozen_polls`` identical ones.
    ``state_dir``: where a probing type keeps the family it found (None: it keeps nothing)."""
    try:
        kind = DEVICE_TYPES[cfg.type]
    except KeyError:
        raise ValueError(f"unknown device type {cfg.type!r}; known: {', '.join(DEVICE_TYPES)}") from None
    module, cls = kind.implementation.split(":")
    built = getattr(importlib.import_module(f"{__package__}.{module}"), cls)
    device: Device = built.from_config(cfg, state_dir=state_dir) if kind.probes else built.from_config(cfg)
    borrowed = getattr(cfg, "borrow", ())
    if borrowed:
        from .borrowing import BorrowingDevice, Source

        sources = [Source(create_device(b.source), source_name(b.source), b.lends) for b in borrowed]
        device = BorrowingDevice(device, cfg.type, sources, stale_after=cfg.charge.stale_after)
    charge = getattr(cfg, "charge", None)
    if charge is not None:
        device.judge = ReadingJudge(frozen_polls=int(charge.frozen_polls))
    return device


def source_name(cfg: Any) -> str:
    """How a borrowed source is named where a battery says where its values came from:
    ``neey-ble 3C:A5:4E:00:00:01``, ``dbus-battery com.victronenergy.battery.ttyS5``."""
    return f"{cfg.type} {cfg.address or cfg.port or cfg.service}"
