"""The YAML configuration: parsed from the node tree so every error can name its line and key."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .charge.config import ChargeConfig
from .charge.tables import make_table
from .devices.registry import DEVICE_TYPES, DeviceKind
from .group import WIRINGS
from .transports.ble_address import mac_problem, normal_target
from .transports.tcp import SCHEME, is_tcp, tcp_address, tcp_peer


@dataclass(frozen=True)
class ConfigIssue:
    line: int
    key: str
    message: str


class ConfigError(Exception):
    def __init__(self, source: str, errors: list[ConfigIssue]) -> None:
        self.source = source
        self.errors = errors
        super().__init__("\n".join(f"{source}:{e.line}: {e.key}: {e.message}" for e in errors))


# How long a poll waits for the reply. A JK answers a read-all in ~30 ms at 115200 baud; 0.5 s
# leaves room for a busy USB adapter. Over BLE a reply spans several connection intervals and a
# busy radio retransmits, so the wait is longer.
DEFAULT_TIMEOUT = {"serial": 0.5, "ble": 5.0}
BLE_MODES = ("keep-alive", "per-poll")


@dataclass(frozen=True)
class BatteryConfig:
    type: str
    port: str | None
    alias: str
    address: str | None = None
    adapter: str | None = None
    pin: str | None = None
    ble_mode: str = "keep-alive"
    protocol: str | None = None
    # None only for a type that probes its port (auto): each family at its own baud rate.
    baudrate: int | None = 115200
    poll_interval: float = 1.0
    timeout: float = 0.5
    device_instance: int = 512
    charge: ChargeConfig = field(default_factory=ChargeConfig)
    # A bus type's packs only listen to a master pack at address 0; nothing is sent.
    listen: bool = False
    # Whether the GX may switch this BMS's FETs and balancer (/Settings/ForceChargingOff and the
    # like); off, such a write is refused and nothing is sent to the BMS.
    control: bool = False
    # Devices this battery borrows values from (``borrow:``), each with what it lends.
    borrow: tuple[BorrowConfig, ...] = ()
    # A source on the GX's D-Bus (``dbus-battery``): the full name of the service it reads.
    service: str | None = None
    # SoC by counting (soc_counter.py): published /Soc follows dbus-bms's own count, charge put in
    # counted times ``soc_efficiency``.
    soc_counting: bool = False
    soc_efficiency: float = 0.99


@dataclass(frozen=True)
class BorrowConfig:
    """One ``borrow:`` entry: the lending device's link (as a battery's, by its own ``type``) and
    the values it lends (names of ``devices.borrowing.LENT_FIELDS``)."""

    source: BatteryConfig
    lends: tuple[str, ...]


@dataclass(frozen=True)
class GroupConfig:
    """One ``groups:`` entry: batteries (by alias, in config order) published as one battery."""

    alias: str
    members: tuple[str, ...]
    wiring: str = "parallel"
    min_members: int = 1
    device_instance: int = 512
    product_name: str | None = None
    # Whether every member counts its SoC (``soc_counting`` of a battery), each with this charge
    # efficiency unless it counts with its own.
    soc_counting: bool = False
    soc_efficiency: float = 0.99


@dataclass(frozen=True)
class Config:
    batteries: tuple[BatteryConfig, ...]
    poll_interval: float = 1.0
    state_dir: str = ""
    log_level: str = "info"
    # How long a service waits at its start for localsettings before it falls back to the
    # configured device instance (Victron's own services wait 10 s too).
    settings_wait: float = 10.0
    # At a stop, how long CCL 0 stays published before the services leave the bus: DVCC forwards
    # limits every 3 s, and a name that leaves first leaves the chargers on the last limits.
    stop_hold: float = 3.0
    # A per-path PropertiesChanged beside each ItemsChanged, for consumers older than Victron's
    # own that read ItemsChanged (velib before October 2021); off, each change goes out once.
    properties_changed: bool = False
    # How often (s) the energy meters and a counted SoC go to flash: a kill or a power cut loses at
    # most one interval of them, and a day costs at most 86400 / this writes of each.
    history_interval: float = 60.0
    # Batteries published together as one battery each; their members are published only in them.
    groups: tuple[GroupConfig, ...] = ()


def default_state_dir() -> str:
    return "/data/dbus-bms" if os.path.isdir("/data") else str(Path.home() / ".local/state/dbus-bms")


# A config is a few KiB; the bounds keep a damaged or hostile file from costing more than a moment.
MAX_BYTES = 64 * 1024
MAX_DEPTH = 32
MAX_ALIASES = 100

_TOP_KEYS = {
    "poll_interval", "state_dir", "log_level", "settings_wait", "stop_hold", "properties_changed", "charge", "batteries",
    "control", "groups", "history_interval",
}
_GROUP_KEYS = {"alias", "members", "wiring", "min_members", "device_instance", "product_name", "soc_counting",
               "soc_efficiency"}
_BATTERY_KEYS = {
    "type", "port", "address", "adapter", "pin", "ble_mode", "protocol", "alias", "baudrate", "poll_interval",
    "timeout", "device_instance", "charge", "listen", "control", "borrow", "soc_counting", "soc_efficiency",
}
_BORROW_KEYS = {"type", "port", "address", "adapter", "pin", "ble_mode", "baudrate", "timeout", "lends", "service"}
_SERIAL_ONLY = ("port", "baudrate")
_BLE_ONLY = ("address", "adapter", "pin", "ble_mode")
_CHARGE_FIELDS = {f.name: f for f in dataclasses.fields(ChargeConfig)}
_LEVELS = ("debug", "info", "warning", "error")
_TAG = "tag:yaml.org,2002:"
_CORE = ("str", "int", "float", "bool", "null", "timestamp")
_STR, _INT, _FLOAT, _BOOL = (_TAG + t for t in _CORE[:4])
# Scalars a string key takes as written: `pin: 0123` is the text 0123, not the YAML 1.1 octal 83.
_TEXT_TAGS = {_STR, _INT, _FLOAT, _TAG + "timestamp"}
# Reads YAML 1.1 ints (0x1F, 1_000), floats (.5, 1.5e+3) and booleans from a single scalar node.
_YAML = yaml.constructor.SafeConstructor()


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value


# Where a value was set, to report a rule that involves it: (key path, value node).
Where = tuple[str, yaml.Node]


def _span(addresses: range) -> str:
    return f"{addresses.start}-{addresses.stop - 1}"


def _cut(text: str) -> str:
    return text if len(text) <= 100 else text[:100] + "..."


def _got(node: yaml.ScalarNode) -> str:
    """The value as written, for an error; with its tag when it has one of its own (`!!binary`)."""
    tag = "!!" + node.tag[len(_TAG):] if node.tag.startswith(_TAG) else node.tag
    tagged = "" if tag[2:] in _CORE else f" tagged {_cut(tag)}"
    return f"{_cut(node.value)!r}{tagged}"


class _BoundedLoader(yaml.SafeLoader):
    """Composes the node tree with nesting and aliases bounded: 50,000 nested brackets would
    otherwise exhaust the stack (PyYAML composes one level per call), and a few aliases of
    aliases expand to a billion values in whatever walks the tree."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.alias_count = 0

    def fetch_flow_collection_start(self, TokenClass: type) -> None:
        # The scanner looks ahead over every open bracket (each might start a key): 50,000 of them
        # cost it a second before the composer sees the first, which would refuse that depth anyway.
        if self.flow_level == MAX_DEPTH:
            raise yaml.scanner.ScannerError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if isinstance(parent, yaml.MappingNode) and index is None:
            self.refuse_a_key_that_is_not_plain()
        if self.check_event(yaml.AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_ALIASES:
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_ALIASES} aliases (*name) in one file", self.peek_event().start_mark
                )
        elif self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            if self.depth == MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
                )
            self.depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1
        return super().compose_node(parent, index)

    def refuse_a_key_that_is_not_plain(self) -> None:
        # Refused here, where the alias is used: an alias bomb as a key, once turned into text
        # (for the error message, say), would take gigabytes.
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            plain = isinstance(self.anchors.get(event.anchor), (yaml.ScalarNode, type(None)))
        else:
            plain = isinstance(event, yaml.ScalarEvent)
        if not plain:
            raise yaml.composer.ComposerError(None, None, "keys must be plain names, not a list or mapping", event.start_mark)


