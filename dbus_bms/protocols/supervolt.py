"""Supervolt batteries of the older kind, whose BMS speaks an ASCII protocol through a Nordic UART
Service module (6E400001: notifications on 6E400003, writes to 6E400002). Newer Supervolt
batteries (named SX1… and SX60…) carry a JBD BMS and are read as ``jbd-ble``.

Protocol description only: built from a public description of the protocol, not from a capture
of a real battery.

A frame is ``:``, hex digits, ``~``. Its first fields are the address (2 digits), the command (2),
a version (2) and a length (4); the two digits before the ``~`` close the frame and their
algorithm is not described, so they are not checked: a frame is taken when it has the length of
its kind and nothing but hex digits between ``:`` and ``~``. Two requests make a poll:

- ``:000250000E03~`` (realtime) → 128 characters: after the header, a date (14), 16 cells
  (4 digits each, mV; 0 for none), the charging and the discharging current (4 each, 0.01 A),
  4 temperatures (2 each, °C + 40; the first is the battery's), the working state (4), an alarm
  code (2), the balancing state (4), the discharge and the charge count (4 each), SoC (2).
- ``:001031000E05~`` (capacity) → 30 characters: after the header, 4 reserved digits, then the
  remaining, the full and the design capacity (4 each, 0.1 Ah).

The working state's bits are named by the description (its table, ``WORKING_STATE``): the
protections raise alarms, the FET bits are read as states. The alarm code and the balancing state
are not described and are not published. The description gives no working control command.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..model import Sample
from .alarm_bits import AlarmBit, BitTable, Decoded
from .errors import ProtocolError
from .framing import HeaderBuffer

START, END = b":", b"~"
REALTIME_SIZE = 128
CAPACITY_SIZE = 30
REQUEST_SIZE = 14

BLE_SERVICE_UUID = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
BLE_WRITE_UUID = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
BLE_NOTIFY_UUID = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"

REQUEST_REALTIME = b":000250000E03~"
REQUEST_CAPACITY = b":001031000E05~"
CELL_SLOTS = 16
_TEMPERATURE_OFFSET = 40
_HEX = frozenset(b"0123456789ABCDEFabcdef")

# The working state word. Bits 0 and 1 tell charging and discharging; bits 12-15 the FETs.
CHARGING, DISCHARGING = 0x0001, 0x0002
DFET_ON, CFET_ON = 0x1000, 0x2000
WORKING_STATE = BitTable(16, {
    2: AlarmBit("over-charge protection", "HighVoltage"),
    3: AlarmBit("over-discharge protection", "LowVoltage"),
    4: AlarmBit("over-charged", "HighCellVoltage"),
    5: AlarmBit("short-circuit protection", "HighDischargeCurrent"),
    6: AlarmBit("discharge protection 1", "HighDischargeCurrent"),
    7: AlarmBit("discharge protection 2", "HighDischargeCurrent"),
    8: AlarmBit("charge over-temperature", "HighChargeTemperature"),
    9: AlarmBit("charge under-temperature", "LowChargeTemperature"),
    10: AlarmBit("discharge over-temperature", "HighTemperature"),
    11: AlarmBit("discharge under-temperature", "LowTemperature"),
}, states=CHARGING | DISCHARGING | 0xF000, unknown="Supervolt working state bit")

# Where each field of a realtime reply starts (in characters) and how many digits it has.
_HEADER = 11
_DATE = (_HEADER, 14)
_CELLS = _DATE[0] + _DATE[1]
_CHARGE = _CELLS + 4 * CELL_SLOTS
_DISCHARGE = _CHARGE + 4
_TEMPS = _DISCHARGE + 4
_STATE = _TEMPS + 2 * 4
_ALARM = _STATE + 4
_BALANCE = _ALARM + 2
_DISCHARGES = _BALANCE + 4
_CHARGES = _DISCHARGES + 4
_SOC = _CHARGES + 4
_REMAINING = _HEADER + 4


class SupervoltAssembler(HeaderBuffer):
    """Cuts ``:`` … ``~`` frames of the given ``sizes`` (the replies by default) out of a stream."""

    def __init__(self, sizes: tuple[int, ...] = (REALTIME_SIZE, CAPACITY_SIZE)) -> None:
        super().__init__(START)
        self.sizes = sizes

    def next_frame(self) -> bytes | None:
        if not self.at_header():
            return None
        end = self.buf.find(END)
        if end < 0:
            if len(self.buf) <= max(self.sizes) and all(b in _HEX for b in self.buf[1:]):
                return None  # the rest of the frame is still coming
            self.skip(1)
            raise ProtocolError("Supervolt frame with no end, or with other than hex digits")
        frame = bytes(self.buf[: end + 1])
        if len(frame) not in self.sizes or not all(b in _HEX for b in frame[1:-1]):
            self.skip(1)
            raise ProtocolError(f"Supervolt frame of {len(frame)} characters, or with other than hex digits")
        del self.buf[: end + 1]
        return frame


def _field(frame: bytes, at: int, digits: int) -> int:
    return int(frame[at : at + digits], 16)


def decode(frames: Iterable[bytes]) -> Sample:
    """The Sample of one poll's replies: a realtime reply, with or without a capacity reply."""
    realtime = capacity = None
    for frame in frames:
        if not (frame.startswith(START) and frame.endswith(END) and all(b in _HEX for b in frame[1:-1])):
            raise ProtocolError("not a Supervolt frame")
        if len(frame) == REALTIME_SIZE:
            realtime = frame
        elif len(frame) == CAPACITY_SIZE:
            capacity = frame
    if realtime is None:
        raise ProtocolError("no Supervolt realtime reply among the replies")
    cells = []
    for i in range(CELL_SLOTS):
        millivolts = _field(realtime, _CELLS + 4 * i, 4)
        if millivolts == 0:
            break
        cells.append(millivolts / 1000)
    state = _field(realtime, _STATE, 4)
    found = Decoded()
    found.add(WORKING_STATE, state)
    sample = Sample(
        voltage=round(sum(cells), 3) if cells else None,
        current=(_field(realtime, _CHARGE, 4) - _field(realtime, _DISCHARGE, 4)) / 100,
        soc=float(_field(realtime, _SOC, 2)),
        cycles=_field(realtime, _DISCHARGES, 4),
        cell_voltages=cells or None,
        temperatures=[float(_field(realtime, _TEMPS, 2) - _TEMPERATURE_OFFSET)],
        charge_enabled=bool(state & CFET_ON),
        discharge_enabled=bool(state & DFET_ON),
        alarms=found.alarms,
        conditions=tuple(found.conditions),
    )
    if capacity is not None:
        sample.capacity_remaining = _field(capacity, _REMAINING, 4) / 10
        sample.capacity_full = _field(capacity, _REMAINING + 4, 4) / 10 or None
    return sample


