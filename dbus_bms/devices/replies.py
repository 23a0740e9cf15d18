"""Reading one reply off a byte-stream link: what every request/reply device does after its request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from ..protocols.errors import ProtocolError
from ..protocols.framing import Assembler, drain

T = TypeVar("T")


async def first_reply(
    transport: Any, rx: Assembler, take: Callable[[bytes], T | None], *, timeout: float, silent: str, stats: Any
) -> T:
    """Feeds every good frame ``rx`` cuts from what ``transport`` delivers to ``take`` until it
    returns something, within ``timeout`` s; TimeoutError(``silent``) when it does not. Corrupt frames
    are counted in ``stats``, and so is the junk ``rx`` drops. ``rx`` is a fresh assembler: bytes of
    an earlier, timed-out reply must not be glued to this one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = _Seen()
    try:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(seen.told(silent, rx))
            try:
                data = await transport.read(remaining)
            except TimeoutError:
                raise TimeoutError(seen.told(silent, rx)) from None
            seen.received += len(data)
            rx.feed(data)
            for item in drain(rx):
                if isinstance(item, ProtocolError):
                    stats.bad_frames += 1
                    seen.corrupt += 1
                elif (found := take(item)) is not None:
                    return found
                else:
                    seen.others += 1
    finally:
        stats.discarded_bytes += rx.discarded_bytes


class _Seen:
    """What arrived while no reply came: someone chasing a baud rate or swapped A/B wires needs to
    know that bytes did come, and what they were."""

    def __init__(self) -> None:
        self.received = self.corrupt = self.others = 0

    def told(self, silent: str, rx: Assembler) -> str:
        if not self.received:
            return silent
        if self.corrupt:
            what = f"{self.corrupt} frame{'s' if self.corrupt > 1 else ''} with a bad checksum or length"
        elif self.others:
            what = f"{self.others} frame{'s' if self.others > 1 else ''}, none the reply asked for"
        elif rx.discarded_bytes:
            what = "garbage, no frame in it"
        else:
            what = "a frame that never ended"
        return (f"{silent}: {self.received} bytes came, {what}; "
                "check the baud rate, the A/B wires and the type")
