"""BLE discovery, one at a time per process.

BlueZ allows one discovery session per D-Bus connection and bleak shares one connection per event
loop, so two overlapping scans (or two ``BleakClient("MAC").connect()``, which scan internally)
fail with ``org.bluez.Error.InProgress``. Every scan here goes through one lock, and links connect
with the ``BLEDevice`` objects a scan found, so they never need a scan of their own.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from .ble_address import is_mac

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

    @classmethod
    def shared(cls) -> Discovery:
        """The one Discovery of the running event loop (bleak's BlueZ connection is per loop too)."""
        loop = asyncio.get_running_loop()
        found = cls._instances.get(loop)
        if found is None:
            found = cls._instances[loop] = cls()
        return found

    async def scan(self, seconds: float, adapter: str | None = None) -> dict[str, Seen]:
        """Everything advertising within ``seconds``, keyed by upper-case address."""
        found: dict[str, Seen] = {}

        def on_seen(seen: Seen) -> bool:
            found[seen.device.address.upper()] = seen
            return False  # keep listening for the whole window

        await self._run(adapter, seconds, on_seen)
        return found

    async def find(self, target: str, adapter: str | None = None, timeout: float = 10.0) -> BLEDevice | None:
        """The device with this MAC or advertised name, scanning at most ``timeout`` s; None if absent.

        A device another link's scan saw moments ago is taken from that scan, not scanned again.
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
        done = asyncio.Event()

        def callback(device: BLEDevice, adv: AdvertisementData) -> None:
            seen = Seen(device, adv)
            self.seen[device.address.upper()] = seen
            if on_seen(seen):
                done.set()

        async with self._lock:
            self.scans += 1
            # The cache is what the latest scan heard: bounded however many devices pass by.
            self.seen.clear()
            scanner = BleakScanner(callback, bluez={"adapter": adapter} if adapter else {})
            await scanner.start()
            try:
                await asyncio.wait_for(done.wait(), seconds)
            except TimeoutError:
                pass
            finally:
                await scanner.stop()
