"""D-Bus connections for our services, hardened against a full socket.

dbus-fast's asyncio writer treats EAGAIN from ``send()`` as fatal: when the bus daemon reads more
slowly than we write (a busy GX, a burst of signals), it closes the connection and every service
on it vanishes. The same bug is open upstream (python-dbus-next #153), and dbus-fast 5.2.0, the
newest release in the range setup.py allows, still has it. Reporting "0 bytes sent" instead makes
the writer wait for the socket to drain, which is what it was built to do.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from dbus_fast import BusType
from dbus_fast.aio import MessageBus


class _PatientSocket:
    """The bus socket, with EAGAIN on send reported as nothing sent yet."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send(self, data: Any, *flags: int) -> int:
        try:
            return self._sock.send(data, *flags)
        except BlockingIOError:
            return 0

    def sendmsg(self, *args: Any) -> int:
        try:
            return self._sock.sendmsg(*args)
        except BlockingIOError:
            return 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


async def connect(bus_address: str | None = None) -> MessageBus:
    """A new connection: to ``bus_address``, else the session bus when DBUS_SESSION_BUS_ADDRESS is
    set, else the system bus, as Victron's own services choose."""
    if bus_address is not None:
        bus = MessageBus(bus_address=bus_address)
    else:
        bus = MessageBus(bus_type=BusType.SESSION if os.environ.get("DBUS_SESSION_BUS_ADDRESS") else BusType.SYSTEM)
    await bus.connect()
    bus._writer.sock = _PatientSocket(bus._writer.sock)  # noqa: SLF001 - see the module docstring
    return bus
