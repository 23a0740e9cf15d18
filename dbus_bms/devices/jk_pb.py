"""A JK PB pack (the "inverter BMS") on an RS485 bus, at the address of its DIP switches.

Several packs share one bus and one port (``shared_link``). Master mode: we are the bus master and
each pack is polled by its own device, one transaction at a time. A poll asks for the cell info;
before the first reading the device info (the factory serial is the pack's unique id), and the
settings (the pack's own current limits) at the start and every ``SETTINGS_EVERY`` seconds. Every
request expects an answer from its pack only, so another pack's answer or a late one is never
taken for it.

Listening mode: a pack at address 0 is the master and polls the others itself, about every 4.4 s.
We send nothing; one ``PbListener`` per port reads what the bus carries and keeps the newest cell
info and settings of each address, the master's own broadcasts as address 0. A master never sends
device info, so a listening pack has no serial: its unique id is the port and the address.

Control (master mode only): a switch is an FC16 write of 0 or 1 to its UINT32 setting, acked by the
pack; the poll that follows must read the settings record again, which carries the switches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from ..model import DeviceInfo, Sample
from ..protocols import jk02, jk_pb
from ..protocols.errors import ProtocolError
from ..transports.errors import TransportError
from ..transports.stream import StreamTransport
from .base import DEADLINE_MARGIN, DeviceError
from .bus_device import BusDevice
from .registry import DEVICE_TYPES

log = logging.getLogger(__name__)

# The reply timeouts and the master's cycle, where checking a config finds them too.
_KIND = DEVICE_TYPES["jk-pb"]
# Settings change only when the owner changes them; read again this often (s).
SETTINGS_EVERY = 300.0
# A poll's own transactions at most: device info, settings, cell info.
TRANSACTIONS_PER_POLL = 3
# The UINT32 setting of each switch.
_SWITCH_REGISTERS = {"charge": jk_pb.REG_CHARGE, "discharge": jk_pb.REG_DISCHARGE, "balance": jk_pb.REG_BALANCE}
# A listener whose port failed tries to open it again after this long.
LISTEN_RETRY = 1.0
# A listener wakes at least this often on a silent bus.
_LISTEN_READ = 1.0


class JkPbDevice(BusDevice):
    type_name = "jk-pb"
    vendor = "JK BMS"
    transactions_per_poll = TRANSACTIONS_PER_POLL

    def __init__(
        self, port: str, address: int, *, baudrate: int = 115200, timeout: float | None = None, listen: bool = False
    ) -> None:
        if not (0 if listen else 1) <= address <= 15:
            raise ValueError(f"PB address {address} is not {'0' if listen else '1'}-15")
        own = _KIND.listen_timeout if listen else _KIND.timeout
        assert own is not None
        super().__init__(port, address, baudrate=baudrate, timeout=timeout if timeout is not None else own)
        self.listen = listen
        self.settings: jk_pb.PbSettings | None = None
        self._settings_at = float("-inf")
        # After a switch command the next poll must read the settings back, or fail.
        self._settings_required = False
        # Listening: the number of the last cell info and settings record taken from the listener.
        self._seen = -1
        self._settings_seen = -1
        self._identified = False
        self._port_counts = _PortCounts()

    @classmethod
    def from_config(cls, cfg: Any) -> JkPbDevice:
        try:
            address = int(cfg.address)
        except (TypeError, ValueError):
            raise ValueError(f"a PB pack's address is its RS485 address 0-15, not {cfg.address!r}") from None
        return cls(cfg.port, address, baudrate=cfg.baudrate, timeout=cfg.timeout, listen=getattr(cfg, "listen", False))

    @property
    def connection(self) -> str:
        return super().connection + (" (listening)" if self.listen else "")

    @property
    def deadline(self) -> float:
        """Master mode: our own transactions (``BusDevice.deadline``). Listening: the wait for the
        next record."""
        if self.listen:
            return self.timeout + DEADLINE_MARGIN
        return super().deadline

    async def exchange(self) -> Sample:
        if self.link is None:
            raise DeviceError(f"pack {self.address} on {self.port} is closed")
        if self.listen:
            return await self._listened()
        loop = asyncio.get_running_loop()
        if not self._identified:
            # Before the first reading: without the serial the pack would be published under its
            # port and address, and become another battery once the serial is known.
            self.info = self.info.merged(self._decoded(await self._ask(jk02.TYPE_DEVICE_INFO), DeviceInfo))
            self._identified = True
        if self._settings_required:
            self.settings = self._decoded(await self._ask(jk02.TYPE_SETTINGS), jk_pb.PbSettings)
            self._settings_at, self._settings_required = loop.time(), False
        elif loop.time() - self._settings_at >= SETTINGS_EVERY:
            await self._refresh_settings(loop.time())
        sample = self._decoded(await self._ask(jk02.TYPE_CELL_INFO), Sample)
        return self._with_settings(sample)

    async def _refresh_settings(self, now: float) -> None:
        # The reading does not depend on them: a pack that misses this answer is asked next poll.
        try:
            self.settings = self._decoded(await self._ask(jk02.TYPE_SETTINGS), jk_pb.PbSettings)
        except DeviceError as exc:
            log.debug("pack %d on %s: no settings this poll (%s)", self.address, self.port, exc)
            return
        self._settings_at = now

    def _with_settings(self, sample: Sample) -> Sample:
        if self.settings is not None:
            sample.bms_settings = self.settings.protections()
            sample.switches = self.settings.switches()
        return sample

    def can_switch(self, which: str) -> bool:
        # A listener sends nothing, and the master pack would not take a second master's write.
        return not self.listen

    async def send_switch(self, which: str, on: bool) -> None:
        register = _SWITCH_REGISTERS[which]
        self._settings_required = True
        await self.turn(jk_pb.build_write_u32(self.address, register, int(on)),
                             lambda transport: self._acked(transport, register))

    async def _acked(self, transport: StreamTransport, register: int) -> bytes:
        """Waits for our pack's ack of a write to ``register``; a refusal is a DeviceError."""

        def ack(item: jk_pb.Event | ProtocolError) -> bytes | None:
            if isinstance(item, jk_pb.ExceptionReply) and item.address == self.address:
                raise DeviceError(f"pack {self.address} refused the write: {item.reason}")
            if isinstance(item, jk_pb.Ack) and (item.address, item.register) == (self.address, register):
                return b""
            return None

        silent = f"pack {self.address} on {self.port} did not acknowledge the write within {self.timeout:g} s"
        stream = jk_pb.PbStream()
        try:
            return await self._first(transport, stream, ack, silent)
        finally:
            self.stats.discarded_bytes += stream.discarded_bytes

    async def _first(
        self, transport: StreamTransport, stream: jk_pb.PbStream,
        take: Callable[[jk_pb.Event | ProtocolError], bytes | None], silent: str,
    ) -> bytes:
        """What ``take`` makes of the first event it accepts, reading for up to the reply timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(silent)
            try:
                stream.feed(await transport.read(remaining))
            except TimeoutError:
                raise TimeoutError(silent) from None
            for item in stream.events():
                found = take(item)
                if found is not None:
                    return found

    def _decoded(self, record: bytes, kind: type) -> Any:
        try:
            decoded = jk_pb.decode_record(record)
        except ProtocolError as exc:
            self.stats.bad_frames += 1
            raise DeviceError(f"undecodable record from pack {self.address}: {exc}") from None
        if not isinstance(decoded, kind):
            self.stats.bad_frames += 1
            raise DeviceError(f"pack {self.address} sent a record of type 0x{record[4]:02X} for a {kind.__name__}")
        return decoded

    async def _ask(self, kind: int) -> bytes:
        """One transaction: our turn on the bus, the request, our pack's record of ``kind``."""
        return await self.turn(jk_pb.build_trigger(self.address, kind),
                                    lambda transport: self._reply(transport, kind))

    async def _reply(self, transport: StreamTransport, kind: int) -> bytes:
        # Fresh per request: bytes of an earlier, timed-out reply must not be glued to this one.
        stream = jk_pb.PbStream()
        attribution = jk_pb.Attribution()
        attribution.expect(self.address, kind)

        def ours(item: jk_pb.Event | ProtocolError) -> bytes | None:
            if isinstance(item, ProtocolError):
                self.stats.bad_frames += 1
            found = attribution.feed(item)
            return found.record if found is not None else None

        silent = f"no reply from pack {self.address} on {self.port} within {self.timeout:g} s"
        try:
            return await self._first(transport, stream, ours, silent)
        finally:
            # Another pack's record, or one no ack claimed, is not ours: junk to this poll.
            strays = attribution.foreign + attribution.unattributed
            self.stats.discarded_bytes += stream.discarded_bytes + strays * jk02.RECORD_LEN

    async def _listened(self) -> Sample:
        """The newest cell info of our pack not returned yet, waiting up to ``timeout`` for one."""
        assert self.link is not None
        listener = self.link.reader(PbListener)
        listener.start()
        loop = asyncio.get_running_loop()
        end = loop.time() + self.timeout
        try:
            while (found := listener.newer(self.address, jk02.TYPE_CELL_INFO, self._seen)) is None:
                remaining = end - loop.time()
                if remaining <= 0:
                    self.stats.timeouts += 1
                    why = f" ({listener.problem})" if listener.problem else ""
                    raise DeviceError(f"no cell info of pack {self.address} on {self.port} within {self.timeout:g} s{why}")
                await listener.wait(remaining)
        finally:
            self._port_counts.take(listener, self.stats)
        self._seen, record = found
        settings = listener.newer(self.address, jk02.TYPE_SETTINGS, self._settings_seen)
        if settings is not None:
            self._settings_seen = settings[0]
            try:
                self.settings = self._decoded(settings[1], jk_pb.PbSettings)
            except DeviceError as exc:
                log.debug("pack %d on %s: %s", self.address, self.port, exc)
        return self._with_settings(self._decoded(record, Sample))


