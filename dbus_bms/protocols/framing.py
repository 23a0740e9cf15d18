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
