"""What every BMS on a byte-stream link shares (a serial port, or an RS485-TCP gateway at
``tcp://host:port``): the link, a poll's frame, how its failures are counted, and reading a reply
frame by frame within the reply timeout. A family's device says what one poll asks (``read_bms``).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from ..model import Sample
from ..protocols.errors import ProtocolError
from ..protocols.framing import Assembler, drain
from ..transports.errors import TransportError
from ..transports.link import link_name, stream_transport
from .base import Device, DeviceError

T = TypeVar("T")


class StreamDevice(Device):
    """One BMS on a serial port or a gateway; ``default_baudrate`` is its family's line speed."""

    default_baudrate = 115200

    def __init__(self, port: str, *, baudrate: int | None = None, timeout: float = 0.5) -> None:
        super().__init__()
        self.port = port
        self.timeout = timeout
        self.transport = stream_transport(port, baudrate or self.default_baudrate)

    @classmethod
    def from_config(cls, cfg: Any) -> StreamDevice:
        return cls(cfg.port, baudrate=cfg.baudrate, timeout=cfg.timeout)

    @property
    def connection(self) -> str:
        return link_name(self.port)

    @property
    def fallback_id(self) -> str:
        return f"{self.type_name}_{self.port}"

    async def exchange(self) -> Sample:
        async with self.counted():
            await self.open_clean()
            return await self.read_bms()

    @abc.abstractmethod
    async def read_bms(self) -> Sample:
        """One poll's requests and replies on an open, clean link, decoded (``decoded``)."""

    async def open_clean(self) -> None:
        """The link open, and what arrived unasked since the last exchange dropped, counted."""
        await self.transport.open()
        self.stats.discarded_bytes += self.transport.discard_input()

    @contextlib.asynccontextmanager
    async def counted(self) -> AsyncIterator[None]:
        """A reply that did not come and a link that failed become a DeviceError, counted; so is a
        link made again on the way."""
        opens = self.transport.opens
        try:
            yield
        except TimeoutError as exc:
            self.stats.timeouts += 1
            raise DeviceError(str(exc)) from None
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(str(exc)) from None
        finally:
            if self.transport.opens > opens > 0:
                self.stats.reopens += 1

    def decoded(self, decode: Callable[..., T], *replies: Any) -> T:
        """``decode(*replies)``; a reply that does not decode is a bad frame and a DeviceError."""
        try:
            return decode(*replies)
        except ProtocolError as exc:
            self.stats.bad_frames += 1
            raise DeviceError(f"undecodable reply: {exc}") from None

    async def collect(self, rx: Assembler, take: Callable[[bytes], T | None], what: str) -> T:
        """Feeds every good frame ``rx`` cuts from what arrives to ``take`` until it returns
        something, within the reply timeout; TimeoutError naming ``what`` when it does not. Corrupt
        frames are counted, and so is the junk ``rx`` drops. ``rx`` is a fresh assembler: bytes of an
        earlier, timed-out reply must not be glued to this one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"no {what} from {self.port} within {self.timeout:g} s")
                rx.feed(await self.transport.read(remaining))
                for item in drain(rx):
                    if isinstance(item, ProtocolError):
                        self.stats.bad_frames += 1
                    elif (found := take(item)) is not None:
                        return found
        finally:
            self.stats.discarded_bytes += rx.discarded_bytes

    async def request(
        self, request: bytes, rx: Assembler, *, wanted: Callable[[bytes], bool] = lambda frame: True,
        what: str = "complete frame",
    ) -> bytes:
        """Sends ``request`` and returns the first good frame ``wanted`` takes; others (an adapter's
        echo, a late reply to an earlier request) are passed over."""
        await self.transport.write(request)
        return await self.collect(rx, lambda frame: frame if wanted(frame) else None, what)

    async def end_poll(self) -> None:
        # Nothing is asked until the next poll: what the line sends meanwhile waits in the kernel.
        self.transport.pause()

    async def close(self) -> None:
        await self.transport.close()
