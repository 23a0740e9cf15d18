"""Reading another service's values off the D-Bus, as Victron's services offer them
(``com.victronenergy.BusItem``): one ``GetValue`` on its root ``/`` answers every path at once.

A reader has a bus connection of its own, apart from the one that carries a battery's service: a
source is a device like any other, built and polled without knowing how its battery is published.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import AuthError, InvalidAddressError

from .errors import TransportError

BUSITEM = "com.victronenergy.BusItem"
# The errors the bus daemon answers with for a name that nobody owns.
_ABSENT = ("org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner")


def plain(value: Any) -> Any:
    """A D-Bus value as Python; Victron's invalid value (an empty array) becomes None."""
    if isinstance(value, Variant):
        value = value.value
    if isinstance(value, list):
        return [plain(v) for v in value] or None
    return value


class BusItemReader:
    """A connection to the bus (``bus_address``, else the session bus when DBUS_SESSION_BUS_ADDRESS is
    set, else the system bus, as our own services choose), opened on first use and again after it
    was lost."""

    def __init__(self, bus_address: str | None = None) -> None:
        self.bus_address = bus_address
        self._bus: MessageBus | None = None

    async def _connected(self) -> MessageBus:
        if self._bus is not None and self._bus.connected:
            return self._bus
        self._bus = None
        if self.bus_address is not None:
            bus = MessageBus(bus_address=self.bus_address)
        else:
            bus = MessageBus(bus_type=BusType.SESSION if os.environ.get("DBUS_SESSION_BUS_ADDRESS") else BusType.SYSTEM)
        try:
            self._bus = await bus.connect()
        except (OSError, EOFError, AuthError, InvalidAddressError) as exc:
            raise TransportError(f"cannot connect to the D-Bus: {exc}") from None
        return self._bus

    async def values(self, service: str, timeout: float) -> dict[str, Any]:
        """``{"/Dc/0/Current": -12.3, "/Soc": None, ...}``: every path of ``service``, invalid ones as
        None. Raises TransportError when the service is not on the bus or refuses, TimeoutError when
        it does not answer within ``timeout`` seconds."""
        bus = await self._connected()
        message = Message(destination=service, path="/", interface=BUSITEM, member="GetValue")
        try:
            async with asyncio.timeout(timeout):
                reply = await bus.call(message)
        except TimeoutError:
            raise TimeoutError(f"{service} did not answer within {timeout:g} s") from None
        except (OSError, EOFError) as exc:
            self.close()
            raise TransportError(f"the D-Bus connection failed: {exc}") from None
        if reply.message_type == MessageType.ERROR:
            if reply.error_name in _ABSENT:
                raise TransportError(f"{service} is not on the D-Bus")
            why = " ".join(map(str, reply.body))
            raise TransportError(f"{service} refused GetValue on /: {reply.error_name} {why}")
        # velib answers a dict in a variant (``v``), our own tree the dict itself (``a{sv}``).
        tree = plain(reply.body[0]) if reply.body else None
        if not isinstance(tree, dict):
            raise TransportError(f"{service} answered GetValue on / with {reply.signature!r}, not a dict of its paths")
        return {"/" + path.lstrip("/"): plain(value) for path, value in tree.items()}

    def close(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None