class _Parser:
    def __init__(self, source: str, known_types: Mapping[str, DeviceKind]) -> None:
        self.source = source
        self.known_types = dict(known_types)
        self.errors: list[ConfigIssue] = []
        # Nodes already reported, so a rule between values is not checked on a value that is wrong.
        self.refused: set[int] = set()
        self.aliases: dict[str, int] = {}
        self.ports: dict[str, tuple[str, int]] = {}
        self.addresses: dict[str, int] = {}
        # Ports of a bus type: the first battery on it, and the line of the battery at each address.
        self.buses: dict[str, tuple[BatteryConfig, int, dict[int, int]]] = {}
        self.top_poll: Where | None = None
        # The top level's `control:`, which every battery takes unless it sets its own.
        self.top_control = False
        # Each D-Bus service a battery borrows from, with its node and key, checked against our own
        # services once every battery's alias is known.
        self.dbus_sources: list[tuple[str, yaml.Node, str]] = []

    def err(self, node: yaml.Node, key: str, message: str) -> None:
        self.refused.add(id(node))
        self.errors.append(ConfigIssue(node.start_mark.line + 1, key, message))

    def mapping(self, node: yaml.Node, key: str, allowed: set[str]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            self.err(node, key or "(top)", "expected a mapping of key: value")
            return {}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            name = k.value  # a string: the loader takes no other keys
            path = f"{key}.{_cut(name)}" if key else _cut(name)
            if name not in allowed:
                hint = difflib.get_close_matches(name, sorted(allowed), n=1)
                self.err(k, path, "unknown key" + (f"; did you mean '{hint[0]}'?" if hint else f"; known: {', '.join(sorted(allowed))}"))
            elif name in out:
                self.err(k, path, f"given twice (first on line {out[name][0].start_mark.line + 1})")
            else:
                out[name] = (k, v)
        return out

    def scalar(
        self, node: yaml.Node, key: str, kind: type, lo: float | None = None, hi: float | None = None, unit: str = ""
    ) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.err(node, key, "expected a single value, not a list or mapping")
            return None
        if kind is bool:
            return self.boolean(node, key)
        if kind is str:
            return self.string(node, key)
        value = self.number(node, key, kind)
        if value is not None and (lo is not None and value < lo or hi is not None and value > hi):
            self.err(node, key, f"{_cut(node.value)} is out of range {lo:g} to {hi:g}{' ' + unit if unit else ''}")
            return None
        return value

    def boolean(self, node: yaml.ScalarNode, key: str) -> bool | None:
        if node.tag == _BOOL:
            try:
                return _YAML.construct_yaml_bool(node)
            except KeyError:  # `!!bool maybe`
                pass
        self.err(node, key, f"expected true or false, got {_got(node)}")
        return None

    def string(self, node: yaml.ScalarNode, key: str) -> str | None:
        if node.tag not in _TEXT_TAGS:
            self.err(node, key, f"expected a string, got {_got(node)}")
            return None
        bad = next((c for c in node.value if not c.isprintable()), None)
        if bad is not None:
            self.err(node, key, f"contains the control character U+{ord(bad):04X}")
            return None
        return node.value

    def number(self, node: yaml.ScalarNode, key: str, kind: type) -> float | int | None:
        text = node.value
        value: float | int | None = None
        try:
            if node.tag == _INT:
                value = _YAML.construct_yaml_int(node)
            elif node.tag == _FLOAT:
                value = _YAML.construct_yaml_float(node)
            elif node.tag == _STR and node.style is None:
                value = float(text)  # YAML 1.1 reads 1e9 and 5e-3 as strings: they are numbers here
        except (ValueError, IndexError):  # `!!int abc`, or more digits than Python converts
            value = None
        if value is None:
            self.err(node, key, f"expected a number, got {_got(node)}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.err(node, key, f"must be a finite number, got {_cut(text)!r}")
            return None
        if kind is int:
            if value != int(value):
                self.err(node, key, f"expected a whole number, got {_cut(text)!r}")
                return None
            return int(value)
        try:
            return float(value)
        except OverflowError:  # an integer of hundreds of digits
            self.err(node, key, f"must be a finite number, got {_cut(text)!r}")
            return None

    def table(self, node: yaml.Node, key: str):
        points = []
        if isinstance(node, yaml.SequenceNode):
            for i, p in enumerate(node.value):
                if isinstance(p, yaml.SequenceNode) and len(p.value) == 2:
                    x, y = (self.scalar(v, f"{key}[{i}]", float) for v in p.value)
                    if x is None or y is None:
                        return None
                    points.append((x, y))
                else:
                    self.err(p, f"{key}[{i}]", "expected a pair [x, y]")
                    return None
        else:
            self.err(node, key, "expected a list of [x, y] pairs")
            return None
        try:
            return make_table(points)
        except ValueError as exc:
            self.err(node, key, str(exc))
            return None

    def charge(
        self, node: yaml.Node, key: str, base: ChargeConfig, base_where: dict[str, Where]
    ) -> tuple[ChargeConfig, dict[str, Where]]:
        """The settings of ``base`` with this section's on top, and where each given one was set."""
        items = self.mapping(node, key, set(_CHARGE_FIELDS))
        values: dict[str, Any] = {}
        where = dict(base_where)
        for name, (_, v) in items.items():
            path = f"{key}.{name}"
            where[name] = (path, v)
            meta = _CHARGE_FIELDS[name].metadata
            if meta.get("table"):
                parsed = self.table(v, path)
            elif isinstance(getattr(base, name), bool):
                parsed = self.scalar(v, path, bool)
            else:
                parsed = self.scalar(v, path, float, *meta["range"], unit=meta["unit"])
            if parsed is not None:
                values[name] = parsed
        result = dataclasses.replace(base, **values)
        for name, message in result.check():
            self.err(items[name][1] if name in items else node, f"{key}.{name}", message)
        return result, where

    def parse(self, root: yaml.Node | None) -> Config | None:
        if root is None:
            self.errors.append(ConfigIssue(1, "batteries", "the file is empty; at least one battery is needed"))
            return None
        top = self.mapping(root, "", _TOP_KEYS)

        def setting(name: str, kind: type, default: Any, lo: float | None = None, hi: float | None = None) -> Any:
            if name not in top:
                return default
            return _default(self.scalar(top[name][1], name, kind, lo, hi, "s" if kind is float else ""), default)

        poll = setting("poll_interval", float, 1.0, 0.1, 3600)
        if "poll_interval" in top:
            self.top_poll = ("poll_interval", top["poll_interval"][1])
        state_dir = setting("state_dir", str, "") or default_state_dir()
        level = setting("log_level", str, "info")
        if level not in _LEVELS:
            self.err(top["log_level"][1], "log_level", f"expected one of {', '.join(_LEVELS)}")
        settings_wait = setting("settings_wait", float, 10.0, 0, 600)
        stop_hold = setting("stop_hold", float, 3.0, 0, 30)
        properties_changed = setting("properties_changed", bool, False)
        history_interval = setting("history_interval", float, 60.0, 1, 3600)
        self.top_control = setting("control", bool, False)
        charge, charge_where = ChargeConfig(), {}
        if "charge" in top:
            charge, charge_where = self.charge(top["charge"][1], "charge", charge, charge_where)
        if "batteries" not in top:
            self.err(root, "batteries", "missing: list the BMSes to read")
            return None
        node = top["batteries"][1]
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.err(node, "batteries", "expected a non-empty list of batteries")
            return None
        batteries = []
        for i, b in enumerate(node.value):
            battery = self.battery(b, f"batteries[{i}]", i, poll, charge, charge_where)
            if battery is not None:
                batteries.append(battery)
        groups = self.groups(top["groups"][1], batteries) if "groups" in top else ()
        batteries = _counting_members(batteries, groups)
        self.own_services(groups)
        if self.errors:
            return None
        return Config(tuple(batteries), poll, state_dir, level, settings_wait, stop_hold, properties_changed,
                      groups=groups, history_interval=history_interval)

    def getter(self, items: dict, key: str) -> Callable[..., Any]:
        """``get(name, kind, lo, hi, unit)``: the checked value of ``items[name]`` under ``key``, or
        None when the key is absent."""

        def get(name: str, kind: type, lo: float | None = None, hi: float | None = None, unit: str = "") -> Any:
            return self.scalar(items[name][1], f"{key}.{name}", kind, lo, hi, unit) if name in items else None

        return get

    def battery(
        self, node: yaml.Node, key: str, index: int, poll: float, charge: ChargeConfig, charge_where: dict[str, Where]
    ) -> BatteryConfig | None:
        items = self.mapping(node, key, _BATTERY_KEYS)
        if not isinstance(node, yaml.MappingNode):
            return None
        line = node.start_mark.line + 1

        get = self.getter(items, key)

        kind = get("type", str)
        if "type" not in items:
            self.err(node, f"{key}.type", f"missing; one of {', '.join(self.known_types)}")
        elif kind is not None and kind not in self.known_types:
            hint = difflib.get_close_matches(kind, list(self.known_types), n=1)
            self.err(items["type"][1], f"{key}.type", f"unknown type {kind!r}" + (f"; did you mean '{hint[0]}'?" if hint else f"; known: {', '.join(self.known_types)}"))
        spec = self.known_types.get(kind or "")
        if spec is not None and spec.unavailable:
            self.err(items["type"][1], f"{key}.type", f"type {kind!r} {spec.unavailable}")
        if spec is not None and spec.source_only:
            self.err(items["type"][1], f"{key}.type", f"{kind!r} is no battery of its own: it lends "
                     f"{', '.join(spec.lends)} to a battery that lists it under borrow:")
        if spec is not None and spec.link == "dbus":
            spec = None  # refused just above; a battery's link keys say nothing of a service on the D-Bus
        link = spec.link if spec else None
        bus = spec is not None and spec.bus
        listen = get("listen", bool)
        if "listen" in items and spec is not None and spec.listen_timeout is None:
            self.err(items["listen"][0], f"{key}.listen", f"not used by type {kind!r}: only packs on a shared RS485 bus listen")
        port = self.port(get("port", str), items, key, None if bus else link, line)
        if bus:
            address = self.pack_address(items, key, bool(listen), spec)
        else:
            address = self.address(get("address", str), items, key, link, line)
        if link is not None:
            wrong = _BLE_ONLY if link == "serial" else _SERIAL_ONLY
            for name in wrong:
                if bus and name == "address":
                    continue
                if name in items:
                    self.err(items[name][0], f"{key}.{name}", f"not used by type {kind!r}, which is read over {'a serial port' if link == 'serial' else 'Bluetooth LE'}")
            if link == "serial" and "port" not in items:
                self.err(node, f"{key}.port", f"missing: the serial device, e.g. /dev/ttyUSB0, or a gateway's {SCHEME}host:port")
            if bus and "address" not in items and spec.default_address is None:
                self.err(node, f"{key}.address", f"missing: the pack's RS485 address, as its DIP switches set it ({_span(spec.addresses)})")
            if link == "ble" and "address" not in items:
                self.err(node, f"{key}.address", "missing: the BMS's MAC (C8:47:8C:12:34:56) or advertised name; `dbus-bms scan` lists them")
        adapter = get("adapter", str)
        if adapter is not None and not re.fullmatch(r"hci[0-9]+", adapter):
            self.err(items["adapter"][1], f"{key}.adapter", f"expected an adapter name like hci0, got {_cut(adapter)!r}")
        pin = get("pin", str)
        if pin is not None and not re.fullmatch(r"[0-9]{1,6}", pin):
            self.err(items["pin"][1], f"{key}.pin", "expected up to 6 digits")
        protocol = get("protocol", str)
        if protocol is not None and spec is not None and protocol not in spec.protocols:
            choices = ", ".join(spec.protocols) if spec.protocols else "none: it speaks one protocol"
            self.err(items["protocol"][1], f"{key}.protocol", f"type {kind!r} has no protocol {_cut(protocol)!r}; choices: {choices}")
        mode = get("ble_mode", str)
        if mode is not None and mode not in BLE_MODES:
            self.err(items["ble_mode"][1], f"{key}.ble_mode", f"expected one of {', '.join(BLE_MODES)}")
        alias = get("alias", str)
        if "alias" not in items:
            where = port or (address.replace(":", "") if address else None)
            alias = re.sub(r"[^A-Za-z0-9_]", "_", Path(where or f"battery{index}").name)
            if bus and port and "address" in items:
                alias = f"{alias}_{address if address is not None else f'battery{index}'}"  # several packs on one port
            if alias[:1].isdigit():
                alias = f"bms_{alias}"  # a MAC such as 12:34:...: a bus name part cannot start so
        alias_node = items.get("alias", (node, node))[1]
        if alias is not None:  # None: given, and already reported
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", alias):
                self.err(alias_node, f"{key}.alias", "use letters, digits and underscores, not starting with a digit")
            elif alias in self.aliases:
                self.err(alias_node, f"{key}.alias", f"{alias!r} is already used by the battery on line {self.aliases[alias]}")
            else:
                self.aliases[alias] = line
        own_charge, own_charge_where = charge, charge_where
        if "charge" in items:
            own_charge, own_charge_where = self.charge(items["charge"][1], f"{key}.charge", charge, charge_where)
        counting = get("soc_counting", bool)
        efficiency = get("soc_efficiency", float, 0.8, 1.0)
        counting_refused = "soc_counting" in items and id(items["soc_counting"][1]) in self.refused
        if efficiency is not None and counting is not True and not counting_refused:
            self.err(items["soc_efficiency"][0], f"{key}.soc_efficiency", "has no effect without soc_counting: true")
        battery = BatteryConfig(
            type=kind or "",
            port=port,
            alias=alias or "",
            address=address,
            adapter=adapter,
            pin=pin,
            ble_mode=mode or "keep-alive",
            protocol=protocol,
            baudrate=get("baudrate", int, 1200, 921600) or _default_baudrate(spec),
            poll_interval=get("poll_interval", float, 0.1, 3600, "s") or poll,
            timeout=get("timeout", float, 0.05, 60, "s") or _default_timeout(spec, bool(listen)),
            device_instance=_default(get("device_instance", int, 0, 999), 512 + index),
            charge=own_charge,
            listen=bool(listen),
            control=_default(get("control", bool), self.top_control),
            borrow=self.borrow(items["borrow"][1], f"{key}.borrow", alias or f"battery{index}") if "borrow" in items else (),
            soc_counting=bool(counting),
            soc_efficiency=_default(efficiency, 0.99),
        )
        self.bound(battery, node, key, items, own_charge_where, link)
        lending = _soc_lender(battery)
        if battery.soc_counting and lending is not None:
            self.err(items["soc_counting"][1], f"{key}.soc_counting", f"this battery borrows its SoC from {lending}, "
                     "a battery monitor that counts every amp: counting would only replace it")
        if bus and spec is not None:
            self.share(battery, node, key, items, line)
            self.listening(battery, spec, key, items, own_charge_where)
        return battery

    def groups(self, node: yaml.Node, batteries: list[BatteryConfig]) -> tuple[GroupConfig, ...]:
        """``groups:``: each a few of the batteries published as one; a battery is in one group at most.
        A group without its own ``device_instance`` takes the next one free after the batteries'."""
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.err(node, "groups", "expected a list of groups, each with its alias and members")
            return ()
        known = {b.alias for b in batteries}
        grouped: dict[str, int] = {}
        group_lines: dict[str, int] = {}
        # What lends each battery its SoC, if anything: such a member cannot count its own.
        lenders = {b.alias: _soc_lender(b) for b in batteries}
        found = [self.group(entry, f"groups[{i}]", known, grouped, group_lines, lenders)
                 for i, entry in enumerate(node.value)]
        taken = {b.device_instance for b in batteries} | {g.device_instance for g, own in filter(None, found) if own}
        free = max((b.device_instance for b in batteries), default=511) + 1
        out = []
        for g, own in filter(None, found):
            if not own:
                while free in taken:
                    free += 1
                g = dataclasses.replace(g, device_instance=free)
                taken.add(free)
            out.append(g)
        return tuple(out)

    def group(
        self, node: yaml.Node, key: str, known: set[str], grouped: dict[str, int], group_lines: dict[str, int],
        lenders: dict[str, str | None],
    ) -> tuple[GroupConfig, bool] | None:
        """One group, and whether it set its own device instance."""
        items = self.mapping(node, key, _GROUP_KEYS)
        if not isinstance(node, yaml.MappingNode):
            return None
        line = node.start_mark.line + 1
        get = self.getter(items, key)
        alias = get("alias", str)
        if "alias" not in items:
            self.err(node, f"{key}.alias", "missing: the group's name, a part of its bus name (letters, digits, underscores)")
        elif alias is not None:
            at = items["alias"][1]
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", alias):
                self.err(at, f"{key}.alias", "use letters, digits and underscores, not starting with a digit")
            elif alias in self.aliases:
                self.err(at, f"{key}.alias", f"{alias!r} is already the alias of the battery on line {self.aliases[alias]}: "
                         "a group's service needs a name of its own")
            elif alias in group_lines:
                self.err(at, f"{key}.alias", f"{alias!r} is already the alias of the group on line {group_lines[alias]}")
            else:
                group_lines[alias] = line
        members = self.members(node, items, key, known, grouped, line)
        wiring = get("wiring", str)
        if wiring is not None and wiring not in WIRINGS:
            self.err(items["wiring"][1], f"{key}.wiring", f"expected one of {', '.join(WIRINGS)}, got {_cut(wiring)!r}")
        series = wiring == "series"
        least = get("min_members", int, 1, 999)
        count = len(members)
        if least is not None and count and least > count:
            self.err(items["min_members"][1], f"{key}.min_members", f"{least}, but the group has {count} members")
        elif least is not None and count and series and least != count:
            self.err(items["min_members"][1], f"{key}.min_members", (
                f"{least} in a series group: every pack of a series string carries the string's current and voltage, so "
                f"the string cannot run with one missing; a series group needs all {count} members (leave min_members out)"))
        product = get("product_name", str)
        if product is not None and not product.strip():
            self.err(items["product_name"][1], f"{key}.product_name", "is empty: leave it out for the default name")
        instance = get("device_instance", int, 0, 999)
        counting = bool(get("soc_counting", bool))
        efficiency = get("soc_efficiency", float, 0.8, 1.0)
        if efficiency is not None and not counting:
            self.err(items["soc_efficiency"][0], f"{key}.soc_efficiency", "has no effect without soc_counting: true")
        if counting:
            for alias in members:
                lender = lenders.get(alias)
                if lender is not None:
                    self.err(items["soc_counting"][1], f"{key}.soc_counting", f"member {alias} borrows its SoC from "
                             f"{lender}, a battery monitor that counts every amp: counting would only replace it")
        group = GroupConfig(
            alias=alias or "",
            members=members,
            wiring="series" if series else "parallel",
            min_members=least if least is not None else (count if series else 1),
            device_instance=instance if instance is not None else 0,
            product_name=product or None,
            soc_counting=counting,
            soc_efficiency=_default(efficiency, 0.99),
        )
        return group, instance is not None

    def members(
        self, node: yaml.Node, items: dict, key: str, known: set[str], grouped: dict[str, int], line: int
    ) -> tuple[str, ...]:
        """A group's ``members``: aliases of configured batteries, at least two, none in another group."""
        if "members" not in items:
            self.err(node, f"{key}.members", "missing: the aliases of the batteries in this group (at least two)")
            return ()
        listed = items["members"][1]
        if not isinstance(listed, yaml.SequenceNode) or len(listed.value) < 2:
            self.err(listed, f"{key}.members", "expected a list of at least two battery aliases")
            return ()
        out: list[str] = []
        for j, entry in enumerate(listed.value):
            at = f"{key}.members[{j}]"
            alias = self.scalar(entry, at, str)
            if alias is None:
                continue
            if alias not in known:
                hint = difflib.get_close_matches(alias, sorted(known), n=1)
                self.err(entry, at, f"no battery has the alias {_cut(alias)!r}"
                         + (f"; did you mean '{hint[0]}'?" if hint else f"; the batteries: {', '.join(sorted(known))}"))
            elif alias in out:
                self.err(entry, at, f"{alias!r} is listed twice")
            elif alias in grouped:
                self.err(entry, at, f"{alias!r} is already a member of the group on line {grouped[alias]}: a battery is in "
                         "one group at most")
            else:
                grouped[alias] = line
                out.append(alias)
        return tuple(out)

    def borrow(self, node: yaml.Node, key: str, alias: str) -> tuple[BorrowConfig, ...]:
        """A battery's ``borrow:``: a list of sources, each lending values no other source lends."""
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.err(node, key, "expected a list of sources, each with its type and link, e.g. - type: neey-ble")
            return ()
        out: list[BorrowConfig] = []
        lent_by: dict[str, int] = {}
        for i, entry in enumerate(node.value):
            got = self.borrowed(entry, f"{key}[{i}]", f"{alias}_borrow{i}")
            if got is None:
                continue
            line = entry.start_mark.line + 1
            for name in got.lends:
                if name in lent_by:
                    self.err(entry, f"{key}[{i}].lends", f"{name} is already lent by the source on line {lent_by[name]}")
                lent_by.setdefault(name, line)
            out.append(got)
        return tuple(out)

    def borrowed(self, node: yaml.Node, key: str, alias: str) -> BorrowConfig | None:
        items = self.mapping(node, key, _BORROW_KEYS)
        if not isinstance(node, yaml.MappingNode):
            return None
        line = node.start_mark.line + 1

        get = self.getter(items, key)

        sources = [name for name, spec in self.known_types.items() if spec.lends]
        kind = get("type", str)
        spec = self.known_types.get(kind or "")
        if "type" not in items:
            self.err(node, f"{key}.type", f"missing; one of {', '.join(sources)}")
            return None
        if kind is None:
            return None
        if spec is None or not spec.lends:
            self.err(items["type"][1], f"{key}.type", f"{_cut(kind)!r} is no device a battery can borrow from; one of {', '.join(sources)}")
            return None
        lends = spec.lends
        if "lends" in items:
            lends_node = items["lends"][1]
            names = [n.value for n in lends_node.value if isinstance(n, yaml.ScalarNode)] if isinstance(lends_node, yaml.SequenceNode) else []
            wrong = [n for n in names if n not in spec.lends]
            if not names or len(names) != len(lends_node.value) or wrong:
                self.err(lends_node, f"{key}.lends", f"expected a list of what {kind} lends: {', '.join(spec.lends)}"
                         + (f"; not {_cut(', '.join(wrong))}" if wrong else ""))
                return None
            lends = tuple(dict.fromkeys(names))
        if spec.link == "dbus":
            wrong_keys, over = (*_SERIAL_ONLY, *_BLE_ONLY), "reads a service on the GX's own D-Bus"
        else:
            wrong_keys = (*(_BLE_ONLY if spec.link == "serial" else _SERIAL_ONLY), "service")
            over = f"is read over {'a serial port' if spec.link == 'serial' else 'Bluetooth LE'}"
        for name in wrong_keys:
            if name in items:
                self.err(items[name][0], f"{key}.{name}", f"not used by type {kind!r}, which {over}")
        service = self.dbus_service(get("service", str), items, node, key) if spec.link == "dbus" else None
        if spec.link == "ble" and "address" not in items:
            self.err(node, f"{key}.address", "missing: the device's MAC or advertised name; `dbus-bms scan` lists them")
        if spec.link == "serial" and "port" not in items:
            self.err(node, f"{key}.port", "missing: the serial device, e.g. /dev/ttyUSB1")
        address = self.address(get("address", str), items, key, spec.link, line)
        port = self.port(get("port", str), items, key, spec.link, line)
        adapter = get("adapter", str)
        if adapter is not None and not re.fullmatch(r"hci[0-9]+", adapter):
            self.err(items["adapter"][1], f"{key}.adapter", f"expected an adapter name like hci0, got {_cut(adapter)!r}")
        pin = get("pin", str)
        if pin is not None and not re.fullmatch(r"[0-9]{1,6}", pin):
            self.err(items["pin"][1], f"{key}.pin", "expected up to 6 digits")
        mode = get("ble_mode", str)
        if mode is not None and mode not in BLE_MODES:
            self.err(items["ble_mode"][1], f"{key}.ble_mode", f"expected one of {', '.join(BLE_MODES)}")
        source = BatteryConfig(
            type=kind, port=port, alias=alias, address=address, adapter=adapter, pin=pin, ble_mode=mode or "keep-alive",
            service=service,
            baudrate=get("baudrate", int, 1200, 921600) or _default_baudrate(spec),
            timeout=get("timeout", float, 0.05, 60, "s") or _default_timeout(spec, False),
        )
        return BorrowConfig(source, lends)

    def dbus_service(self, service: str | None, items: dict, node: yaml.Node, key: str) -> str | None:
        """A ``dbus-battery`` source's ``service``: ``com.victronenergy.battery.ttyS5`` or ``ttyS5``, as
        the full name."""
        prefix = "com.victronenergy.battery."
        if "service" not in items:
            self.err(node, f"{key}.service", f"missing: the monitor's service on the GX's D-Bus, e.g. {prefix}ttyS5 "
                     "(or ttyS5); `dbus -y` on the GX lists them")
            return None
        if service is None:
            return None
        name = service.removeprefix(prefix)
        if not re.fullmatch(r"[A-Za-z_-][A-Za-z0-9_-]{0,200}", name):
            self.err(items["service"][1], f"{key}.service", f"{_cut(service)!r} is no battery service: expected "
                     f"{prefix}<name> or its <name> alone (letters, digits, _ and -), e.g. ttyS5")
            return None
        self.dbus_sources.append((prefix + name, items["service"][1], f"{key}.service"))
        return prefix + name

    def own_services(self, groups: tuple[GroupConfig, ...]) -> None:
        """A D-Bus source that is one of this config's own batteries (or groups) would lend a battery
        dbus-bms's own readings back."""
        ours = {**self.aliases, **{g.alias: None for g in groups}}
        for service, node, key in self.dbus_sources:
            alias = service.rsplit(".", 1)[1]
            if alias in ours:
                what = f"the battery on line {ours[alias]}" if ours[alias] is not None else f"the group {alias}"
                self.err(node, key, f"{service} is the service of {what} of this config: a battery cannot borrow "
                         "from dbus-bms's own readings")

    def port(self, port: str | None, items: dict, key: str, link: str | None, line: int) -> str | None:
        if port is None:
            return None
        node = items["port"][1]
        if not port.strip():
            self.err(node, f"{key}.port", "is empty: give the serial device, e.g. /dev/ttyUSB0")
            return None
        if is_tcp(port):
            try:
                tcp_address(port)
            except ValueError as exc:
                self.err(node, f"{key}.port", f"{_cut(port)!r}: {exc}")
                return None
        if link == "serial":
            # Two names of one device (/dev/serial/by-id/... and /dev/ttyUSB0) are one port; so are
            # two spellings of one gateway's host:port.
            device = _port_key(port)
            if device in self.buses:
                self.err(node, f"{key}.port", f"{_cut(port)} is the port of the RS485 bus on line {self.buses[device][1]}: one battery per port")
            elif device in self.ports:
                first, first_line = self.ports[device]
                what = "gateway" if is_tcp(port) else "device"
                same = "already the port" if first == port else f"the same {what} as {_cut(first)}, the port"
                self.err(node, f"{key}.port", f"{_cut(port)} is {same} of the battery on line {first_line}: one battery per port")
            else:
                self.ports[device] = (port, line)
        return port

    def pack_address(self, items: dict, key: str, listen: bool, spec: DeviceKind) -> str | None:
        """A bus type's ``address``: the pack's RS485 address, kept as its decimal text."""
        if "address" not in items:
            return None
        node = items["address"][1]
        number = self.scalar(node, f"{key}.address", int)
        listens = spec.listen_timeout is not None
        if number == 0 and not listen and listens and 0 not in spec.addresses:
            self.err(node, f"{key}.address", (
                f"0 is the bus master's address: dbus-bms polls the packs at {_span(spec.addresses)} itself; with a pack at 0 as "
                "the master, set listen: true"))
            return None
        if number is not None and number not in spec.addresses and not (listen and number == 0):
            master = " (0: the master, with listen: true)" if listens else ""
            self.err(node, f"{key}.address", f"{number} is not a pack's address: {_span(spec.addresses)} as its DIP switches set it{master}")
            return None
        return None if number is None else str(number)

    def share(self, b: BatteryConfig, node: yaml.Node, key: str, items: dict, line: int) -> None:
        """The packs on one port: one battery per address, all of one type, agreeing on listen and
        the baud rate; a port that a one-battery type has is not shared."""
        number = int(b.address) if b.address is not None else self.known_types[b.type].default_address
        if b.port is None or number is None:
            return
        device = _port_key(b.port)
        port_node = items["port"][1]
        if device in self.ports:
            _, first_line = self.ports[device]
            self.err(port_node, f"{key}.port", f"{_cut(b.port)} is the port of the battery on line {first_line}, which takes its port alone")
            return
        first, first_line, addresses = self.buses.setdefault(device, (b, line, {}))
        if first.type != b.type:
            self.err(port_node, f"{key}.port", f"the battery on line {first_line} is a {first.type} on this port: one type per bus")
        elif first.listen != b.listen:
            at = items["listen"][1] if "listen" in items else node
            self.err(at, f"{key}.listen", (
                f"{'listens' if b.listen else 'polls'}, but the battery on line {first_line} on the same port "
                f"{'listens' if first.listen else 'polls'}: all packs on one bus listen to a master pack, or none"))
        elif first.baudrate != b.baudrate:
            at = items["baudrate"][1] if "baudrate" in items else node
            self.err(at, f"{key}.baudrate", f"{b.baudrate}, but the battery on line {first_line} on the same port has {first.baudrate}: one bus, one baud rate")
        if number in addresses:
            self.err(items.get("address", (node, node))[1], f"{key}.address", (
                f"{number} is already the address of the battery on line {addresses[number]} on this port: one battery per pack"))
        else:
            addresses[number] = line

    def listening(self, b: BatteryConfig, spec: DeviceKind, key: str, items: dict, charge_where: dict[str, Where]) -> None:
        """A listening pack's reading comes once a master cycle: its poll must wait that long, and
        stale_after must be longer."""
        cycle = spec.master_cycle
        if not b.listen or cycle is None:
            return
        if "timeout" in items and id(items["timeout"][1]) not in self.refused and b.timeout < cycle:
            self.err(items["timeout"][1], f"{key}.timeout", (
                f"{b.timeout:g} s with listen: true: a master pack sends each pack's reading once a cycle, up to "
                f"{cycle:g} s, and a poll waits for the next one; give at least {cycle:g} s or leave the default"))
        stale_at = charge_where.get("stale_after")
        if stale_at is not None and id(stale_at[1]) in self.refused:
            return
        if b.charge.stale_after <= cycle:
            path, where = stale_at or (key, items["listen"][1])
            text = (f"stale_after {b.charge.stale_after:g} s with listen: true: a master pack sends each pack's reading "
                    f"once a cycle, up to {cycle:g} s; stale_after must be longer than that")
            self.errors.append(ConfigIssue(where.start_mark.line + 1, path, text if path.startswith(key + ".") else f"{text} (for {key})"))

    def address(self, address: str | None, items: dict, key: str, link: str | None, line: int) -> str | None:
        if address is None:
            return None
        node = items["address"][1]
        if not address.strip():
            self.err(node, f"{key}.address", "is empty: give the BMS's MAC (C8:47:8C:12:34:56) or advertised name")
            return None
        problem = mac_problem(address)
        if problem is not None:
            self.err(node, f"{key}.address", f"{_cut(address)!r} looks like a MAC, but {problem}: a MAC is six pairs of hex digits, e.g. C8:47:8C:12:34:56")
            return None
        address = normal_target(address)
        if link == "ble":
            if address in self.addresses:
                self.err(node, f"{key}.address", f"{_cut(address)} is already the address of the battery on line {self.addresses[address]}: one battery per BMS")
            else:
                self.addresses[address] = line
        return address

    def bound(
        self, b: BatteryConfig, node: yaml.Node, key: str, items: dict, charge_where: dict[str, Where], link: str | None
    ) -> None:
        """Refuse a battery whose poll interval leaves no room for a lost reply before stale_after.

        The watchdog holds the bound whatever the polls do; this keeps a healthy link from
        tripping it. A reply timeout longer than stale_after is allowed: a reading is aged from
        its arrival, and the watchdog covers the wait."""
        stale_at = charge_where.get("stale_after")
        poll_at = (f"{key}.poll_interval", items["poll_interval"][1]) if "poll_interval" in items else self.top_poll
        if any(w is not None and id(w[1]) in self.refused for w in (stale_at, poll_at)):
            return
        stale = b.charge.stale_after

        def report(at: Where | None, message: str) -> None:
            # Not through err(): the value itself is right, and other batteries may use it too.
            path, where = at or (key, node)
            text = message if path.startswith(key + ".") else f"{message} (for {key})"
            self.errors.append(ConfigIssue(where.start_mark.line + 1, path, text))

        if b.poll_interval * 3 > stale:
            report(poll_at or stale_at, (
                f"poll_interval {b.poll_interval:g} s and stale_after {stale:g} s: at least three polls must fit in "
                f"stale_after, so that one lost reply does not trip the fail-safe (poll_interval at most "
                f"{stale / 3:g} s, or stale_after at least {b.poll_interval * 3:g} s)"
            ))


def _soc_lender(battery: BatteryConfig) -> str | None:
    """The type of the source a battery borrows its SoC from; None when it has its BMS's own."""
    return next((b.source.type for b in battery.borrow if "soc" in b.lends), None)


def _counting_members(batteries: list[BatteryConfig], groups: tuple[GroupConfig, ...]) -> list[BatteryConfig]:
    """The batteries with counting on for every member of a group that counts (``soc_counting`` of
    the group); a member that counts of its own keeps its own efficiency."""
    counting = {alias: g.soc_efficiency for g in groups if g.soc_counting for alias in g.members}
    return [b if b.alias not in counting or b.soc_counting
            else dataclasses.replace(b, soc_counting=True, soc_efficiency=counting[b.alias]) for b in batteries]


def _port_key(port: str) -> str:
    """One name for every spelling of a port: a device's real path, a gateway's host:port."""
    return SCHEME + tcp_peer(port).lower() if is_tcp(port) else os.path.realpath(port)


def _default_baudrate(spec: DeviceKind | None) -> int | None:
    """The line speed of ``spec`` unless the config sets one; None: each family a probe tries at its own."""
    if spec is not None and spec.probes:
        return None
    return spec.baudrate if spec is not None and spec.baudrate else 115200


def _default_timeout(spec: DeviceKind | None, listen: bool) -> float:
    own = (spec.listen_timeout if listen else spec.timeout) if spec is not None else None
    return own if own is not None else DEFAULT_TIMEOUT[spec.link if spec is not None else "serial"]


def _compose(text: str) -> yaml.Node | None:
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def parse_config(text: str, source: str = "<string>", known_types: Mapping[str, DeviceKind] | None = None) -> Config:
    parser = _Parser(source, known_types if known_types is not None else DEVICE_TYPES)
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(source, [ConfigIssue(mark.line + 1 if mark else 1, "(syntax)", str(exc.problem or exc))]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(source, [ConfigIssue(line, "(encoding)", f"the character U+{exc.character:04X} is not allowed in YAML")]) from None
    config = parser.parse(root)
    if parser.errors or config is None:
        raise ConfigError(source, sorted(parser.errors, key=lambda e: e.line))
    return config


def load_config(path: str | Path, known_types: Mapping[str, DeviceKind] | None = None) -> Config:
    """The config in the file at ``path``; ConfigError if it is not one, OSError if it cannot be read."""
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    return parse_config(_text(data, str(path)), str(path), known_types)


def _text(data: bytes, source: str) -> str:
    if len(data) > MAX_BYTES:
        raise ConfigError(source, [ConfigIssue(1, "(size)", f"larger than {MAX_BYTES // 1024} KiB: not a dbus-bms config")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(source, [ConfigIssue(line, "(encoding)", f"not UTF-8 text at byte {exc.start}")]) from None