def _hex(value: int, digits: int) -> bytes:
    if not 0 <= value < 16**digits:
        raise ValueError(f"{value} does not fit {digits} hex digits")
    return b"%0*X" % (digits, value)


def encode_realtime(sample: Sample, *, state: int | None = None) -> bytes:
    """The BMS side: a realtime reply carrying ``sample``; ``state`` overrides the working state
    derived from its current and FET states."""
    cells = (sample.cell_voltages or [])[:CELL_SLOTS]
    current = sample.current or 0
    if state is None:
        state = ((CHARGING if current > 0 else 0) | (DISCHARGING if current < 0 else 0)
                 | (CFET_ON if sample.charge_enabled else 0) | (DFET_ON if sample.discharge_enabled else 0))
    temperature = (sample.temperatures or [25.0])[0]
    body = (b"000250" + _hex(REALTIME_SIZE, 4) + b"20260101120000"
            + b"".join(_hex(round(v * 1000), 4) for v in cells) + b"0000" * (CELL_SLOTS - len(cells))
            + _hex(round(max(current, 0) * 100), 4) + _hex(round(max(-current, 0) * 100), 4)
            + _hex(round(temperature) + _TEMPERATURE_OFFSET, 2) + _hex(_TEMPERATURE_OFFSET, 2) * 3
            + _hex(state, 4) + b"00" + b"0000" + _hex(sample.cycles or 0, 4) + b"0000"
            + _hex(round(sample.soc or 0), 2) + b"00")
    return START + body + END


def encode_capacity(sample: Sample) -> bytes:
    full = round((sample.capacity_full or 0) * 10)
    body = (b"001031" + _hex(CAPACITY_SIZE, 4) + b"0000" + _hex(round((sample.capacity_remaining or 0) * 10), 4)
            + _hex(full, 4) + _hex(full, 4) + b"00")
    return START + body + END
