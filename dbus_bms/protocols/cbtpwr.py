"""CBT Power (and the Creabest smart BMSes built on it) "AA 55" protocol of its Bluetooth LE
module: writes go to FFE9 (service FFE5), replies are notified on FFE4 (service FFE0).

Request: ``AA 55``, command, length, data, checksum, ``0A 0D``. Reply: the same with ``0D 0A`` at
the end. The checksum is the sum of the command, length and data bytes, mod 256. Values are
little-endian. One command per value group, each answered by one frame of that command:

- 0x0B: pack voltage (u32, mV) and current (i32, mA, positive while charging);
- 0x0A: state of charge (u8, %);
- 0x09: temperature (i16, °C) first; the rest of the reply is not described;
- 0x15: design capacity (u16, Ah) and cycles (u16);
- 0x21: a 32-bit problem code whose bits are not described (any set bit is named, raises nothing);
- 0x05 to 0x08: five cells each (u16, mV); a zero ends the cells, and a reply with fewer than
  five ends the questions.

Verified against one recorded update cycle (tests/fixtures/cbtpwr.json). No FET or other control
is described, so the family is read-only.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from ..model import Sample
from .alarm_bits import BitTable, Decoded
from .errors import ProtocolError
from .framing import LengthByteBuffer

HEADER = b"\xaa\x55"
REPLY_END = b"\x0d\x0a"
REQUEST_END = b"\x0a\x0d"

BLE_WRITE_SERVICE_UUID = "0000ffe5-0000-1000-8000-00805f9b34fb"
BLE_NOTIFY_SERVICE_UUID = "0000ffe0-0000-1000-8000-00805f9b34fb"
BLE_WRITE_UUID = "0000ffe9-0000-1000-8000-00805f9b34fb"
BLE_NOTIFY_UUID = "0000ffe4-0000-1000-8000-00805f9b34fb"

CMD_CELLS = (0x05, 0x06, 0x07, 0x08)
CMD_TEMPERATURE = 0x09
CMD_SOC = 0x0A
CMD_POWER = 0x0B
CMD_CAPACITY = 0x15
CMD_PROBLEM = 0x21
# What one poll asks besides the cells, in order.
STATUS_COMMANDS = (CMD_POWER, CMD_SOC, CMD_TEMPERATURE, CMD_CAPACITY, CMD_PROBLEM)
CELLS_PER_REPLY = 5

# Header, command, length; checksum and end after the data.
_OVERHEAD = 7

PROBLEMS = BitTable(32, {}, unknown="CBT Power problem code bit")


def checksum(body: bytes) -> int:
    return sum(body) & 0xFF


def _frame(command: int, data: bytes, end: bytes) -> bytes:
    if not 0 <= command <= 0xFF or len(data) > 255:
        raise ValueError("a CBT Power frame has a one-byte command and at most 255 data bytes")
    body = bytes([command, len(data)]) + data
    return HEADER + body + bytes([checksum(body)]) + end


def build_request(command: int) -> bytes:
    return _frame(command, b"", REQUEST_END)


def build_reply(command: int, data: bytes) -> bytes:
    """The BMS side: the reply to ``command`` carrying ``data``."""
    return _frame(command, data, REPLY_END)


class CbtAssembler(LengthByteBuffer):
    """Cuts frames ending in ``end`` (replies by default, requests for a simulator) out of a byte
    stream. ``AA 55`` may occur in data: a later frame may win (``LengthByteBuffer``)."""

    def __init__(self, end: bytes = REPLY_END) -> None:
        super().__init__(HEADER)
        self.end = end

    overhead = _OVERHEAD
    broken = "CBT Power frame with a bad checksum or end"

    def sealed(self, frame: bytes) -> bool:
        return frame[-2:] == self.end and frame[-3] == checksum(frame[2:-3])


def command_of(frame: bytes) -> int:
    return frame[2]


def reply_data(frame: bytes, command: int, size: int) -> bytes:
    """At least ``size`` data bytes of the reply to ``command``; ProtocolError otherwise."""
    if (len(frame) < _OVERHEAD or not frame.startswith(HEADER) or not frame.endswith(REPLY_END)
            or len(frame) != _OVERHEAD + frame[3]):
        raise ProtocolError("not a CBT Power reply")
    if frame[2] != command:
        raise ProtocolError(f"a reply to command 0x{frame[2]:02X}, not 0x{command:02X}")
    data = frame[4:-3]
    if len(data) < size:
        raise ProtocolError(f"reply to 0x{command:02X} of {len(data)} data bytes, at least {size} expected")
    return data


def cells_of(frame: bytes) -> list[float]:
    """The cell voltages (V) of one cell reply, up to its first zero."""
    if len(frame) < _OVERHEAD or frame[2] not in CMD_CELLS:
        raise ProtocolError("not a CBT Power cell reply")
    data = reply_data(frame, frame[2], 0)[: 2 * CELLS_PER_REPLY]
    cells = []
    for (mv,) in struct.iter_unpack("<H", data[: len(data) // 2 * 2]):
        if mv == 0:
            break
        cells.append(mv / 1000)
    return cells


def decode(frames: Iterable[bytes]) -> Sample:
    """The Sample of one poll's replies: every status command's, and the cell replies in order
    (frames of other commands are ignored)."""
    replies: dict[int, bytes] = {}
    cells: list[float] = []
    for frame in frames:
        if len(frame) < _OVERHEAD:
            raise ProtocolError("not a CBT Power reply")
        command = frame[2]
        if command in CMD_CELLS:
            if len(cells) == CELLS_PER_REPLY * CMD_CELLS.index(command):
                cells += cells_of(frame)
        elif command in STATUS_COMMANDS:
            replies[command] = frame
    missing = [f"0x{c:02X}" for c in STATUS_COMMANDS if c not in replies]
    if missing:
        raise ProtocolError(f"no CBT Power reply to {', '.join(missing)} among the replies")
    millivolts, milliamps = struct.unpack_from("<Ii", reply_data(replies[CMD_POWER], CMD_POWER, 8))
    (soc,) = struct.unpack_from("<B", reply_data(replies[CMD_SOC], CMD_SOC, 1))
    (temperature,) = struct.unpack_from("<h", reply_data(replies[CMD_TEMPERATURE], CMD_TEMPERATURE, 2))
    design, cycles = struct.unpack_from("<HH", reply_data(replies[CMD_CAPACITY], CMD_CAPACITY, 4))
    (problem,) = struct.unpack_from("<I", reply_data(replies[CMD_PROBLEM], CMD_PROBLEM, 4))
    found = Decoded()
    found.add(PROBLEMS, problem)
    return Sample(
        voltage=millivolts / 1000,
        current=milliamps / 1000,
        soc=float(soc),
        capacity_full=float(design) or None,
        cycles=cycles,
        cell_voltages=cells or None,
        temperatures=[float(temperature)],
        alarms=found.alarms,
        conditions=tuple(found.conditions),
    )


def encode_status(sample: Sample, *, problem: int = 0) -> dict[int, bytes]:
    """The BMS side: the reply to each status command, carrying ``sample``."""
    temperature = (sample.temperatures or [0.0])[0]
    return {
        CMD_POWER: build_reply(CMD_POWER, struct.pack("<Ii", round((sample.voltage or 0) * 1000),
                                                      round((sample.current or 0) * 1000))),
        CMD_SOC: build_reply(CMD_SOC, struct.pack("<B", round(sample.soc or 0)) + bytes(5)),
        CMD_TEMPERATURE: build_reply(CMD_TEMPERATURE, struct.pack("<h", round(temperature)) + bytes(10)),
        CMD_CAPACITY: build_reply(CMD_CAPACITY, struct.pack("<HH", round(sample.capacity_full or 0),
                                                            sample.cycles or 0)),
        CMD_PROBLEM: build_reply(CMD_PROBLEM, struct.pack("<I", problem)),
    }


def encode_cells(command: int, cells: list[float]) -> bytes:
    """The BMS side: the reply to cell command ``command`` for a pack of ``cells``."""
    first = CELLS_PER_REPLY * CMD_CELLS.index(command)
    mine = cells[first : first + CELLS_PER_REPLY]
    words = [round(v * 1000) for v in mine] + [0] * (CELLS_PER_REPLY - len(mine))
    return build_reply(command, struct.pack(f"<{CELLS_PER_REPLY}H", *words))