class _PortCounts:
    """What a listener counted for the whole port, added to a device's stats since it last looked."""

    def __init__(self) -> None:
        self._seen = (0, 0, 0, 0)

    def take(self, listener: PbListener, stats: Any) -> None:
        now = (listener.discarded_bytes, listener.bad_frames, listener.link_errors, listener.reopens)
        d = [a - b for a, b in zip(now, self._seen)]
        stats.discarded_bytes += d[0]
        stats.bad_frames += d[1]
        stats.link_errors += d[2]
        stats.reopens += d[3]
        self._seen = now


class PbListener:
    """Reads a bus whose master is a pack, writing nothing: every record attributed by the ack that
    follows it, the newest of each kind and address kept, each numbered in order of arrival.

    A port that fails is opened again after ``LISTEN_RETRY``; the counters cover the whole port.
    """

    def __init__(self, transport: StreamTransport) -> None:
        self.transport = transport
        self.bad_frames = 0
        self.link_errors = 0
        self.reopens = 0
        # Why nothing comes from the port now (a link error), "" while it reads.
        self.problem = ""
        self._stream = jk_pb.PbStream()
        self._attribution = jk_pb.Attribution()
        self._dropped = 0
        self._records: dict[tuple[int, int], tuple[int, bytes]] = {}
        self._count = 0
        self._news = asyncio.Event()
        self._task: asyncio.Task | None = None

    @property
    def discarded_bytes(self) -> int:
        strays = self._attribution.unattributed * jk02.RECORD_LEN
        return self._dropped + self._stream.discarded_bytes + strays

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"listening on {self.transport.port}")

    def newer(self, address: int, kind: int, seen: int) -> tuple[int, bytes] | None:
        """(number, record): the newest record of ``kind`` from ``address`` if it came after ``seen``."""
        found = self._records.get((address, kind))
        return found if found is not None and found[0] > seen else None

    async def wait(self, timeout: float) -> None:
        """Until the next record arrives, at most ``timeout`` s."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._news.wait()

    async def _run(self) -> None:
        # ``close`` lets go of the task before it cancels it: a cancellation that a step lost on its
        # way (a reply arriving in the same turn) still ends the loop.
        while self._task is not None:
            try:
                await self._read_once()
            except TransportError as exc:
                self.link_errors += 1
                if self.problem != str(exc):
                    log.warning("listening on %s: %s", self.transport.port, exc)
                self.problem = str(exc)
                await asyncio.sleep(LISTEN_RETRY)
            except Exception:  # noqa: BLE001 - the packs of this port must not go unread for good
                log.exception("listening on %s failed; starting over", self.transport.port)
                self.problem = "internal error while listening"
                await self.transport.close()
                await asyncio.sleep(LISTEN_RETRY)

    async def _read_once(self) -> None:
        opens = self.transport.opens
        await self.transport.open()
        if self.transport.opens > opens:
            if opens > 0:
                self.reopens += 1
            # What was half received before the link went away belongs to no record now.
            self._dropped += len(self._stream.buf)
            self._stream.buf.clear()
            self._attribution.feed(ProtocolError("the link was made again"))
        try:
            data = await self.transport.read(_LISTEN_READ)
        except TimeoutError:
            return  # a bus without a master is silent
        self.problem = ""
        self._stream.feed(data)
        for item in self._stream.events():
            if isinstance(item, ProtocolError):
                self.bad_frames += 1
            found = self._attribution.feed(item)
            if found is not None:
                self._count += 1
                self._records[(found.address, found.kind)] = (self._count, found.record)
                self._news.set()
                self._news = asyncio.Event()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

