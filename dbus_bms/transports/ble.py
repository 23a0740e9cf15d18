"""A BLE peripheral as a byte pipe: writes to one characteristic, notifications from another.

The same ``open / write / read / close`` shape as the serial transport, so a device drives either
the same way. What BLE adds is handled here, not in the devices:

* the device is found through the process's one Discovery (never a scan per connect);
* a connection BlueZ still holds from an earlier run is closed first: JK and most BMS modules
  accept a single central, and a stale link would refuse us until it timed out;
* a lost link is taken up again on the next ``open``; failed connects back off exponentially
  with jitter, so a BMS out of range costs little and several BMSes do not retry in lockstep;
* ``keep_alive=False`` disconnects after every poll, freeing the BMS for the phone app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from bleak import BleakClient
from bleak.exc import BleakError
from bleak_retry_connector import close_stale_connections, establish_connection

from .backoff import Backoff
from .ble_agent import PinAgent
from .ble_address import is_mac
from .ble_discovery import Discovery
from .errors import TransportError

log = logging.getLogger("dbus_bms.ble")

# Bounds the receive buffer: a stream nobody reads (a BMS notifying between polls) must not grow
# our memory; the newest bytes are the ones worth keeping.
MAX_BUFFERED = 16 * 1024

_BLE_ERRORS = (BleakError, TimeoutError, OSError, EOFError)


class BleTransport:
    """One BLE peripheral, by MAC or advertised name, on an optional adapter (``hci1``)."""

    def __init__(
        self,
        target: str,
        *,
        notify_uuid: str,
        write_uuid: str,
        adapter: str | None = None,
        pin: str | None = None,
        keep_alive: bool = True,
        scan_timeout: float = 10.0,
        max_buffered: int = MAX_BUFFERED,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.notify_uuid = notify_uuid
        self.write_uuid = write_uuid
        self.adapter = adapter
        self.pin = pin
        self.keep_alive = keep_alive
        self.scan_timeout = scan_timeout
        self.max_buffered = max_buffered
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.address: str | None = target.upper() if is_mac(target) else None
        self.opens = 0
        self.drops = 0
        self.failed_connects = 0
        self._client: BleakClient | None = None
        self._retry_at = 0.0
        self._buffer = bytearray()
        self._arrived = asyncio.Event()
        self._lost: str | None = None
        self._overflowed = 0

    @property
    def is_open(self) -> bool:
        return self._client is not None and self._client.is_connected and self._lost is None

    @property
    def retry_in(self) -> float:
        """Seconds until the next connect attempt is allowed; 0 when one may be made now."""
        return max(0.0, self._retry_at - self.clock())

    def describe(self) -> str:
        where = self.address or self.target
        return f"BLE {where}" + (f" ({self.adapter})" if self.adapter else "")

    async def open(self) -> None:
        """Connects unless connected. Raises TransportError on failure or during a backoff wait."""
        if self.is_open:
            return
        await self._drop()
        wait = self.retry_in
        if wait > 0:
            raise TransportError(
                f"{self.describe()}: next attempt in {wait:.1f} s ({self.backoff.failures} failed in a row)"
            )
        try:
            await self._connect()
        except TransportError as exc:
            raise TransportError(f"{exc}; {self._failed()}") from exc
        except _BLE_ERRORS as exc:
            reason = str(exc) or type(exc).__name__
            raise TransportError(f"{self.describe()}: cannot connect ({reason}); {self._failed()}") from exc
        self.backoff.succeeded()
        self.opens += 1

    def _failed(self) -> str:
        """Counts a failed connect and says when the next one will be tried."""
        self.failed_connects += 1
        wait = self.backoff.failed()
        self._retry_at = self.clock() + wait
        return f"next attempt in {wait:.1f} s"

    async def _connect(self) -> None:
        discovery = Discovery.shared()
        device = await discovery.find(self.target, self.adapter, self.scan_timeout)
        if device is None:
            where = f" on {self.adapter}" if self.adapter else ""
            raise TransportError(f"{self.describe()}: not found{where} within {self.scan_timeout:g} s of scanning")
        self.address = device.address.upper()
        await close_stale_connections(device)
        try:
            client = await establish_connection(
                BleakClient, device, self.describe(), disconnected_callback=self._on_disconnect, max_attempts=2
            )
        except BleakError as exc:
            if "not found" in str(exc).lower():
                discovery.forget(self.target)  # BlueZ dropped the object; the next attempt scans
            raise
        self._lost = None
        self._buffer.clear()
        self._client = client
        try:
            if self.pin:
                await self._pair(client)
            await client.start_notify(self.notify_uuid, self._on_notify)
        except _BLE_ERRORS:
            await self._drop()
            raise

    async def _pair(self, client: BleakClient) -> None:
        """Pairs with the configured PIN; a bonded device returns at once."""
        assert self.pin is not None
        agent = PinAgent(self.pin)
        await agent.register()
        try:
            await client.pair()
        finally:
            await agent.unregister()

    def _on_notify(self, _char: object, data: bytearray) -> None:
        self._buffer += data
        excess = len(self._buffer) - self.max_buffered
        if excess > 0:
            del self._buffer[:excess]
            self._overflowed += excess
        self._arrived.set()

    def _on_disconnect(self, client: BleakClient) -> None:
        if client is not self._client:
            return  # a link we already let go of
        self.drops += 1
        self._lost = "the BMS dropped the link"
        self._arrived.set()
        log.info("%s: link dropped by the device", self.describe())

    async def write(self, data: bytes) -> None:
        await self.open()
        assert self._client is not None
        try:
            await self._client.write_gatt_char(self.write_uuid, data, response=False)
        except _BLE_ERRORS as exc:
            await self._drop()
            raise TransportError(f"{self.describe()}: write failed: {exc or type(exc).__name__}") from exc

    async def read(self, timeout: float) -> bytes:
        """The notification bytes received so far, waiting up to ``timeout`` s for the first.

        Raises TimeoutError when nothing arrives and TransportError when the link went away.
        """
        if not self._buffer and self._lost is None:
            if self._client is None:
                raise TransportError(f"{self.describe()}: not connected")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except TimeoutError:
                raise TimeoutError(f"no notification from {self.describe()} within {timeout:g} s") from None
        if self._lost is not None and not self._buffer:
            reason = self._lost
            await self._drop()
            raise TransportError(f"{self.describe()}: {reason}")
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def take_overflowed(self) -> int:
        """Bytes dropped from the full receive buffer since the last call (the oldest ones)."""
        n, self._overflowed = self._overflowed, 0
        return n

    async def release(self) -> None:
        """End of a poll: disconnects in connect-per-poll mode, keeps the link otherwise."""
        if not self.keep_alive:
            await self._drop()

    async def close(self) -> None:
        await self._drop()

    async def _drop(self) -> None:
        client, self._client = self._client, None
        self._lost = None
        if client is not None:
            with contextlib.suppress(*_BLE_ERRORS):
                await client.disconnect()
