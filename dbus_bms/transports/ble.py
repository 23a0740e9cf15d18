"""A BLE peripheral as a byte pipe: writes to one characteristic, notifications from another.

The same ``open / write / read / close`` shape as the serial transport, so a device drives either
the same way. A device that reads values rather than a stream (a battery monitor's characteristics)
gives no ``notify_uuid`` and uses ``read_char`` and ``write_char`` on the same link. What BLE adds
is handled here, not in the devices:

* the device is found through the process's one Discovery (never a scan per connect);
* a connection BlueZ still holds from an earlier run is closed first: JK and most BMS modules
  accept a single central, and a stale link would refuse us until it timed out;
* a lost link is taken up again on the next ``open``; failed connects back off exponentially
  with jitter, so a BMS out of range costs little and several BMSes do not retry in lockstep;
* ``keep_alive=False`` disconnects after every poll, freeing the BMS for the phone app;
* nothing waits on BlueZ without a bound: a connect gets ``connect_timeout``, letting a link go
  ``BLUEZ_REPLY_TIMEOUT``, and a step cut short (by its bound, or by the poll's deadline cancelling
  it) is cancelled firmly, so the next ``open`` starts from a clean state whatever BlueZ does.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bleak import BleakClient
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bleak_retry_connector import close_stale_connections, establish_connection

from .backoff import Backoff
from .ble_agent import PinAgent
from .ble_address import is_mac
from .ble_discovery import BLUEZ_REPLY_TIMEOUT, Discovery
from .errors import TransportError

log = logging.getLogger("dbus_bms.ble")

# Bounds the receive buffer: a stream nobody reads (a BMS notifying between polls) must not grow
# our memory; the newest bytes are the ones worth keeping.
MAX_BUFFERED = 16 * 1024

_BLE_ERRORS = (BleakError, TimeoutError, OSError, EOFError)

# The bound of one connect, from closing a stale link to notifications switched on. A connect that
# succeeds on a real radio takes 1-5 s (service discovery included); 15 s leaves room for
# bleak-retry-connector's second attempt after a quick failure. Its own attempts wait 20 s each,
# two of them 40 s, when BlueZ never answers: this bound ends that.
CONNECT_TIMEOUT = 15.0
# A step whose cleanup itself waits on BlueZ (bleak disconnects a connect it abandons) is cancelled
# again after BLUEZ_REPLY_TIMEOUT, this many times at most; bleak's cleanups need two.
_CANCEL_ROUNDS = 3

_T = TypeVar("_T")


class BleTransport:
    """One BLE peripheral, by MAC or advertised name, on an optional adapter (``hci1``)."""

    def __init__(
        self,
        target: str,
        *,
        notify_uuid: str | None,
        write_uuid: str | None,
        adapter: str | None = None,
        pin: str | None = None,
        keep_alive: bool = True,
        scan_timeout: float = 10.0,
        connect_timeout: float = CONNECT_TIMEOUT,
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
        self.connect_timeout = connect_timeout
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

    @property
    def id_part(self) -> str:
        """The peripheral as the tail of a device's fallback id: its MAC once known (else the name it
        was configured by), lower case, without colons."""
        return (self.address or self.target).replace(":", "").lower()

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
            if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)):
                # bleak reaches BlueZ over the system bus: the socket missing is no radio problem.
                bus = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/var/run/dbus/system_bus_socket")
                reason = f"no D-Bus system bus at {bus}: {exc.strerror}; is dbus-daemon running?"
            raise TransportError(f"{self.describe()}: cannot connect ({reason}); {self._failed()}") from exc
        except asyncio.CancelledError:
            self._failed()  # a connect the poll's deadline cut short failed too: back off
            raise
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
        self._lost = None
        self._buffer.clear()
        try:
            await _bounded(self._link_up(device), self.connect_timeout, discard=self._let_go)
        except TimeoutError:
            raise TransportError(f"{self.describe()}: no link within {self.connect_timeout:g} s") from None
        except BleakError as exc:
            if "not found" in str(exc).lower():
                discovery.forget(self.target)  # BlueZ dropped the object; the next attempt scans
            raise

    async def _link_up(self, device: BLEDevice) -> BleakClient:
        """Connects and switches notifications on; the link is ours (``_client``) from just before
        the first notification can arrive, and is let go again if anything after that fails."""
        await close_stale_connections(device)
        client = await establish_connection(
            BleakClient, device, self.describe(), disconnected_callback=self._on_disconnect, max_attempts=2
        )
        self._client = client
        try:
            if self.pin:
                await self._pair(client)
            if self.notify_uuid is not None:
                await client.start_notify(self.notify_uuid, functools.partial(self._on_notify, client))
        except BaseException:
            await self._let_go(client)
            raise
        return client

    async def _pair(self, client: BleakClient) -> None:
        """Pairs with the configured PIN; a bonded device returns at once."""
        assert self.pin is not None
        agent = PinAgent(self.pin)
        await agent.register()
        try:
            await client.pair()
        finally:
            await agent.unregister()

    def _on_notify(self, client: BleakClient, _char: object, data: bytearray) -> None:
        if client is not self._client:
            return  # a link we let go of: its bytes belong to no stream of ours
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
        assert self._client is not None and self.write_uuid is not None
        try:
            writing = self._client.write_gatt_char(self.write_uuid, data, response=False)
            await _bounded(writing, BLUEZ_REPLY_TIMEOUT)
        except _BLE_ERRORS as exc:
            await self._drop()
            raise TransportError(f"{self.describe()}: write failed: {exc or type(exc).__name__}") from exc

    async def read_char(self, uuid: str, timeout: float = BLUEZ_REPLY_TIMEOUT) -> bytes:
        """The value of characteristic ``uuid``, read on the open link. Raises TimeoutError when no
        answer comes within ``timeout`` s (the link stays), TransportError when the link is down or
        the device refuses the read (the link is let go: the next ``open`` connects and pairs again)."""
        client = await self._linked()
        try:
            return bytes(await _bounded(client.read_gatt_char(uuid), timeout))
        except TimeoutError:
            raise TimeoutError(f"{self.describe()}: no answer to a read of {uuid} within {timeout:g} s") from None
        except _BLE_ERRORS as exc:
            await self._drop()
            raise TransportError(f"{self.describe()}: read of {uuid} failed: {exc or type(exc).__name__}") from exc

    async def write_char(self, uuid: str, data: bytes, timeout: float = BLUEZ_REPLY_TIMEOUT) -> None:
        """Writes ``data`` to characteristic ``uuid`` with response, on the open link; raises as
        ``read_char``."""
        client = await self._linked()
        try:
            await _bounded(client.write_gatt_char(uuid, data, response=True), timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.describe()}: no answer to a write of {uuid} within {timeout:g} s") from None
        except _BLE_ERRORS as exc:
            await self._drop()
            raise TransportError(f"{self.describe()}: write of {uuid} failed: {exc or type(exc).__name__}") from exc

    async def _linked(self) -> BleakClient:
        """The open link's client; TransportError (and the link let go) when there is none."""
        if self._client is None or not self.is_open:
            reason = self._lost or "not connected"
            await self._drop()
            raise TransportError(f"{self.describe()}: {reason}")
        return self._client

    async def read(self, timeout: float) -> bytes:
        """The notification bytes received so far, waiting up to ``timeout`` s for the first.

        Raises TimeoutError when nothing arrives and TransportError when the link went away.
        """
        if not self._buffer and self._lost is None:
            if self._client is None:
                raise TransportError(f"{self.describe()}: not connected")
            self._arrived.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._arrived.wait()
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

    def discard_input(self) -> int:
        """Drops what was notified unasked since the last exchange (a module that keeps sending
        between polls) and returns how many bytes that was, those the full buffer lost included."""
        n = len(self._buffer) + self.take_overflowed()
        self._buffer.clear()
        return n

    @property
    def open_bound(self) -> float:
        """How long ``open`` may take from here: a scan and a connect while no link is up."""
        return 0.0 if self.is_open else self.scan_timeout + self.connect_timeout

    async def between_polls(self) -> None:
        """End of a poll (the interface the byte-stream links share): ``release``."""
        await self.release()

    async def release(self) -> None:
        """End of a poll: disconnects in connect-per-poll mode, keeps the link otherwise."""
        if not self.keep_alive:
            await self._drop()

    async def close(self) -> None:
        """Lets the link go: at most ``BLUEZ_REPLY_TIMEOUT`` s (and bleak's own cleanup, which needs
        no answer) when bluetoothd does not answer."""
        await self._drop()

    async def _drop(self) -> None:
        """Forgets the link at once (the next ``open`` connects afresh), then lets it go."""
        client, self._client = self._client, None
        self._lost = None
        self._buffer.clear()
        if client is not None:
            await self._let_go(client)

    async def _let_go(self, client: BleakClient) -> None:
        """Disconnects without waiting on a bluetoothd that does not answer. bleak's disconnect
        always closes the client's D-Bus connection and unhooks its callbacks, even when cut short."""
        if self._client is client:
            self._client = None
        try:
            await _bounded(client.disconnect(), BLUEZ_REPLY_TIMEOUT)
        except TimeoutError:
            log.info("%s: BlueZ did not confirm the disconnect within %g s; link forgotten",
                     self.describe(), BLUEZ_REPLY_TIMEOUT)
        except _BLE_ERRORS as exc:
            log.debug("%s: disconnect failed (%s); link forgotten", self.describe(), exc)


