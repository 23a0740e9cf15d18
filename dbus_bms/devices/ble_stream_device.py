"""A BLE device that streams: one request makes it send a record (its cell info) again and again
until the link ends, and it answers other requests (device info, settings) with one record each.

A poll takes the newest streamed record that arrived; when the stream stalls it asks again, and
after a few silent polls it drops the link and reconnects, because a device that stopped streaming
rarely starts again on the same connection. Every record met while waiting is handed to the family
(``take``), whatever was waited for. A family says what to ask on a poll (``ask_poll``) and how its
records read (``new_assembler``, ``take``, ``sample``).
"""

from __future__ import annotations

import abc
import asyncio

from ..model import Sample
from ..protocols.errors import ProtocolError
from ..protocols.framing import Assembler, drain
from ..transports.ble import BleTransport
from ..transports.errors import TransportError
from .base import Device, DeviceError

# Polls in a row without a streamed record before the link is dropped and made again.
SILENT_POLLS_BEFORE_RECONNECT = 3


class BleStreamDevice(Device):
    """``transport`` is the device's link; ``streamed`` the kind of the record it streams (the
    record's byte 4), ``names`` what each kind is called in a timeout's message."""

    streamed: int
    names: dict[int, str] = {}

    def __init__(self, transport: BleTransport, *, timeout: float) -> None:
        super().__init__()
        self.transport = transport
        self.timeout = timeout
        self._rx = self.new_assembler()
        self.record: bytes | None = None  # the newest streamed record of this poll
        self.streaming = False
        self._silent = 0

    @abc.abstractmethod
    def new_assembler(self) -> Assembler: ...

    @abc.abstractmethod
    def take(self, kind: int, record: bytes) -> None:
        """A record of a kind other than the streamed one (``record = None`` when it makes the
        streamed records before it stale, as settings that confirm a switch do)."""

    @abc.abstractmethod
    async def ask_poll(self) -> None:
        """One poll's requests on an open link (``ask``, then ``stream``)."""

    @abc.abstractmethod
    def sample(self, record: bytes) -> Sample:
        """The reading of the newest streamed record."""

    def on_fresh_link(self) -> None:
        """A new link: what the family must ask again on it."""

    @property
    def connection(self) -> str:
        return self.transport.describe()

    @property
    def fallback_id(self) -> str:
        return f"{self.type_name.removesuffix('-ble')}_{self.transport.id_part}"

    async def exchange(self) -> Sample:
        try:
            await self.open_link()
            await self.ask_poll()
        except TimeoutError as exc:
            self.stats.timeouts += 1
            await self._stalled()
            raise DeviceError(str(exc)) from None
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(str(exc)) from None
        self._silent = 0
        assert self.record is not None
        return self.sample(self.record)

    async def open_link(self) -> None:
        """The link up; a new one starts a new stream, with nothing of the old one kept."""
        opens = self.transport.opens
        await self.transport.open()
        if self.transport.opens > opens:
            if opens > 0:
                self.stats.reopens += 1
            self.stats.discarded_bytes += len(getattr(self._rx, "buf", b""))
            self._rx = self.new_assembler()
            self.streaming = False
            self._silent = 0
            self.on_fresh_link()

    async def ask(self, request: bytes, kind: int) -> None:
        """Sends ``request`` and waits for its record of ``kind``."""
        await self.transport.write(request)
        await self.collect(kind)

    async def stream(self, request: bytes) -> None:
        """Waits for a streamed record newer than the last poll, asking for the stream first when
        it is not running."""
        self.record = None
        if not self.streaming:
            await self.transport.write(request)
            self.streaming = True
        await self.collect(self.streamed)

    async def _stalled(self) -> None:
        self.streaming = False
        self._silent += 1
        if self._silent >= SILENT_POLLS_BEFORE_RECONNECT and self.transport.keep_alive:
            self._silent = 0
            await self.transport.close()

    async def collect(self, wanted: int) -> None:
        """Reads notifications until a record of kind ``wanted`` is in, within the reply timeout."""
        loop_time = asyncio.get_running_loop().time
        deadline = loop_time() + self.timeout
        while True:
            if wanted in self._take_records() and (wanted != self.streamed or self.record is not None):
                return
            remaining = deadline - loop_time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                self._rx.feed(await self.transport.read(remaining))
                self.stats.discarded_bytes += self.transport.take_overflowed()
            except TimeoutError:
                what = self.names.get(wanted, f"record 0x{wanted:02X}")
                raise TimeoutError(f"no {what} from {self.connection} within {self.timeout:g} s") from None

    def _take_records(self) -> set[int]:
        seen: set[int] = set()
        discarded = self._rx.discarded_bytes
        for item in drain(self._rx):
            if isinstance(item, ProtocolError):
                self.stats.bad_frames += 1
                continue
            kind = item[4]
            seen.add(kind)
            if kind == self.streamed:
                self.record = item
                continue
            try:
                self.take(kind, item)
            except ProtocolError:
                self.stats.bad_frames += 1
        self.stats.discarded_bytes += self._rx.discarded_bytes - discarded
        return seen

    async def abort(self) -> None:
        """Drops the link without waiting on bluetoothd; the next poll connects afresh and asks
        for the stream again."""
        self.streaming = False
        self._silent = 0
        await self.transport.close()

    async def end_poll(self) -> None:
        await self.transport.release()

    async def close(self) -> None:
        await self.transport.close()
