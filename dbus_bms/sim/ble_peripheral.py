"""A simulated BLE peripheral, free of any transport: its advertisement, its GATT table, and hooks
for what the host does to it. The fake BlueZ (``fake_bluez.py``) makes it reachable through bleak.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fake_bluez import FakeBlueZ


@dataclass
class Char:
    """A characteristic; ``flags`` as BlueZ names them (read, write, write-without-response, notify)."""

    uuid: str
    flags: list[str]
    value: bytes = b""


@dataclass
class Service:
    uuid: str
    chars: list[Char] = field(default_factory=list)


class GattError(Exception):
    """Raised by a hook to answer with an ATT error code (0x80 and up are application errors)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"ATT error 0x{code:02x}")
        self.code = code


class Peripheral:
    """Subclasses override the ``on_*`` hooks and call ``notify`` / ``drop_connection``."""

    # The simulated BMS behind the radio, whose faults and state a test sets (a subclass's).
    bms: Any = None

    def __init__(
        self,
        *,
        address: str,
        name: str | None = None,
        rssi: int = -60,
        manufacturer_data: dict[int, bytes] | None = None,
        service_data: dict[str, bytes] | None = None,
        service_uuids: list[str] | None = None,
        services: list[Service] | None = None,
        mtu: int = 247,
        pin: str | None = None,
    ) -> None:
        self.address = address.upper()
        self.name = name
        self.rssi = rssi
        self.manufacturer_data = manufacturer_data or {}
        self.service_data = service_data or {}
        self.service_uuids = service_uuids or []
        self.services = services or []
        self.mtu = mtu
        self.pin = pin
        # Faults a test can switch at any time.
        self.connectable = True
        self.advertising = True
        self.connect_delay = 0.0
        self.resolve_delay = 0.0
        self._connect_hangs = False
        self.writes: list[tuple[str, bytes]] = []
        self.last_notified: float | None = None  # event-loop time of the last notification sent
        self.host: FakeBlueZ | None = None

    @property
    def connect_hangs(self) -> bool:
        """Fault: a Connect is never answered (the radio never completes the link) while this is
        set; clearing it lets the held ones go ahead, and a Disconnect cancels them."""
        return self._connect_hangs

    @connect_hangs.setter
    def connect_hangs(self, on: bool) -> None:
        self._connect_hangs = on
        if not on and self.host is not None:
            self.host.release_connects(self)

    # Hooks -------------------------------------------------------------------------------------

    def on_write(self, char_uuid: str, data: bytes, with_response: bool) -> None:
        """A write from the host; raise GattError to refuse it."""

    def on_read(self, char_uuid: str) -> bytes:
        return self.char(char_uuid).value

    def on_connect(self) -> None: ...

    def on_disconnect(self) -> None: ...

    # Actions -----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.host is not None and self.host.is_connected(self)

    def notify(self, char_uuid: str, data: bytes) -> bool:
        """Sends a notification; False when nobody is subscribed (it is then lost, as on air)."""
        if len(data) > self.mtu - 3:
            raise ValueError(f"{len(data)} bytes do not fit a notification at MTU {self.mtu}")
        sent = self.host is not None and self.host.notify(self, char_uuid, bytes(data))
        if sent:
            self.last_notified = asyncio.get_running_loop().time()
        return sent

    def drop_connection(self) -> None:
        """The device ends the link (out of range, reboot, a BMS that gave up on us)."""
        if self.host is not None:
            self.host.drop(self)

    def char(self, uuid: str) -> Char:
        for service in self.services:
            for char in service.chars:
                if char.uuid == uuid:
                    return char
        raise KeyError(uuid)
