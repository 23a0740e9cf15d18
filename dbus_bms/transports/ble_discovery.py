"""BLE discovery, one at a time per process.

BlueZ allows one discovery session per D-Bus connection and bleak shares one connection per event
loop, so two overlapping scans (or two ``BleakClient("MAC").connect()``, which scan internally)
fail with ``org.bluez.Error.InProgress``. Every scan here goes through one lock, and links connect
with the ``BLEDevice`` objects a scan found, so they never need a scan of their own.

A scan is never cut off between its StartDiscovery and its StopDiscovery: a caller that gives up
(bluetoothd not answering, its poll cancelled) leaves the scan to finish by itself, and the next
scan waits for it. A start abandoned mid-call would still be carried out by bluetoothd when it
catches up, leaving a discovery session nobody stops, and every later scan would get InProgress.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from dataclasses import dataclass

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from .ble_address import is_mac

# How long a working bluetoothd takes at most to answer a call that waits on no peripheral (start
# or stop a scan, drop a link): well under a second, so after 2 s it is taken as not answering.
BLUEZ_REPLY_TIMEOUT = 2.0


@dataclass(frozen=True)
class Seen:
    """A device as last advertised."""

    device: BLEDevice
    adv: AdvertisementData

    @property
    def name(self) -> str | None:
        return self.adv.local_name or self.device.name

    @property
    def adapter(self) -> str | None:
        """The adapter that heard it (``hci0``), from BlueZ's object path of the device."""
        path = self.device.details.get("path", "") if isinstance(self.device.details, dict) else ""
        parts = path.split("/")
        return parts[3] if len(parts) > 3 else None


class Discovery:
    """The process's scanner. Use ``Discovery.shared()`` rather than building one."""

    _instances: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Discovery] = weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self.seen: dict[str, Seen] = {}
        self.scans = 0
        self._unfinished: asyncio.Task | None = None  # the latest scan, until bluetoothd ended it

    @classmethod
    def shared(cls) -> Discovery:
        """The one Discovery of the running event loop (bleak's BlueZ connection is per loop too)."""
        loop = asyncio.get_running_loop()
        found = cls._instances.get(loop)
        if found is None:
            found = cls._instances[loop] = cls()
        return found

    async def scan(self, seconds: float, adapter: str | None = None) -> dict[str, Seen]:
        """Everything advertising within ``seconds``, keyed by upper-case address.

        Raises TimeoutError when bluetoothd does not start or stop the scan within
        ``BLUEZ_REPLY_TIMEOUT`` s beyond the window."""
        found: dict[str, Seen] = {}

        def on_seen(seen: Seen) -> bool:
            found[seen.device.address.upper()] = seen
            return False  # keep listening for the whole window

        await self._run(adapter, seconds, on_seen)
        return found

    async def find(self, target: str, adapter: str | None = None, timeout: float = 10.0) -> BLEDevice | None:
        """The device with this MAC or advertised name, scanning at most ``timeout`` s; None if absent.

        A device another link's scan saw moments ago is taken from that scan, not scanned again.
        Raises TimeoutError as ``scan`` does.
        """
        match = self._matcher(target, adapter)
        async with self._lock:
            for seen in self.seen.values():
                if match(seen):
                    return seen.device
        hit: list[BLEDevice] = []

        def on_seen(seen: Seen) -> bool:
            if match(seen):
                hit.append(seen.device)
                return True
            return False

        await self._run(adapter, timeout, on_seen)
        return hit[0] if hit else None

    def forget(self, target: str) -> None:
        """Drop a device whose object BlueZ no longer has (a connect said it was not found)."""
        for key, seen in list(self.seen.items()):
            if key == target.upper() or seen.name == target:
                del self.seen[key]

    @staticmethod
    def _matcher(target: str, adapter: str | None):
        by_mac = is_mac(target)

        def match(seen: Seen) -> bool:
            if adapter is not None and seen.adapter != adapter:
                return False
            return seen.device.address.upper() == target.upper() if by_mac else seen.name == target

        return match

    async def _run(self, adapter: str | None, seconds: float, on_seen) -> None:
        async with self._lock:
            loop = asyncio.get_running_loop()
            window_end = loop.time() + seconds
            give_up = window_end + BLUEZ_REPLY_TIMEOUT
            late = f"within {seconds + BLUEZ_REPLY_TIMEOUT:g} s"
            if self._unfinished is not None:
                await self._wait(self._unfinished, give_up, f"bluetoothd has not ended the previous scan {late}")
            self.scans += 1
            # The cache is what the latest scan heard: bounded however many devices pass by.
            self.seen.clear()
            over = asyncio.Event()

            def callback(device: BLEDevice, adv: AdvertisementData) -> None:
                seen = Seen(device, adv)
                self.seen[device.address.upper()] = seen
                if on_seen(seen):
                    over.set()

            scanner = BleakScanner(callback, bluez={"adapter": adapter} if adapter else {})
            session = self._unfinished = loop.create_task(self._session(scanner, window_end, over))
            session.add_done_callback(self._ended)
            try:
                await self._wait(session, give_up, f"bluetoothd did not answer the scan {late}")
                session.result()
            finally:
                over.set()  # a caller that leaves early ends the listening at once

    @staticmethod
    async def _session(scanner: BleakScanner, window_end: float, over: asyncio.Event) -> None:
        """One scan from StartDiscovery to StopDiscovery, listening until ``window_end`` (loop time)
        or ``over``. Never abandoned in between: only the loop's shutdown cancels it, and then the
        process's bus connection ends bluetoothd's session."""
        await scanner.start()
        remaining = window_end - asyncio.get_running_loop().time()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, remaining)):
                await over.wait()
        await scanner.stop()

    def _ended(self, session: asyncio.Task) -> None:
        if self._unfinished is session:
            self._unfinished = None
        if not session.cancelled():
            session.exception()  # retrieved here: a scan whose caller left has nobody else to report to

    @staticmethod
    async def _wait(session: asyncio.Task, give_up: float, late: str) -> None:
        """Waits for ``session`` until the loop time ``give_up``, leaving it running after that;
        raises TimeoutError(``late``) then."""
        remaining = give_up - asyncio.get_running_loop().time()
        done, _ = await asyncio.wait({session}, timeout=max(0.0, remaining))
        if not done:
            raise TimeoutError(late)
