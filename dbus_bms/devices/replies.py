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
    try:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(silent)
            try:
                rx.feed(await transport.read(remaining))
            except TimeoutError:
                raise TimeoutError(silent) from None
            for item in drain(rx):
                if isinstance(item, ProtocolError):
                    stats.bad_frames += 1
                elif (found := take(item)) is not None:
                    return found
    finally:
        stats.discarded_bytes += rx.discarded_bytes
