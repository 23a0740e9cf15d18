"""What every byte-stream link shares (a serial port, a TCP connection to an RS485 gateway): request
and reply on an asyncio protocol, reading paused between exchanges, and wake-ups bounded during one.

Between exchanges (``pause``) nothing is read: a line that streams noise would otherwise wake the
daemon for every byte or two, half a core at 115200 baud. What arrives meanwhile waits in the kernel,
and ``discard_input`` before the next request drops it there, counted.

During an exchange the same noise could still wake us per byte, so once the first few reads after a
request are done (``FREE_READS``: a reply the kernel hands over in two or three pieces is taken at
once), each ``read`` waits until ``gather`` seconds after the previous one returned, with reading
paused: the kernel collects what comes meanwhile and the read takes it in one piece. A reply that
trickles in costs at most ``gather`` after its last byte.
"""

from __future__ import annotations

import asyncio
import contextlib

from .errors import TransportError

# Bounds the receive buffer: a device that spews garbage must not grow our memory without limit.
MAX_BUFFERED = 64 * 1024
# Reads after a request that are never held back to gather bytes.
FREE_READS = 3
# Reads of up to MAX_BUFFERED that dropping kept input may take: 1 MiB, a second of a flat-out line.
_DRAIN_READS = 16


class Receiver(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.arrived = asyncio.Event()
        self.lost: Exception | None = None
        self.closed = False
        self.gone = asyncio.Event()
        self.overflowed = 0

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        excess = len(self.buffer) - MAX_BUFFERED
        if excess > 0:
            del self.buffer[:excess]
            self.overflowed += excess
        self.arrived.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost = exc
        self.arrived.set()
        self.gone.set()


class StreamTransport:
    """One link: ``write`` a request, ``read`` whatever bytes arrive next.

    Subclasses open the link (``_connect``), and reach the bytes the kernel holds for us while reading
    is paused (``_read_kept``, ``unread``).
    """

    def __init__(self, port: str, gather: float) -> None:
        self.port = port
        self.gather = gather
        self.opens = 0
        self._transport: asyncio.Transport | None = None
        self._rx: Receiver | None = None
        self._paused = False
        self._next_read = 0.0
        self._free_reads = FREE_READS

    @property
    def is_open(self) -> bool:
        return self._rx is not None and not self._rx.closed

    async def _connect(self, rx: Receiver) -> asyncio.Transport:
        raise NotImplementedError

    def _read_kept(self) -> bytes:
        """Bytes the kernel kept while reading was paused (b"" when none); TransportError when the
        link went away."""
        raise NotImplementedError

    @property
    def unread(self) -> int:
        """Bytes the kernel holds for us, not read yet (while reading is paused, all that came)."""
        raise NotImplementedError

    async def open(self) -> None:
        if self.is_open:
            return
        self._drop()
        rx = Receiver()
        transport = await self._connect(rx)
        self._transport, self._rx = transport, rx
        self._paused = False
        self.opens += 1

    async def write(self, data: bytes) -> None:
        await self.open()
        assert self._transport is not None
        self._resume()
        self._free_reads = FREE_READS
        self._transport.write(data)

    # Opening is quick (a gateway's connect is bounded by its own short timeout): a poll's margin
    # covers it, unlike a BLE link's scan and connect.
    open_bound = 0.0

    async def between_polls(self) -> None:
        """End of a poll: nothing is asked until the next one, and what the line sends meanwhile
        waits in the kernel, to be dropped (counted) before the next request."""
        self.pause()

    def pause(self) -> None:
        """Stops reading until the next ``write`` or ``read``."""
        if self._transport is not None and not self._paused:
            self._transport.pause_reading()
            self._paused = True

    def _resume(self) -> None:
        if self._paused and self._transport is not None:
            self._transport.resume_reading()
            self._paused = False

    async def read(self, timeout: float) -> bytes:
        """The bytes received so far, waiting up to ``timeout`` s for the first ones.

        Raises TimeoutError when nothing arrives and TransportError when the link went away.
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        if self._free_reads > 0:
            self._free_reads -= 1
        else:
            hold = min(self._next_read, end) - loop.time()
            if hold > 0:
                await asyncio.sleep(hold)
        rx = self._rx
        if rx is None or rx.closed:
            self._drop()
            raise TransportError(f"{self.port} is not open")
        self._resume()
        if not rx.buffer:
            rx.arrived.clear()
            try:
                async with asyncio.timeout_at(end):
                    await rx.arrived.wait()
            except TimeoutError:
                raise TimeoutError(f"no reply on {self.port} within {timeout:g} s") from None
        if rx.closed and not rx.buffer:
            reason = rx.lost or "closed"
            self._drop()
            raise TransportError(f"{self.port} went away: {reason}")
        data = bytes(rx.buffer)
        rx.buffer.clear()
        self.pause()
        self._next_read = loop.time() + self.gather
        return data

    def discard_input(self) -> int:
        """Drop bytes that arrived unasked (a late reply, line noise), ours and those the kernel
        kept while reading was paused; returns how many."""
        if self._rx is None:
            return 0
        n = len(self._rx.buffer)
        self._rx.buffer.clear()
        try:
            # Read out rather than flush: every byte dropped is counted, also one that arrives
            # meanwhile. Bounded, for a line that streams faster than we drain.
            for _ in range(_DRAIN_READS):
                data = self._read_kept()
                if not data:
                    break
                n += len(data)
        except TransportError:
            # With reading paused, this is where a link that went away shows first.
            self._drop()
            raise
        return n

    async def close(self) -> None:
        """Closes the link and returns once it is released (a serial port's lock too)."""
        rx = self._rx
        self._drop()
        if rx is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await rx.gone.wait()

    def _drop(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._transport = None
        self._rx = None
        self._paused = False
