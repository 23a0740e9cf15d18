"""The YAML configuration: parsed from the node tree so every error can name its line and key."""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .charge.config import ChargeConfig
from .charge.tables import make_table
from .devices.registry import DEVICE_TYPES, DeviceKind
from .transports.ble_address import normal_target


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
    baudrate: int = 115200
    poll_interval: float = 1.0
    timeout: float = 0.5
    device_instance: int = 512
    charge: ChargeConfig = field(default_factory=ChargeConfig)


@dataclass(frozen=True)
class Config:
    batteries: tuple[BatteryConfig, ...]
    poll_interval: float = 1.0
    state_dir: str = ""
    log_level: str = "info"


def default_state_dir() -> str:
    return "/data/dbus-bms" if os.path.isdir("/data") else str(Path.home() / ".local/state/dbus-bms")


_TOP_KEYS = {"poll_interval", "state_dir", "log_level", "charge", "batteries"}
_BATTERY_KEYS = {
    "type", "port", "address", "adapter", "pin", "ble_mode", "protocol", "alias", "baudrate", "poll_interval",
    "timeout", "device_instance", "charge",
}
_SERIAL_ONLY = ("port", "baudrate")
_BLE_ONLY = ("address", "adapter", "pin", "ble_mode")
_CHARGE_FIELDS = {f.name: f for f in dataclasses.fields(ChargeConfig)}
_LEVELS = ("debug", "info", "warning", "error")


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value


