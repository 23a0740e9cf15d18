"""A pack at its own address on an RS485 bus that several packs share (``shared_link``): the link,
one transaction per turn, how its failures are counted. A family's device says what one poll asks.

Each transaction is one request and the one reply it expects from our pack: the input is dropped
before the request, so an echo, another pack's answer or a late reply is never taken for ours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..protocols.framing import Assembler
from ..transports.errors import TransportError
from ..transports.link import link_name
from ..transports.stream import StreamTransport
from . import shared_link
from .base import DEADLINE_MARGIN, Device, DeviceError
from .replies import first_reply

T = TypeVar("T")


class BusDevice(Device):
    """One pack at ``address`` on the bus of ``port``. ``transactions_per_poll`` bounds a poll;
    ``gap`` is the pause the family's packs need between two transactions on their bus."""

    transactions_per_poll = 1
    gap = shared_link.GAP

    def __init__(self, port: str, address: int, *, baudrate: int, timeout: float) -> None:
        super().__init__()
        self.port = port
        self.address = address
        self.baudrate = baudrate
        self.timeout = timeout
        # Held from the start, so that every device's deadline counts every pack on the port, until
        # ``close``.
        self.link: shared_link.SharedLink | None = shared_link.acquire(port, baudrate)
        # Every pack on a port is of one type (the config sees to it): the family's gap is the bus's.
        self.link.gap = self.gap

    @property
    def connection(self) -> str:
        return f"{link_name(self.port)} address {self.address}"

    @property
    def fallback_id(self) -> str:
        return f"{self.type_name}_{self.port}_{self.address}"

    @property
    def transaction_bound(self) -> float:
        """One transaction once it is our turn: opening the link, the request, the reply timeout."""
        return self.timeout + DEADLINE_MARGIN

    @property
    def deadline(self) -> float:
        """Our transactions, each behind at most one of every other pack on the port (turns go in
        order) and the gap; a silent pack costs the others only its reply timeout."""
        users = max(1, self.link.users if self.link else 1)
        return self.transactions_per_poll * users * (self.transaction_bound + self.gap) + DEADLINE_MARGIN

    async def transact(self, request: bytes, rx: Assembler, take: Callable[[bytes], T | None], what: str) -> T:
        """Our turn on the bus: ``request`` sent on a clean line, then what ``take`` makes of the
        first frame of ``rx`` it accepts within the reply timeout (``replies.first_reply``). ``rx`` is
        fresh: bytes of an earlier, timed-out reply must not be glued to this one."""
        silent = f"no {what} from pack {self.address} on {self.port} within {self.timeout:g} s"
        return await self.turn(request, lambda transport: first_reply(
            transport, rx, take, timeout=self.timeout, silent=silent, stats=self.stats))

    async def turn(self, request: bytes, answer: Callable[[StreamTransport], Awaitable[T]]) -> T:
        """Our turn on the bus: ``request`` sent on a clean line, then ``answer`` awaited, all within
        ``transaction_bound``. Failures are DeviceErrors, counted."""
        if self.link is None:
            raise DeviceError(f"pack {self.address} on {self.port} is closed")
        transport = self.link.transport
        opens = None
        try:
            async with self.link.turn():
                # From here the time and the link are ours: the wait for the turn does not count
                # against the bound, and another pack's reconnect is not ours.
                opens = transport.opens
                async with asyncio.timeout(self.transaction_bound):
                    await transport.open()
                    try:
                        # An adapter's echo, stale FIFO bytes, the end of the last reply.
                        dropped = transport.discard_input()
                    except TransportError:
                        # The link went away while idle (a gateway restarted): nothing is sent
                        # yet, so it is made again at once rather than this poll lost.
                        await transport.open()
                        dropped = transport.discard_input()
                    self.stats.discarded_bytes += dropped
                    await transport.write(request)
                    return await answer(transport)
        except TimeoutError as exc:
            self.stats.timeouts += 1
            raise DeviceError(str(exc) or f"pack {self.address} on {self.port}: no reply within "
                              f"{self.transaction_bound:g} s") from None
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(str(exc)) from None
        finally:
            if opens is not None and transport.opens > opens > 0:
                self.stats.reopens += 1

    async def abort(self) -> None:
        """Nothing to cut: the link is shared, and closing it would cut another pack's transaction.
        Every transaction starts clean (the input dropped, only our pack's answer taken)."""

    async def close(self) -> None:
        link, self.link = self.link, None
        if link is not None:
            await shared_link.release(link)
