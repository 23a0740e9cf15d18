"""Creabest / CBT Power VB series over its Bluetooth LE module (the CBT Power module's
characteristics: writes to FFE9, notifications on FFE4): a Pylontech-like ASCII protocol.

A frame is ``~``, hex digits for VER (0x11 in requests, 0x22 in replies), ADR (the pack, 1),
CID1 (0x46), CID2 (the command; the return code in a reply), LENGTH (4 digits: a checksum nibble
over the 12-bit count of INFO digits, then that count), INFO, CHKSUM (4 digits: the two's
complement of the sum of the characters between ``~`` and it), then CR. Two requests make a poll:

- 0x42 (INFO: the pack's address) → the cell count, each cell (u16 mV), the temperature count,
  each temperature (i16, 0.1 °C), then current (i16, 0.1 A, positive while charging), voltage
  (u16, 0.1 V), SoC (u16, %), a byte, cycles (u16), and from the 16th byte on a problem code whose
  bits are not described (set bits of its masked 48 are named and raise no alarm);
- 0x81 (INFO: 01 00 and the address) → design capacity (u16, 0.1 Ah) in its first two bytes.

Verified against one recorded update cycle (tests/fixtures/cbtpwr_vb.json). No control is
described: the family is read-only.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from ..model import Sample
from . import pylon_ascii
from .alarm_bits import BitTable, Decoded
from .errors import ProtocolError

# What its module advertises: service FFF0, under a name of VB and nine characters.
BLE_ADVERTISED_UUID = "0000fff0-0000-1000-8000-00805f9b34fb"
REQUEST_VERSION, REPLY_VERSION = 0x11, 0x22
CID1 = 0x46
ADDRESS = 1
CMD_STATUS, CMD_CAPACITY = 0x42, 0x81
# The bits of the problem code the description keeps; what they mean it does not say.
PROBLEM_MASK = 0xFFF000FF000F
PROBLEMS = BitTable(48, {}, unknown="Creabest VB problem code bit")


def build_frame(version: int, cid2: int, info: bytes) -> bytes:
    return pylon_ascii.build(version, ADDRESS, CID1, cid2, info)


STATUS_REQUEST = build_frame(REQUEST_VERSION, CMD_STATUS, bytes([ADDRESS]))
CAPACITY_REQUEST = build_frame(REQUEST_VERSION, CMD_CAPACITY, bytes([1, 0, ADDRESS]))


def parse(frame: bytes) -> tuple[int, int, bytes]:
    """(VER, CID2, INFO) of one whole, checked frame."""
    parsed = pylon_ascii.parse(frame, "Creabest VB")
    if parsed.cid1 != CID1:
        raise ProtocolError(f"Creabest VB frame of device type 0x{parsed.cid1:02X}, not 0x46")
    return parsed.version, parsed.cid2, parsed.info


class VbAssembler(pylon_ascii.AsciiAssembler):
    """Reassembles frames from a byte stream; resyncs on ``~`` after garbage."""

    family = "Creabest VB"
    max_info = 512

    def check(self, frame: bytes) -> None:
        parse(frame)


def is_reply(frame: bytes) -> bool:
    return frame[1:3] == b"%02X" % REPLY_VERSION


def _reply_info(frame: bytes) -> bytes:
    version, code, info = parse(frame)
    if version != REPLY_VERSION:
        raise ProtocolError(f"a frame of version 0x{version:02X}, not a reply (0x22)")
    if code:
        raise ProtocolError(f"the BMS refused the request (return code 0x{code:02X})")
    return info


def _status(info: bytes) -> dict:
    try:
        cells = info[0]
        volts = [mv / 1000 for mv in struct.unpack_from(f">{cells}H", info, 1)]
        at = 1 + 2 * cells
        sensors = info[at]
        temps = [t / 10 for t in struct.unpack_from(f">{sensors}h", info, at + 1)]
        at += 1 + 2 * sensors
        current, voltage, soc = struct.unpack_from(">hHH", info, at)
        (cycles,) = struct.unpack_from(">H", info, at + 7)
        problem = int.from_bytes(info[at + 15 : at + 21], "big") & PROBLEM_MASK
    except (IndexError, struct.error):
        raise ProtocolError(f"Creabest VB status of {len(info)} bytes is shorter than its counts say") from None
    if len(info) < at + 21:
        raise ProtocolError(f"Creabest VB status of {len(info)} bytes, at least {at + 21} expected")
    return dict(cells=volts, temps=temps, current=current / 10, voltage=voltage / 10, soc=min(soc, 100),
                cycles=cycles, problem=problem)


def decode(frames: Iterable[bytes]) -> Sample:
    """The Sample of one poll's replies: a status reply (0x42), with or without the capacity reply
    (0x81), told apart by their layout (the status one is the longer); requests are ignored."""
    status = design = None
    for frame in frames:
        if not is_reply(frame):
            continue
        info = _reply_info(frame)
        if len(info) > 4:
            status = _status(info)
        elif len(info) >= 2:
            design = struct.unpack_from(">H", info)[0] / 10
    if status is None:
        raise ProtocolError("no Creabest VB status reply (0x42) among the replies")
    found = Decoded()
    found.add(PROBLEMS, status["problem"])
    return Sample(
        voltage=status["voltage"],
        current=status["current"],
        soc=float(status["soc"]),
        capacity_full=design or None,
        cycles=status["cycles"],
        cell_voltages=status["cells"] or None,
        temperatures=status["temps"] or None,
        alarms=found.alarms,
        conditions=tuple(found.conditions),
    )


def encode_status(sample: Sample) -> bytes:
    """The BMS side: a status reply carrying ``sample``."""
    cells = sample.cell_voltages or []
    temps = sample.temperatures or []
    info = (bytes([len(cells)]) + b"".join(struct.pack(">H", round(v * 1000)) for v in cells)
            + bytes([len(temps)]) + b"".join(struct.pack(">h", round(t * 10)) for t in temps)
            + struct.pack(">hHH", round((sample.current or 0) * 10), round((sample.voltage or 0) * 10),
                          round(sample.soc or 0))
            + b"\x07" + struct.pack(">H", sample.cycles or 0) + bytes(12))
    return build_frame(REPLY_VERSION, 0, info)


def encode_capacity(sample: Sample) -> bytes:
    return build_frame(REPLY_VERSION, 0, struct.pack(">H", round((sample.capacity_full or 0) * 10)))
