"""What every frame assembler shares: a byte buffer that resyncs on a header and counts what it drops."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from .errors import ProtocolError


class Assembler(Protocol):
    discarded_bytes: int

    def feed(self, data: bytes) -> None: ...

    def next_frame(self) -> bytes | None: ...


class HeaderBuffer:
    """Received bytes, trimmed to start at ``header``; subclasses cut frames out of ``buf``."""

    def __init__(self, header: bytes) -> None:
        self.header = header
        self.buf = bytearray()
        self.discarded_bytes = 0

    def feed(self, data: bytes) -> None:
        self.buf += data

    def skip(self, n: int) -> None:
        del self.buf[:n]
        self.discarded_bytes += n

    def at_header(self) -> bool:
        """Drops everything before the next header; False when there is none yet.

        The tail that could be the start of a header split across two reads is kept.
        """
        start = self.buf.find(self.header)
        if start >= 0:
            self.skip(start)
            return True
        keep = next((k for k in range(len(self.header) - 1, 0, -1) if self.buf.endswith(self.header[:k])), 0)
        self.skip(len(self.buf) - keep)
        return False


class LengthByteBuffer(HeaderBuffer):
    """Frames whose fourth byte counts their data, ``overhead`` bytes more making the whole frame,
    and whose header can occur in data: while the frame a header seems to start is incomplete, a
    whole, sealed frame at a later header is taken instead, so a stray header claiming a long frame
    cannot hold back the reply behind it. A subclass says what seals a frame (``sealed``) and what a
    broken one is called (``broken``)."""

    overhead: int
    broken = "frame with a bad checksum or end"

    def sealed(self, frame: bytes) -> bool:
        raise NotImplementedError

    def _complete_at(self, i: int) -> bool | None:
        """Whether a sealed frame starts at ``i``; None when not all its bytes are here."""
        if len(self.buf) < i + 4:
            return None
        total = self.overhead + self.buf[i + 3]
        if len(self.buf) < i + total:
            return None
        return self.sealed(bytes(self.buf[i : i + total]))

    def next_frame(self) -> bytes | None:
        if not self.at_header():
            return None
        head = self._complete_at(0)
        if head is None:
            later = next((i for i in range(1, len(self.buf))
                          if self.buf.startswith(self.header, i) and self._complete_at(i)), None)
            if later is None:
                return None
            self.skip(later)
            head = True
        if not head:
            self.skip(1)
            raise ProtocolError(self.broken)
        total = self.overhead + self.buf[3]
        frame = bytes(self.buf[:total])
        del self.buf[:total]
        return frame


def drain(assembler: Assembler) -> Iterator[bytes | ProtocolError]:
    """Every complete frame the assembler holds, and in their place the error of each corrupt one."""
    while True:
        try:
            frame = assembler.next_frame()
        except ProtocolError as exc:
            yield exc
            continue
        if frame is None:
            return
        yield frame


def good_frames(assembler: Assembler) -> Iterator[bytes]:
    """Every complete frame the assembler holds, corrupt ones skipped (a device ignores them)."""
    return (item for item in drain(assembler) if not isinstance(item, ProtocolError))
