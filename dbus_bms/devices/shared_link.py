"""One link per port, shared by every device on it: RS485 packs at their own addresses on one bus.

A bus carries one conversation at a time. Each device takes its ``turn`` for one request and its
reply: turns go in the order they were asked for, and a turn begins no sooner than ``gap`` after
the previous one ended, the pause a pack needs between two transactions on its bus. A bus that no
one polls (its master is a pack) has one ``reader`` instead, which takes in everything the port
sends for all its devices.

The link is opened by the first turn or reader, and closed when the last device on it lets go.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Protocol, TypeVar

from ..transports.link import stream_transport
from ..transports.stream import StreamTransport
from ..transports.tcp import SCHEME, is_tcp, tcp_peer

# The pause between the end of one transaction and the next request that JK PB packs need, as logic
# analyser captures of PB buses show it: 50 ms leaves stale bytes, 75 ms none, 100 ms is a safe margin.
GAP = 0.12


class Reader(Protocol):
    """What a link's reader offers: it is stopped when the last device lets go of the link."""

    async def close(self) -> None: ...


R = TypeVar("R", bound=Reader)


def port_key(port: str) -> str:
    """One name for every spelling of a port: a device's real path, a gateway's host:port."""
    return SCHEME + tcp_peer(port).lower() if is_tcp(port) else os.path.realpath(port)


class SharedLink:
    """The transport of one port, and whose turn it is on it."""

    def __init__(self, port: str, baudrate: int, *, gap: float = GAP) -> None:
        self.port = port
        self.transport: StreamTransport = stream_transport(port, baudrate)
        self.gap = gap
        # Devices holding the link: each transaction may queue behind one of every other.
        self.users = 0
        self._lock = asyncio.Lock()
        self._ended_at = float("-inf")
        self._reader: Reader | None = None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[StreamTransport]:
        """The wire for one transaction: after the turns asked for before this one, and the gap."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            wait = self._ended_at + self.gap - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield self.transport
            finally:
                self._ended_at = loop.time()
                # Nothing is read until the next turn: what comes meanwhile waits in the kernel
                # and is dropped, counted, before the next request.
                self.transport.pause()

    def reader(self, make: Callable[[StreamTransport], R]) -> R:
        """The one reader of this link, made by ``make`` the first time it is asked for."""
        if self._reader is None:
            self._reader = make(self.transport)
        return self._reader  # type: ignore[return-value]

    async def _close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.close()
        await self.transport.close()


_links: dict[str, SharedLink] = {}


def acquire(port: str, baudrate: int = 115200) -> SharedLink:
    """The link of ``port``, shared with every other device on it; give it back with ``release``.
    The first device to ask sets the baud rate (the config makes all on one port agree)."""
    key = port_key(port)
    link = _links.get(key)
    if link is None:
        link = _links[key] = SharedLink(port, baudrate)
    link.users += 1
    return link


async def release(link: SharedLink) -> None:
    """One device lets go of ``link``; the last one closes it."""
    link.users -= 1
    if link.users > 0:
        return
    key = port_key(link.port)
    if _links.get(key) is link:
        del _links[key]
    await link._close()
