"""A BMS whose Bluetooth LE module bridges its UART, as a peripheral of the fake BlueZ: what the host
writes to the write characteristic reaches a transport-free simulator (the same one a pty serves),
and its reply comes back as notifications, cut into the module's notification size.

A module sends what its UART received when the line pauses, so a reply leaves in pieces of at most
``chunk`` bytes; ``split`` cuts it at random places instead, as a module whose buffer fills mid-frame.
The simulated pack moves on with the time between requests, as on a pty.
"""

from __future__ import annotations

import asyncio
import random

from .ble_peripheral import Char, Peripheral, Service
from .pty_server import SimDevice


class UartBridgePeripheral(Peripheral):
    """``device`` behind a module with ``service_uuid``, notifying on ``notify_uuid`` and written
    to on ``write_uuid`` (one characteristic when they are the same)."""

    def __init__(
        self,
        device: SimDevice,
        *,
        address: str,
        name: str,
        service_uuid: str,
        notify_uuid: str,
        write_uuid: str,
        chunk: int = 20,
        manufacturer_data: dict[int, bytes] | None = None,
        advertised_uuids: list[str] | None = None,
        seed: int = 1,
    ) -> None:
        chars = [Char(notify_uuid, ["read", "notify"] if notify_uuid != write_uuid else
                      ["read", "write", "write-without-response", "notify"])]
        if write_uuid != notify_uuid:
            chars.append(Char(write_uuid, ["write", "write-without-response"]))
        super().__init__(
            address=address,
            name=name,
            manufacturer_data=manufacturer_data,
            service_uuids=[service_uuid] if advertised_uuids is None else advertised_uuids,
            services=[Service(service_uuid, chars)],
        )
        self.device = self.bms = device
        self.notify_uuid = notify_uuid
        self.write_uuid = write_uuid
        self.chunk = chunk
        # Fault: replies cut at random places rather than in whole notifications.
        self.split = False
        self._rng = random.Random(seed)
        self._last: float | None = None

    def on_write(self, char_uuid: str, data: bytes, with_response: bool) -> None:
        if char_uuid != self.write_uuid:
            return
        now = asyncio.get_running_loop().time()
        if self._last is not None:
            self.device.pack.advance(now - self._last)
        self._last = now
        self.send(self.device.handle(data))

    def send(self, data: bytes) -> None:
        """Notifies ``data`` as the module would, in pieces."""
        limit = min(self.chunk, self.mtu - 3)
        while data:
            size = self._rng.randint(1, limit) if self.split else limit
            self.notify(self.notify_uuid, data[:size])
            data = data[size:]
