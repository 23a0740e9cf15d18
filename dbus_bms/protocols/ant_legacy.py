"""ANT BMS, the protocol of its boards before 2021: the read request and the 140-byte status reply.

The host sends ``DB DB 00 00 00 00``; the BMS answers ``AA 55 AA FF``, big-endian values at fixed
places, and the 16-bit sum of bytes 4 to 137 (big-endian). The MOSFET and balancer status codes
are those of the 2021+ protocol.
"""

from __future__ import annotations

import struct

from ..model import Sample
from .ant import BALANCING_CODES, conditions
from .errors import ProtocolError
from .framing import HeaderBuffer

HEADER = b"\xaa\x55\xaa\xff"
STATUS_REQUEST = b"\xdb\xdb\x00\x00\x00\x00"
FRAME_SIZE = 140
MAX_CELLS = 32


def _checksum(frame: bytes | bytearray) -> bytes:
    return struct.pack(">H", sum(frame[4:138]) & 0xFFFF)


class AntLegacyAssembler(HeaderBuffer):
    """Reassembles the 140-byte replies from a byte stream; resyncs on the header after garbage."""

    def __init__(self) -> None:
        super().__init__(HEADER)

    def next_frame(self) -> bytes | None:
        if not self.at_header() or len(self.buf) < FRAME_SIZE:
            return None
        if self.buf[138:FRAME_SIZE] != _checksum(self.buf):
            self.skip(len(HEADER))
            raise ProtocolError("ANT legacy frame with a bad checksum")
        frame = bytes(self.buf[:FRAME_SIZE])
        del self.buf[:FRAME_SIZE]
        return frame


# Voltage, 32 cells, current, SoC, capacity, remaining, lifetime Ah, runtime, 6 temperatures, the
# charge, discharge and balancer codes, (tyre length, pulses, relay), power, (highest and lowest
# cell, average), cell count.
_LAYOUT = struct.Struct(">H32HiBIIII6hBBB5xiBHBHHB")


def decode(frame: bytes) -> Sample:
    """The Sample in a status reply (as returned by AntLegacyAssembler.next_frame)."""
    if len(frame) != FRAME_SIZE or frame[:4] != HEADER:
        raise ProtocolError("not an ANT legacy status reply")
    if frame[138:] != _checksum(frame):
        raise ProtocolError("ANT legacy frame with a bad checksum")
    (voltage, *rest) = _LAYOUT.unpack_from(frame, 4)
    cells_mv, rest = rest[:MAX_CELLS], rest[MAX_CELLS:]
    (current, soc, full, remaining, _cycled, _runtime, *rest) = rest
    temps, rest = rest[:6], rest[6:]
    charge, discharge, balancer, power, *_extremes, n_cells = rest
    if not 0 < n_cells <= MAX_CELLS:
        raise ProtocolError(f"ANT legacy status with {n_cells} cells")
    # The first slot is the MOSFETs, the second the balancer, the other four the cell probes; a
    # probe that is not fitted reads 0.
    probes = [float(t) for t in temps[2:] if t]
    found = conditions(charge, discharge, balancer)
    return Sample(
        voltage=voltage / 10,
        # This board counts discharge current positive: Victron's sign is the other way round.
        current=-current / 10 + 0.0,
        power=-float(power) + 0.0,
        soc=float(soc),
        capacity_full=round(full / 1e6, 3) if full else None,
        capacity_remaining=round(remaining / 1e6, 3),
        cell_voltages=[mv / 1000 for mv in cells_mv[:n_cells]],
        temperatures=probes or None,
        mosfet_temperature=float(temps[0]),
        charge_enabled=charge == 1,
        discharge_enabled=discharge == 1,
        balancing=balancer in BALANCING_CODES,
        alarms=found.alarms,
        conditions=tuple(found.conditions),
    )


def encode_status(sample: Sample, *, charge: int | None = None, discharge: int | None = None,
                  balancer: int | None = None) -> bytes:
    """The BMS side: a status reply carrying ``sample`` (for simulators and round-trip tests)."""
    cells = [round(v * 1000) for v in (sample.cell_voltages or [])][:MAX_CELLS]
    probes = [round(t) for t in (sample.temperatures or [])][:4]
    mosfet = round(sample.mosfet_temperature or 0)
    temps = [mosfet, mosfet, *probes, *[0] * (4 - len(probes))]
    charge = (1 if sample.charge_enabled else 0) if charge is None else charge
    discharge = (1 if sample.discharge_enabled else 0) if discharge is None else discharge
    balancer = (4 if sample.balancing else 0) if balancer is None else balancer
    top, low = max(cells, default=0), min(cells, default=0)
    body = HEADER + _LAYOUT.pack(
        round((sample.voltage or 0) * 10), *cells, *[0] * (MAX_CELLS - len(cells)),
        round(-(sample.current or 0) * 10), round(sample.soc or 0), round((sample.capacity_full or 0) * 1e6),
        round((sample.capacity_remaining or 0) * 1e6), 0, 0, *temps, charge, discharge, balancer,
        round(-(sample.power or 0)), cells.index(top) + 1 if cells else 0, top,
        cells.index(low) + 1 if cells else 0, low, round(sum(cells) / len(cells)) if cells else 0, len(cells),
    )
    body += bytes(138 - len(body))
    return body + _checksum(body)


def decode_replies(frames: list[bytes]) -> Sample:
    """The last status reply of a poll's frames."""
    if not frames:
        raise ProtocolError("no ANT legacy status reply (AA 55 AA FF, 140 bytes) in the bytes given")
    return decode(frames[-1])
