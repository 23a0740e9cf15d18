"""The ASCII framing that Seplos v2 and Creabest's VB series share (the one Pylontech's RS485
protocol made common): ``~``, then hex digits for VER, ADR, CID1, CID2 (the command; in a reply
the return code), LENGTH (4 digits: a checksum nibble over the 12-bit count of INFO digits, then
that count), INFO, CHKSUM (4 digits: the 16-bit two's complement of the sum of every character
between ``~`` and it), then CR. A family adds its version, device type and commands.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from .errors import ProtocolError
from .framing import HeaderBuffer

SOI = b"~"
EOI = 0x0D
# VER ADR CID1 CID2 (2 digits each) and LENGTH (4) before INFO; CHKSUM (4) and CR after it.
HEAD = 13
_HEX = frozenset(string.hexdigits.encode())


def checksum(body: bytes) -> bytes:
    return b"%04X" % (-sum(body) & 0xFFFF)


def length_field(digits: int) -> bytes:
    nibbles = (digits >> 8) + ((digits >> 4) & 0xF) + (digits & 0xF)
    return b"%04X" % (((-nibbles & 0xF) << 12) | digits)


def build(version: int, address: int, cid1: int, cid2: int, info: bytes = b"") -> bytes:
    """A frame carrying ``info`` (bytes, sent as hex digits)."""
    digits = info.hex().upper().encode()
    body = b"%02X%02X%02X%02X" % (version, address, cid1, cid2) + length_field(len(digits)) + digits
    return SOI + body + checksum(body) + bytes([EOI])


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame that passed its checks: the header fields and INFO as bytes."""

    version: int
    address: int
    cid1: int
    cid2: int
    info: bytes


def parse(frame: bytes, family: str) -> Frame:
    """The fields of one whole frame; ProtocolError naming ``family`` when a check fails."""
    if len(frame) < HEAD + 5 or frame[:1] != SOI or frame[-1] != EOI:
        raise ProtocolError(f"not a {family} frame (~ ... CR)")
    body = frame[1:-5]
    if not _HEX.issuperset(frame[1:-1]):
        raise ProtocolError(f"{family} frame with a character that is not a hex digit")
    if frame[-5:-1].upper() != checksum(body):
        raise ProtocolError(f"{family} frame with a bad checksum")
    length = int(body[8:12], 16)
    if length_field(length & 0xFFF) != body[8:12].upper() or len(body) - 12 != length & 0xFFF:
        raise ProtocolError(f"{family} frame whose length field does not match it")
    version, address, cid1, cid2 = bytes.fromhex(body[:8].decode())
    return Frame(version, address, cid1, cid2, bytes.fromhex(body[12:].decode()))


class AsciiAssembler(HeaderBuffer):
    """Reassembles frames from a byte stream; resyncs on ``~`` after garbage. A length field past
    ``max_info`` digits is noise that happens to start with ``~``; ``check`` is the family's parse."""

    family = "Pylontech-style"
    max_info = 1024

    def __init__(self) -> None:
        super().__init__(SOI)

    def check(self, frame: bytes) -> None:
        parse(frame, self.family)

    def next_frame(self) -> bytes | None:
        if not self.at_header() or len(self.buf) < HEAD:
            return None
        field = bytes(self.buf[9:HEAD])
        if not _HEX.issuperset(field):
            self.skip(1)
            raise ProtocolError(f"{self.family} frame length is not hex digits")
        digits = int(field, 16) & 0xFFF
        if length_field(digits) != field.upper() or digits > self.max_info or digits % 2:
            self.skip(1)
            raise ProtocolError(f"impossible {self.family} length field {field.decode()!r}")
        total = HEAD + digits + 5
        if len(self.buf) < total:
            return None
        frame = bytes(self.buf[:total])
        try:
            self.check(frame)
        except ProtocolError:
            self.skip(1)
            raise
        del self.buf[:total]
        return frame
