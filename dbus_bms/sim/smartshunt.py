"""A simulated Victron SmartShunt with Bluetooth GATT enabled, as a peripheral of the fake BlueZ.

Its values (``ShuntReadings``, set by a test at any time) are read one characteristic each, only
over a paired link: the fake BlueZ refuses an unpaired read, as bluetoothd words the shunt's ATT
error, and pairing needs the shunt's PIN. Like the real one, it ends a link whose keep-alive runs
out: ``link_timeout`` s after the connect without one, then what the last keep-alive asked for.
Built from the published GATT description, as dbus-bms's codec is.
"""

from __future__ import annotations

import asyncio
import random
import struct
from dataclasses import dataclass

from ..protocols import victron_gatt
from .ble_peripheral import Char, Peripheral, Service

# The shunt's values need a paired link, its keep-alive too.
_READ = ["read", "notify", "encrypt-authenticated-read"]
_WRITE = ["read", "write", "encrypt-authenticated-write"]


def ble_address(i: int) -> str:
    """The MAC of simulated shunt number ``i`` (a block of its own)."""
    return f"3C:A5:53:00:00:{i + 1:02X}"


@dataclass
class ShuntReadings:
    """What the shunt measures; None: n/a. ``power`` None is voltage times current. ``noise``: the
    spread (A) of the current's last digits from read to read, as a real shunt's."""

    voltage: float | None = 53.12
    current: float | None = -8.4
    soc: float | None = 87.3
    consumed_ah: float | None = -36.4
    time_to_go: int | None = 1240
    power: float | None = None
    noise: float = 0.002

    def value(self, name: str, rng: random.Random) -> float | None:
        if name == "current" and self.current is not None:
            return self.current + rng.uniform(-self.noise, self.noise)
        if name == "power" and self.power is None:
            return None if self.voltage is None or self.current is None else self.voltage * self.current
        return getattr(self, name)


class SmartShuntPeripheral(Peripheral):
    """The shunt at ``address`` measuring ``readings``, paired only with ``pin``; ``keep_alives`` and
    ``drops`` tell a test what the host wrote and which links the shunt ended."""

    def __init__(
        self,
        readings: ShuntReadings | None = None,
        *,
        address: str,
        name: str = "SmartShunt HQ2242SIM01",
        pin: str = "000000",
        link_timeout: float = 60.0,
        seed: int = 1,
    ) -> None:
        chars = [Char(v.uuid, list(_READ)) for v in victron_gatt.VALUES]
        chars += [Char(victron_gatt.TIME_TO_GO_UUID, list(_READ)), Char(victron_gatt.KEEP_ALIVE_UUID, list(_WRITE))]
        super().__init__(
            address=address, name=name, pin=pin,
            # Victron's company id; dbus-bms reads nothing of the record under it.
            manufacturer_data={victron_gatt.MANUFACTURER_ID: bytes.fromhex("1000 89a3 02")},
            services=[Service(victron_gatt.SERVICE_UUID, chars)],
        )
        self.readings = self.bms = readings or ShuntReadings()
        self.link_timeout = link_timeout
        self.keep_alives: list[int] = []  # the ms of each keep-alive written, in order
        self.drops = 0  # links the shunt ended because their keep-alive ran out
        self._rng = random.Random(seed)
        self._expires: float | None = None
        self._watch: asyncio.Task | None = None

    @property
    def out_of_range(self) -> bool:
        return not self.advertising

    @out_of_range.setter
    def out_of_range(self, away: bool) -> None:
        """Gone from the radio (a test's "silent" shunt): the link ends, nothing advertises or connects."""
        self.advertising = self.connectable = not away
        if away:
            self.drop_connection()

    def on_read(self, char_uuid: str) -> bytes:
        if char_uuid == victron_gatt.TIME_TO_GO_UUID:
            ttg = self.readings.time_to_go
            return struct.pack("<H", 0xFFFF if ttg is None else ttg)
        if char_uuid == victron_gatt.KEEP_ALIVE_UUID:
            return self.char(char_uuid).value
        value = next(v for v in victron_gatt.VALUES if v.uuid == char_uuid)
        return victron_gatt.encode_value(value, self.readings.value(value.name, self._rng))

    def on_write(self, char_uuid: str, data: bytes, with_response: bool) -> None:
        if char_uuid != victron_gatt.KEEP_ALIVE_UUID or len(data) != 2:
            return
        (ms,) = struct.unpack("<H", data)
        self.char(char_uuid).value = data
        self.keep_alives.append(ms)
        self._keep(None if ms == victron_gatt.KEEP_ALIVE_FOREVER else ms / 1000)

    def on_connect(self) -> None:
        self._keep(self.link_timeout)
        self._watch = asyncio.get_running_loop().create_task(self._watchdog())

    def on_disconnect(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def _keep(self, seconds: float | None) -> None:
        self._expires = None if seconds is None else asyncio.get_running_loop().time() + seconds

    async def _watchdog(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._expires is None:
                await asyncio.sleep(0.05)
                continue
            left = self._expires - loop.time()
            if left <= 0:
                self.drops += 1
                self.drop_connection()
                return
            await asyncio.sleep(min(left, 0.05))


def smartshunt_peripheral(index: int, *, cells: int = 16, seed: int = 1) -> SmartShuntPeripheral:
    """Simulated shunt number ``index``; ``cells`` is every simulator's argument, and a shunt has none."""
    return SmartShuntPeripheral(address=ble_address(index), seed=seed)
