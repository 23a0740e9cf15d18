"""The JK 300-byte record (``55 AA EB 90``) that JK BLE and the PB series over RS485 both send.

Record types: 0x01 settings, 0x02 cell info, 0x03 device info, 0x05 logbook. Integers are
little-endian; byte 299 is the sum of bytes 0..298 mod 256. The JK02_32S layout (firmware 11 and
later, PB series) has 32 cell slots; the older JK02_24S has 24, so every field after the cells
sits 16 or 32 bytes earlier there. Fields are declared in tables with the JK02_32S offsets.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ..model import ALARM_ALARM, DeviceInfo, Sample
from .errors import ProtocolError
from .framing import HeaderBuffer

HEADER = b"\x55\xaa\xeb\x90"
RECORD_LEN = 300
COMMAND_HEADER = b"\xaa\x55\x90\xeb"
CMD_CELL_INFO = 0x96
CMD_DEVICE_INFO = 0x97
TYPE_SETTINGS, TYPE_CELL_INFO, TYPE_DEVICE_INFO = 0x01, 0x02, 0x03

CELL_SLOTS = 32


def build_command(command: int, value: int = 0, length: int = 0) -> bytes:
    """A 20-byte request: header, command, length, value (u32 LE), padding, sum8."""
    body = COMMAND_HEADER + bytes([command, length]) + struct.pack("<I", value) + bytes(9)
    return body + bytes([sum(body) & 0xFF])


def _sum8(data: bytes) -> int:
    return sum(data) & 0xFF


class RecordAssembler(HeaderBuffer):
    """Reassembles 300-byte records from notifications or a serial stream.

    Anything before a record header is dropped and counted: ``AT\\r\\n`` from the BLE module, the
    short write acknowledgements, Modbus acks of the PB series.
    """

    def __init__(self) -> None:
        super().__init__(HEADER)

    def next_frame(self) -> bytes | None:
        if not self.at_header() or len(self.buf) < RECORD_LEN:
            return None
        record = bytes(self.buf[:RECORD_LEN])
        if record[-1] != _sum8(record[:-1]):
            self.skip(len(HEADER))
            raise ProtocolError("JK record with a bad checksum")
        del self.buf[:RECORD_LEN]
        return record


def _u8(o: int) -> Callable[[bytes], int]:
    return lambda r: r[o]


def _le(fmt: str, o: int, scale: float = 1.0) -> Callable[[bytes], float]:
    return lambda r: struct.unpack_from(fmt, r, o)[0] * scale


# Cell info, JK02_32S offsets (the 24S layout is 32 bytes earlier from the MOSFET temperature on).
_CELL_INFO: dict[str, Callable[[bytes], float]] = {
    "mosfet_temperature": _le("<h", 144, 0.1),
    "voltage": _le("<I", 150, 0.001),
    "current": _le("<i", 158, 0.001),
    "temp1": _le("<h", 162, 0.1),
    "temp2": _le("<h", 164, 0.1),
    "errors": lambda r: struct.unpack_from(">H", r, 166)[0],
    "balance_action": _u8(172),
    "soc": _u8(173),
    "capacity_remaining": _le("<I", 174, 0.001),
    "capacity_full": _le("<I", 178, 0.001),
    "cycles": _le("<I", 182),
    "soh": _u8(190),
    "charge_switch": _u8(198),
    "discharge_switch": _u8(199),
}
_ENABLED_CELLS = 70  # u32 LE bitmask of the cell slots in use
_BALANCING_CELL = None  # the record names no balancing cell in this layout

# Error bits (read big-endian at offset 166) → Victron alarms. Bits not listed are reported by
# JK without a documented meaning and are not mapped.
ALARM_BITS: dict[int, str] = {
    0: "HighChargeTemperature",
    1: "LowChargeTemperature",
    3: "LowCellVoltage",
    11: "InternalFailure",  # current sensor anomaly
    12: "HighCellVoltage",
    14: "HighChargeCurrent",
}


def _round(value: float, digits: int = 3) -> float:
    return round(value, digits)


def decode_cell_info(record: bytes, layout: str = "32s") -> Sample:
    if layout != "32s":
        raise ProtocolError(f"JK record layout {layout!r} is not decoded yet (known: 32s)")
    if len(record) != RECORD_LEN or record[:4] != HEADER or record[4] != TYPE_CELL_INFO:
        raise ProtocolError("not a JK cell-info record")
    f = {name: get(record) for name, get in _CELL_INFO.items()}
    mask = struct.unpack_from("<I", record, _ENABLED_CELLS)[0]
    cells = [struct.unpack_from("<H", record, 6 + 2 * i)[0] / 1000 for i in range(CELL_SLOTS) if mask >> i & 1]
    alarms = {name: ALARM_ALARM for bit, name in ALARM_BITS.items() if f["errors"] >> bit & 1}
    return Sample(
        voltage=_round(f["voltage"]),
        current=_round(f["current"]),
        soc=float(f["soc"]),
        soh=float(f["soh"]),
        capacity_remaining=_round(f["capacity_remaining"]),
        capacity_full=_round(f["capacity_full"]),
        cycles=int(f["cycles"]),
        cell_voltages=cells or None,
        temperatures=[_round(f["temp1"], 1), _round(f["temp2"], 1)],
        mosfet_temperature=_round(f["mosfet_temperature"], 1),
        charge_enabled=bool(f["charge_switch"]),
        discharge_enabled=bool(f["discharge_switch"]),
        balancing=f["balance_action"] != 0,
        alarms=alarms,
    )


def _text(record: bytes, offset: int, length: int) -> str | None:
    text = record[offset : offset + length].split(b"\x00", 1)[0].decode("ascii", "replace").strip()
    return text or None


def decode_device_info(record: bytes) -> DeviceInfo:
    if len(record) != RECORD_LEN or record[:4] != HEADER or record[4] != TYPE_DEVICE_INFO:
        raise ProtocolError("not a JK device-info record")
    return DeviceInfo(
        model=_text(record, 6, 16),
        hw_version=_text(record, 22, 8),
        sw_version=_text(record, 30, 8),
        serial=_text(record, 86, 11),
    )


def decode(record: bytes, layout: str = "32s") -> Sample | DeviceInfo | None:
    """Cell info → Sample, device info → DeviceInfo, other record types → None."""
    if len(record) != RECORD_LEN or record[:4] != HEADER:
        raise ProtocolError("not a JK record")
    kind = record[4]
    if kind == TYPE_CELL_INFO:
        return decode_cell_info(record, layout)
    if kind == TYPE_DEVICE_INFO:
        return decode_device_info(record)
    return None
