"""Asynchronous serial port on pyserial-asyncio-fast: nothing here blocks the event loop.

The port is opened lazily and re-opened after it vanished (a USB adapter unplugged and plugged
back), so the daemon never has to restart for a replug. It is opened exclusively: a second
program polling the same BMS would garble both conversations, so it gets a clear error instead.
"""

from __future__ import annotations

import asyncio
import contextlib

import serial
import serial_asyncio_fast

from .errors import TransportError

# Bounds the receive buffer: a device that spews garbage must not grow our memory without limit.
_MAX_BUFFERED = 64 * 1024


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
        self.opens += 1

    async def write(self, data: bytes) -> None:
        await self.open()
        assert self._transport is not None
        self._transport.write(data)

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
        """Drop bytes that arrived unasked (a late reply, line noise); returns how many."""
        if self._rx is None:
            return 0
        n = len(self._rx.buffer)
        self._rx.buffer.clear()
        return n

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
