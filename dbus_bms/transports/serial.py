"""Asynchronous serial port on pyserial-asyncio-fast: nothing here blocks the event loop.

The port is opened lazily and re-opened after it vanished (a USB adapter unplugged and plugged
back), so the daemon never has to restart for a replug. It is opened exclusively: a second
program polling the same BMS would garble both conversations, so it gets a clear error instead.

Between exchanges (``pause``) nothing is read: a line that streams noise would otherwise wake the
daemon for every byte or two, half a core at 115200 baud. The kernel keeps what arrives meanwhile,
and ``discard_input`` before the next request drops it there, counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import termios

import serial
import serial_asyncio_fast

from .errors import TransportError

# Bounds the receive buffer: a device that spews garbage must not grow our memory without limit.
_MAX_BUFFERED = 64 * 1024
# Reads of up to _MAX_BUFFERED that dropping kept input may take: 1 MiB, a second of a flat-out line.
_DRAIN_READS = 16


class _Receiver(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.arrived = asyncio.Event()
        self.lost: Exception | None = None
        self.closed = False
        self.gone = asyncio.Event()
        self.overflowed = 0

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        excess = len(self.buffer) - _MAX_BUFFERED
        if excess > 0:
            del self.buffer[:excess]
            self.overflowed += excess
        self.arrived.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost = exc
        self.arrived.set()
        self.gone.set()


class SerialTransport:
    """One serial port: ``write`` a request, ``read`` whatever bytes arrive next."""

    def __init__(self, port: str, baudrate: int = 115200) -> None:
        self.port = port
        self.baudrate = baudrate
        self.opens = 0
        self._transport: asyncio.Transport | None = None
        self._rx: _Receiver | None = None
        self._paused = False

    @property
    def is_open(self) -> bool:
        return self._rx is not None and not self._rx.closed

    async def open(self) -> None:
        if self.is_open:
            return
        self._drop()
        rx = _Receiver()
        try:
            transport, _ = await serial_asyncio_fast.create_serial_connection(
                asyncio.get_running_loop(), lambda: rx, self.port, baudrate=self.baudrate, exclusive=True
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"cannot open {self.port}: {exc}") from exc
        self._transport, self._rx = transport, rx
        self._paused = False
        self.opens += 1

    async def write(self, data: bytes) -> None:
        await self.open()
        assert self._transport is not None
        self._resume()
        self._transport.write(data)

    def pause(self) -> None:
        """Stops reading until the next ``write``: the exchange is over."""
        if self._transport is not None and not self._paused:
            self._transport.pause_reading()
            self._paused = True

    def _resume(self) -> None:
        if self._paused and self._transport is not None:
            self._transport.resume_reading()
            self._paused = False

    async def read(self, timeout: float) -> bytes:
        """The bytes received so far, waiting up to ``timeout`` s for the first ones.

        Raises TimeoutError when nothing arrives and TransportError when the port went away.
        """
        rx = self._rx
        if rx is None or rx.closed:
            self._drop()
            raise TransportError(f"{self.port} is not open")
        if not rx.buffer:
            rx.arrived.clear()
            try:
                await asyncio.wait_for(rx.arrived.wait(), timeout)
            except TimeoutError:
                raise TimeoutError(f"no reply on {self.port} within {timeout:g} s") from None
        if rx.closed and not rx.buffer:
            reason = rx.lost or "closed"
            self._drop()
            raise TransportError(f"{self.port} went away: {reason}")
        data = bytes(rx.buffer)
        rx.buffer.clear()
        return data

    def discard_input(self) -> int:
        """Drop bytes that arrived unasked (a late reply, line noise), ours and those the kernel
        kept while reading was paused; returns how many."""
        if self._rx is None:
            return 0
        n = len(self._rx.buffer)
        self._rx.buffer.clear()
        port = getattr(self._transport, "serial", None)
        if port is None:
            return n
        try:
            # Read out rather than flush: every byte dropped is counted, also one that arrives
            # meanwhile. Bounded, for a line that streams faster than we drain.
            for _ in range(_DRAIN_READS):
                data = port.read(_MAX_BUFFERED)
                if not data:
                    break
                n += len(data)
        except (serial.SerialException, OSError, termios.error) as exc:
            # With reading paused, this is where a port that went away shows first.
            self._drop()
            raise TransportError(f"{self.port} went away: {exc}") from exc
        return n

    @property
    def unread(self) -> int:
        """Bytes the kernel holds for us, not read yet (while reading is paused, all that came)."""
        port = getattr(self._transport, "serial", None)
        if port is None:
            return 0
        try:
            return port.in_waiting
        except (serial.SerialException, OSError, termios.error):
            return 0

    async def close(self) -> None:
        """Closes the port and returns once it is released (the lock too)."""
        rx = self._rx
        self._drop()
        if rx is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rx.gone.wait(), 5.0)

    def _drop(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._transport = None
        self._rx = None
        self._paused = False