async def _bounded(
    work: Awaitable[_T], seconds: float, *, discard: Callable[[_T], Awaitable[None]] | None = None
) -> _T:
    """Awaits ``work`` for at most ``seconds`` (TimeoutError after that). When it overruns or we are
    cancelled, the work is cancelled and waited for before we go on, so nothing of it carries on
    behind our back; a result it produced that nobody will take is handed to ``discard``."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        await _end(task, discard)
        raise
    if not done:
        await _end(task, discard)
        raise TimeoutError(f"no answer within {seconds:g} s")
    return task.result()


async def _end(task: asyncio.Task, discard: Callable[[Any], Awaitable[None]] | None) -> None:
    """Cancels ``task`` and waits for it. Its cleanup may itself wait on a BlueZ that does not answer
    (bleak sends Disconnect for a connect it abandons): that wait is cancelled in turn."""
    for _ in range(_CANCEL_ROUNDS):
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=BLUEZ_REPLY_TIMEOUT)
        if done:
            break
    else:
        log.warning("a BLE operation did not end when cancelled; left to finish on its own")
        task.add_done_callback(functools.partial(_late, discard=discard))
        return
    if task.cancelled() or task.exception() is not None:
        return  # the error of work cut short tells nothing the caller does not know
    if discard is not None:
        await discard(task.result())


def _late(task: asyncio.Task, *, discard: Callable[[Any], Awaitable[None]] | None) -> None:
    """The end of a task ``_end`` gave up on: its error is taken, its result discarded."""
    if task.cancelled() or task.exception() is not None:
        return
    if discard is not None:
        _background.add(leftover := asyncio.ensure_future(discard(task.result())))
        leftover.add_done_callback(_background.discard)


# Tasks nobody awaits any more, kept referenced until they end.
_background: set[asyncio.Future] = set()
