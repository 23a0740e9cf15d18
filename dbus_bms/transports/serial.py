"""Asynchronous serial port on pyserial-asyncio-fast: nothing here blocks the event loop.

The port is opened lazily and re-opened after it vanished (a USB adapter unplugged and plugged
back), so the daemon never has to restart for a replug. It is opened exclusively: a second
program polling the same BMS would garble both conversations, so it gets a clear error instead.
"""

from __future__ import annotations

import asyncio
import termios

import serial
import serial_asyncio_fast

from .errors import TransportError
from .stream import MAX_BUFFERED, Receiver, StreamTransport

# Wake-ups during an exchange are at least this many byte times apart (5.6 ms at 115200 baud): a
# reply's tail waits that long at most, a line streaming noise wakes us 180 times a second, not 11,520.
_GATHER_BYTES = 64


class SerialTransport(StreamTransport):
    def __init__(self, port: str, baudrate: int = 115200) -> None:
        super().__init__(port, gather=_GATHER_BYTES * 10 / baudrate)
        self.baudrate = baudrate

    async def _connect(self, rx: Receiver) -> asyncio.Transport:
        try:
            transport, _ = await serial_asyncio_fast.create_serial_connection(
                asyncio.get_running_loop(), lambda: rx, self.port, baudrate=self.baudrate, exclusive=True
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"cannot open {self.port}: {exc}") from exc
        return transport

    def _port(self) -> serial.Serial | None:
        return getattr(self._transport, "serial", None)

    def _read_kept(self) -> bytes:
        port = self._port()
        if port is None:
            return b""
        try:
            return port.read(MAX_BUFFERED)
        except (serial.SerialException, OSError, termios.error) as exc:
            raise TransportError(f"{self.port} went away: {exc}") from exc

    @property
    def unread(self) -> int:
        port = self._port()
        if port is None:
            return 0
        try:
            return port.in_waiting
        except (serial.SerialException, OSError, termios.error):
            return 0
