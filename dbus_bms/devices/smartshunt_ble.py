"""A Victron SmartShunt read over Bluetooth LE GATT (type ``smartshunt-ble``), a source a battery
borrows its current, SoC and consumed Ah from; never a battery of its own, as it knows no cells.

A poll makes sure of the link (scan, connect and pair with the PIN through ``BleTransport``), keeps
it alive, and reads the five values one characteristic at a time. The shunt ends a link whose
keep-alive ran out; ours is written on every new link and again once a third of it has passed, so
a poll interval far shorter than it renews it in time, and a dbus-bms that stops frees the shunt
for VictronConnect within ``KEEP_ALIVE_MS``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..model import Sample
from ..protocols import victron_gatt
from ..transports.ble import CONNECT_TIMEOUT, BleTransport
from ..transports.ble_discovery import BLUEZ_REPLY_TIMEOUT
from ..transports.errors import TransportError
from .base import Device, DeviceError

# Victron's PIN until the owner changes it in VictronConnect.
DEFAULT_PIN = "000000"
# How long a keep-alive keeps the link (ms): a minute, as the shunt does without one.
KEEP_ALIVE_MS = 60_000
# A keep-alive is written again once this share of it has passed.
RENEW_SHARE = 1 / 3


class SmartShuntBleDevice(Device):
    type_name = "smartshunt-ble"
    vendor = "Victron SmartShunt"

    def __init__(
        self,
        target: str,
        *,
        adapter: str | None = None,
        pin: str | None = None,
        keep_alive: bool = True,
        timeout: float = 2.0,
        keep_alive_ms: int = KEEP_ALIVE_MS,
        scan_timeout: float = 10.0,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        super().__init__()
        self.transport = BleTransport(
            target, notify_uuid=None, write_uuid=None, adapter=adapter, pin=pin or DEFAULT_PIN,
            keep_alive=keep_alive, scan_timeout=scan_timeout, connect_timeout=connect_timeout,
        )
        self.timeout = timeout
        self.keep_alive = victron_gatt.build_keep_alive(keep_alive_ms)
        self.renew_after = keep_alive_ms / 1000 * RENEW_SHARE
        self._renew_at: float | None = None

    @classmethod
    def from_config(cls, cfg: Any) -> SmartShuntBleDevice:
        return cls(cfg.address, adapter=cfg.adapter, pin=cfg.pin, keep_alive=cfg.ble_mode != "per-poll",
                   timeout=cfg.timeout)

    @property
    def connection(self) -> str:
        return self.transport.describe()

    @property
    def fallback_id(self) -> str:
        return f"smartshunt_{self.transport.id_part}"

    @property
    def deadline(self) -> float:
        """The scan and the connect when no link is up, the keep-alive and each value's read."""
        steps = 1 + len(victron_gatt.VALUES)
        return self.transport.open_bound + steps * self.timeout + BLUEZ_REPLY_TIMEOUT

    async def exchange(self) -> Sample:
        try:
            await self._link()
            values = {uuid: await self.transport.read_char(uuid, self.timeout) for uuid in victron_gatt.VALUE_UUIDS}
        except TimeoutError as exc:
            self.stats.timeouts += 1
            raise DeviceError(str(exc)) from None
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(_explained(str(exc))) from None
        return self.decoded(victron_gatt.decode, values)

    async def _link(self) -> None:
        """The link up and its keep-alive written when it is new or a third of it has passed."""
        opens = self.transport.opens
        await self.transport.open()
        now = asyncio.get_running_loop().time()
        if self.transport.opens > opens:
            if opens > 0:
                self.stats.reopens += 1
            self._renew_at = None
        if self._renew_at is None or now >= self._renew_at:
            await self.transport.write_char(victron_gatt.KEEP_ALIVE_UUID, self.keep_alive, self.timeout)
            self._renew_at = now + self.renew_after

    async def end_poll(self) -> None:
        await self.transport.release()

    async def close(self) -> None:
        await self.transport.close()


def _explained(error: str) -> str:
    """A link error with what the owner can do about it, where its cause is plain."""
    if "AuthenticationFailed" in error or "Authentication Failed" in error:
        return (f"{error}: the shunt refused the PIN; set pin: to its PIN ({DEFAULT_PIN} unless changed in "
                "VictronConnect)")
    if "Not paired" in error:
        return f"{error}: the shunt answers only a paired link; set pin: to its PIN"
    if "Characteristic" in error and "was not found" in error:
        return f"{error}: enable Bluetooth GATT in VictronConnect (SmartShunt firmware 2.31 or later)"
    return error
