"""Victron SmartShunt values over Bluetooth LE GATT: each reading is a characteristic of its own.

From firmware 2.31 on, with "Bluetooth GATT" enabled in VictronConnect, a SmartShunt serves its
readings on service 65970000-4bda-4c1e-af4b-551c4cf74769, one little-endian integer per
characteristic, and the largest value of its type (0x7FFF, 0x7FFFFFFF, 0xFFFF) where it has none.
The link needs pairing (a PIN, 000000 unless changed) and a keep-alive: without one written to its
characteristic, the shunt ends the link after about a minute.

Written from the published GATT description; no capture of a real shunt was at hand to check it.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

from ..model import Sample
from .errors import ProtocolError

_TAIL = "-4bda-4c1e-af4b-551c4cf74769"


def char_uuid(short: int) -> str:
    """The full UUID of the shunt's characteristic ``0x6597xxxx``, by its ``xxxx``."""
    return f"6597{short:04x}{_TAIL}"


SERVICE_UUID = char_uuid(0x0000)
# Victron Energy's Bluetooth SIG company id, in its advertisements' manufacturer data.
MANUFACTURER_ID = 0x02E1
KEEP_ALIVE_UUID = char_uuid(0xFFFF)
TIME_TO_GO_UUID = char_uuid(0x0FFE)
# A keep-alive of this many ms keeps the link until it ends.
KEEP_ALIVE_FOREVER = 0xFFFF


@dataclass(frozen=True)
class Value:
    """One characteristic: the Sample field it fills, its struct format, its scale and its n/a."""

    uuid: str
    name: str
    fmt: str
    scale: float
    digits: int
    na: int

    @property
    def size(self) -> int:
        return struct.calcsize(self.fmt)


VALUES = (
    Value(char_uuid(0xED8D), "voltage", "<h", 0.01, 2, 0x7FFF),
    # > 0 while charging, as Victron counts everywhere.
    Value(char_uuid(0xED8C), "current", "<i", 0.001, 3, 0x7FFFFFFF),
    Value(char_uuid(0xED8E), "power", "<h", 1.0, 0, 0x7FFF),
    Value(char_uuid(0x0FFF), "soc", "<H", 0.01, 2, 0xFFFF),
    # <= 0: the charge taken out since the shunt last saw the battery full.
    Value(char_uuid(0xEEFF), "consumed_ah", "<i", 0.1, 1, 0x7FFFFFFF),
)
VALUE_UUIDS = tuple(v.uuid for v in VALUES)


def decode_value(value: Value, data: bytes) -> float | None:
    """One characteristic's value in its unit; None where the shunt has none."""
    if len(data) != value.size:
        raise ProtocolError(f"{value.name} ({value.uuid}): {len(data)} bytes where {value.size} were expected")
    (raw,) = struct.unpack(value.fmt, data)
    if raw == value.na:
        return None
    return round(raw * value.scale, value.digits)


def decode(values: Mapping[str, bytes]) -> Sample:
    """The reading of the characteristics' values, by UUID (every one of ``VALUES``)."""
    fields: dict[str, float | None] = {}
    for value in VALUES:
        if value.uuid not in values:
            raise ProtocolError(f"{value.name} ({value.uuid}) was not read")
        fields[value.name] = decode_value(value, values[value.uuid])
    return Sample(**fields)


def build_keep_alive(ms: int) -> bytes:
    """The keep-alive's value: the link is kept ``ms`` milliseconds (``KEEP_ALIVE_FOREVER``: always)."""
    if not 0 < ms <= KEEP_ALIVE_FOREVER:
        raise ValueError(f"a keep-alive of {ms} ms is outside 1..{KEEP_ALIVE_FOREVER}")
    return struct.pack("<H", ms)


def encode_value(value: Value, reading: float | None) -> bytes:
    """What the shunt sends for ``reading`` (None: n/a), for its simulator and the tests."""
    raw = value.na if reading is None else round(reading / value.scale)
    return struct.pack(value.fmt, raw)
