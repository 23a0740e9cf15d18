"""SOK batteries' BMS ("ABC-BMS", also sold under the ABC and NB names) over its Bluetooth LE
module: service FFE0, replies notified on FFE1, requests written to FFE2.

Protocol description only: built from a public description of the protocol, not from a capture
of a real battery; its byte layout is checked against an emulator's frames (tests/fixtures/sok.json).

A request is ``EE <command> 00 00 00 <crc>``, six bytes. Every reply is 20 bytes:
``CC <type> <17 data bytes> <crc>``. The crc is CRC-8/MAXIM (reflected polynomial 0x8C, initial
value 0) of the bytes before it. Values are little-endian; offsets below count from the frame start.

- C0 (name) → F1: the model name in ASCII from offset 2, ended by CR or NUL.
- C1 (info) → F0 and F2. F0: voltage (u24 mV, 2), current (i24 mA, positive while charging, 5),
  design capacity (u24 mAh, 8), remaining capacity (u24 mAh, 11), cycles (u16, 14), SoC (u8, 16).
  F2: charge FET (2) and discharge FET (3) closed when non-zero, the number of temperature
  sensors (4), then each temperature (i16 °C) from 5.
- C2 (detail) → F0, F3 and as many F4 as it takes. F3: the balancer (10), active when non-zero.
  F4: four cells, each its 1-based number (u8) and voltage (u24 mV), from offset 2.
- C4 (protection) → F9, which some firmware does not send: 16 flags, bit 0 of offsets 2 to 17.
  The description does not name them: a set flag is named by its number and raises no alarm.

The module answers one request fully before the next, so a C1 written after a C2 is answered
after every F4 of the C2: its F2 closes the cells. The description gives no control command.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from ..model import DeviceInfo, Sample
from .alarm_bits import BitTable, Decoded
from .errors import ProtocolError
from .framing import HeaderBuffer

REQUEST_START = 0xEE
REPLY_START = 0xCC
REQUEST_SIZE = 6
REPLY_SIZE = 20

BLE_SERVICE_UUID = "0000ffe0-0000-1000-8000-00805f9b34fb"
BLE_NOTIFY_UUID = "0000ffe1-0000-1000-8000-00805f9b34fb"
BLE_WRITE_UUID = "0000ffe2-0000-1000-8000-00805f9b34fb"
# What the module advertises: FFF0, with a name starting SOK-, ABC-, NB- or "Hoover".
BLE_ADVERTISED_UUID = "0000fff0-0000-1000-8000-00805f9b34fb"

CMD_NAME, CMD_INFO, CMD_DETAIL, CMD_PROTECTION = 0xC0, 0xC1, 0xC2, 0xC4
REPLY_STATUS, REPLY_NAME, REPLY_STATE, REPLY_DETAIL, REPLY_CELLS, REPLY_PROTECTION = (
    0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF9)
CELLS_PER_REPLY = 4
PROTECTION_FLAGS = 16

PROTECTIONS = BitTable(PROTECTION_FLAGS, {}, unknown="SOK protection flag")


def crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return crc


def build_request(command: int) -> bytes:
    body = bytes([REQUEST_START, command, 0, 0, 0])
    return body + bytes([crc8(body)])


def build_reply(kind: int, data: bytes) -> bytes:
    """The BMS side: a reply of ``kind`` with ``data`` (at most 17 bytes, zero-padded)."""
    if len(data) > REPLY_SIZE - 3:
        raise ValueError(f"{len(data)} data bytes do not fit a SOK reply")
    body = bytes([REPLY_START, kind]) + data.ljust(REPLY_SIZE - 3, b"\x00")
    return body + bytes([crc8(body)])


class SokAssembler(HeaderBuffer):
    """Cuts fixed-size frames (replies, or with ``requests`` the host's requests) out of a byte
    stream, resyncing on the start byte."""

    def __init__(self, *, requests: bool = False) -> None:
        super().__init__(bytes([REQUEST_START if requests else REPLY_START]))
        self.size = REQUEST_SIZE if requests else REPLY_SIZE

    def next_frame(self) -> bytes | None:
        if not self.at_header() or len(self.buf) < self.size:
            return None
        frame = bytes(self.buf[: self.size])
        if crc8(frame[:-1]) != frame[-1]:
            self.skip(1)
            raise ProtocolError("SOK frame with a bad crc")
        del self.buf[: self.size]
        return frame


def _u24(frame: bytes, at: int, *, signed: bool = False) -> int:
    return int.from_bytes(frame[at : at + 3], "little", signed=signed)


def _checked(frame: bytes) -> bytes:
    if len(frame) != REPLY_SIZE or frame[0] != REPLY_START or crc8(frame[:-1]) != frame[-1]:
        raise ProtocolError("not a SOK reply")
    return frame


def decode_name(frame: bytes) -> DeviceInfo:
    """The model name of an F1 reply."""
    if _checked(frame)[1] != REPLY_NAME:
        raise ProtocolError("not a SOK name reply")
    name = frame[2:-1].split(b"\r", 1)[0].split(b"\x00", 1)[0].decode("ascii", "replace").strip()
    return DeviceInfo(model=name or None)


def _cells(frames: list[bytes]) -> list[float]:
    found: dict[int, float] = {}
    for frame in frames:
        for at in range(2, 2 + 4 * CELLS_PER_REPLY, 4):
            number, millivolts = frame[at], _u24(frame, at + 1)
            if number:
                found[number] = millivolts / 1000
    if found and sorted(found) != list(range(1, len(found) + 1)):
        raise ProtocolError(f"SOK cell numbers {sorted(found)} are not 1 to {len(found)}")
    return [found[n] for n in sorted(found)]


def decode(frames: Iterable[bytes]) -> Sample:
    """The Sample of one poll's replies: F0, F2 and F3 (the last of each), every F4 in order, an F9
    and an F1 where given; other frames are ignored."""
    latest: dict[int, bytes] = {}
    cell_frames: list[bytes] = []
    for frame in frames:
        kind = _checked(frame)[1]
        if kind == REPLY_CELLS:
            cell_frames.append(frame)
        else:
            latest[kind] = frame
    missing = [f"0x{k:02X}" for k in (REPLY_STATUS, REPLY_STATE, REPLY_DETAIL) if k not in latest]
    if missing:
        raise ProtocolError(f"no SOK reply {', '.join(missing)} among the replies")
    status, state, detail = latest[REPLY_STATUS], latest[REPLY_STATE], latest[REPLY_DETAIL]
    sensors = state[4]
    if 5 + 2 * sensors > REPLY_SIZE - 1:
        raise ProtocolError(f"SOK state reply announces {sensors} temperatures, room for {(REPLY_SIZE - 6) // 2}")
    temperatures = [float(t) for (t,) in struct.iter_unpack("<h", state[5 : 5 + 2 * sensors])]
    found = Decoded()
    if REPLY_PROTECTION in latest:
        flags = latest[REPLY_PROTECTION][2 : 2 + PROTECTION_FLAGS]
        found.add(PROTECTIONS, sum((byte & 1) << i for i, byte in enumerate(flags)))
    cells = _cells(cell_frames)
    return Sample(
        voltage=_u24(status, 2) / 1000,
        current=_u24(status, 5, signed=True) / 1000,
        soc=float(status[16]),
        capacity_full=_u24(status, 8) / 1000 or None,
        capacity_remaining=_u24(status, 11) / 1000,
        cycles=int.from_bytes(status[14:16], "little"),
        cell_voltages=cells or None,
        temperatures=temperatures or None,
        charge_enabled=bool(state[2]),
        discharge_enabled=bool(state[3]),
        balancing=bool(detail[10]),
        alarms=found.alarms,
        conditions=tuple(found.conditions),
        device=decode_name(latest[REPLY_NAME]) if REPLY_NAME in latest else None,
    )


def _u24_bytes(value: float, *, signed: bool = False) -> bytes:
    return round(value).to_bytes(3, "little", signed=signed)


def encode_status(sample: Sample) -> bytes:
    return build_reply(REPLY_STATUS, _u24_bytes((sample.voltage or 0) * 1000)
                       + _u24_bytes((sample.current or 0) * 1000, signed=True)
                       + _u24_bytes((sample.capacity_full or 0) * 1000)
                       + _u24_bytes((sample.capacity_remaining or 0) * 1000)
                       + struct.pack("<HB", sample.cycles or 0, round(sample.soc or 0)))


def encode_state(sample: Sample) -> bytes:
    temps = (sample.temperatures or [])[:7]
    return build_reply(REPLY_STATE, bytes([bool(sample.charge_enabled), bool(sample.discharge_enabled), len(temps)])
                       + b"".join(struct.pack("<h", round(t)) for t in temps))


def encode_detail(sample: Sample) -> bytes:
    return build_reply(REPLY_DETAIL, bytes(8) + bytes([bool(sample.balancing)]))


def encode_cells(cells: list[float]) -> list[bytes]:
    """The F4 replies for ``cells``, four to a frame."""
    out = []
    for first in range(0, len(cells), CELLS_PER_REPLY):
        data = b"".join(bytes([first + i + 1]) + _u24_bytes(v * 1000)
                        for i, v in enumerate(cells[first : first + CELLS_PER_REPLY]))
        out.append(build_reply(REPLY_CELLS, data))
    return out


def encode_name(name: str) -> bytes:
    return build_reply(REPLY_NAME, name.encode("ascii", "replace")[:16] + b"\r")


def encode_protection(flags: int) -> bytes:
    return build_reply(REPLY_PROTECTION, bytes((flags >> i) & 1 for i in range(PROTECTION_FLAGS)))