class _Parser:
    def __init__(self, source: str, known_types: Mapping[str, DeviceKind]) -> None:
        self.source = source
        self.known_types = dict(known_types)
        self.errors: list[ConfigIssue] = []

    def err(self, node: yaml.Node, key: str, message: str) -> None:
        self.errors.append(ConfigIssue(node.start_mark.line + 1, key, message))

    def mapping(self, node: yaml.Node, key: str, allowed: set[str]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            self.err(node, key or "(top)", "expected a mapping of key: value")
            return {}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            name = str(k.value)
            path = f"{key}.{name}" if key else name
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
        value = yaml.safe_load(yaml.serialize(node)) if isinstance(node, yaml.ScalarNode) else None
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            self.err(node, key, f"expected {'a number' if kind in (int, float) else 'true or false' if kind is bool else 'a string'}, got {node.value!r}" if isinstance(node, yaml.ScalarNode) else f"expected a single value")
            return None
        if lo is not None and value < lo or hi is not None and value > hi:
            self.err(node, key, f"{value:g} is out of range {lo:g} to {hi:g}{' ' + unit if unit else ''}")
            return None
        return value

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

    def charge(self, node: yaml.Node, key: str, base: ChargeConfig) -> ChargeConfig:
        items = self.mapping(node, key, set(_CHARGE_FIELDS))
        values: dict[str, Any] = {}
        for name, (_, v) in items.items():
            path = f"{key}.{name}"
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
        return result

    def parse(self, root: yaml.Node | None) -> Config | None:
        if root is None:
            self.errors.append(ConfigIssue(1, "batteries", "the file is empty; at least one battery is needed"))
            return None
        top = self.mapping(root, "", _TOP_KEYS)
        poll = self.scalar(top["poll_interval"][1], "poll_interval", float, 0.1, 3600) if "poll_interval" in top else 1.0
        state_dir = self.scalar(top["state_dir"][1], "state_dir", str) if "state_dir" in top else default_state_dir()
        level = "info"
        if "log_level" in top:
            level = self.scalar(top["log_level"][1], "log_level", str)
            if level is not None and level not in _LEVELS:
                self.err(top["log_level"][1], "log_level", f"expected one of {', '.join(_LEVELS)}")
        charge = self.charge(top["charge"][1], "charge", ChargeConfig()) if "charge" in top else ChargeConfig()
        if "batteries" not in top:
            self.err(root, "batteries", "missing: list the BMSes to read")
            return None
        node = top["batteries"][1]
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.err(node, "batteries", "expected a non-empty list of batteries")
            return None
        batteries = []
        aliases: dict[str, int] = {}
        for i, b in enumerate(node.value):
            battery = self.battery(b, f"batteries[{i}]", i, poll or 1.0, charge, aliases)
            if battery is not None:
                batteries.append(battery)
        if self.errors:
            return None
        return Config(tuple(batteries), poll or 1.0, state_dir or default_state_dir(), level or "info")

    def battery(
        self, node: yaml.Node, key: str, index: int, poll: float, charge: ChargeConfig, aliases: dict[str, int]
    ) -> BatteryConfig | None:
        items = self.mapping(node, key, _BATTERY_KEYS)
        if not isinstance(node, yaml.MappingNode):
            return None

        def get(name: str, kind: type, lo: float | None = None, hi: float | None = None) -> Any:
            return self.scalar(items[name][1], f"{key}.{name}", kind, lo, hi) if name in items else None

        kind = get("type", str)
        if "type" not in items:
            self.err(node, f"{key}.type", f"missing; one of {', '.join(self.known_types)}")
        elif kind is not None and kind not in self.known_types:
            hint = difflib.get_close_matches(kind, list(self.known_types), n=1)
            self.err(items["type"][1], f"{key}.type", f"unknown type {kind!r}" + (f"; did you mean '{hint[0]}'?" if hint else f"; known: {', '.join(self.known_types)}"))
        spec = self.known_types.get(kind or "")
        link = spec.link if spec else None
        port = get("port", str)
        address = get("address", str)
        if address:
            address = normal_target(address)
        if link is not None:
            wrong = _BLE_ONLY if link == "serial" else _SERIAL_ONLY
            for name in wrong:
                if name in items:
                    self.err(items[name][0], f"{key}.{name}", f"not used by type {kind!r}, which is read over {'a serial port' if link == 'serial' else 'Bluetooth LE'}")
            if link == "serial" and "port" not in items:
                self.err(node, f"{key}.port", "missing: the serial device, e.g. /dev/ttyUSB0")
            if link == "ble" and "address" not in items:
                self.err(node, f"{key}.address", "missing: the BMS's MAC (C8:47:8C:12:34:56) or advertised name; `dbus-bms scan` lists them")
        adapter = get("adapter", str)
        if adapter is not None and not re.fullmatch(r"hci[0-9]+", adapter):
            self.err(items["adapter"][1], f"{key}.adapter", f"expected an adapter name like hci0, got {adapter!r}")
        pin = get("pin", str)
        if pin is not None and not re.fullmatch(r"[0-9]{1,6}", pin):
            self.err(items["pin"][1], f"{key}.pin", "expected up to 6 digits")
        protocol = get("protocol", str)
        if protocol is not None and spec is not None and protocol not in spec.protocols:
            choices = ", ".join(spec.protocols) if spec.protocols else "none: it speaks one protocol"
            self.err(items["protocol"][1], f"{key}.protocol", f"type {kind!r} has no protocol {protocol!r}; choices: {choices}")
        mode = get("ble_mode", str)
        if mode is not None and mode not in BLE_MODES:
            self.err(items["ble_mode"][1], f"{key}.ble_mode", f"expected one of {', '.join(BLE_MODES)}")
        alias = get("alias", str)
        if alias is None:
            where = port or (address.replace(":", "") if address else None)
            alias = re.sub(r"[^A-Za-z0-9_]", "_", Path(where or f"battery{index}").name)
            if alias[:1].isdigit():
                alias = f"bms_{alias}"  # a MAC such as 12:34:...: a bus name part cannot start so
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", alias):
            self.err(items.get("alias", (node, node))[1], f"{key}.alias", "use letters, digits and underscores, not starting with a digit")
        elif alias in aliases:
            self.err(items.get("alias", (node, node))[1], f"{key}.alias", f"{alias!r} is already used by the battery on line {aliases[alias]}")
        else:
            aliases[alias] = node.start_mark.line + 1
        return BatteryConfig(
            type=kind or "",
            port=port,
            alias=alias,
            address=address,
            adapter=adapter,
            pin=pin,
            ble_mode=mode or "keep-alive",
            protocol=protocol,
            baudrate=get("baudrate", int, 1200, 921600) or 115200,
            poll_interval=get("poll_interval", float, 0.1, 3600) or poll,
            timeout=get("timeout", float, 0.05, 60) or DEFAULT_TIMEOUT[link or "serial"],
            device_instance=_default(get("device_instance", int, 0, 999), 512 + index),
            charge=self.charge(items["charge"][1], f"{key}.charge", charge) if "charge" in items else charge,
        )


def parse_config(text: str, source: str = "<string>", known_types: Mapping[str, DeviceKind] | None = None) -> Config:
    parser = _Parser(source, known_types if known_types is not None else DEVICE_TYPES)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(source, [ConfigIssue(mark.line + 1 if mark else 1, "(syntax)", str(exc.problem or exc))]) from None
    config = parser.parse(root)
    if parser.errors or config is None:
        raise ConfigError(source, sorted(parser.errors, key=lambda e: e.line))
    return config


def load_config(path: str | Path, known_types: Mapping[str, DeviceKind] | None = None) -> Config:
    return parse_config(Path(path).read_text(), str(path), known_types)
