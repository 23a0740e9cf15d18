"""An older Supervolt battery through its Bluetooth LE module (Nordic UART Service): per poll the
realtime reply and the capacity reply, one request each. Read-only: the protocol description gives
no working control. Newer Supervolt batteries carry a JBD BMS: ``jbd-ble``.
"""

from __future__ import annotations

from ..model import Sample
from ..protocols import supervolt
from .base import DEADLINE_MARGIN
from .stream_device import BleModule, StreamDevice


class SupervoltDevice(StreamDevice):
    type_name = "supervolt-ble"
    vendor = "Supervolt"
    ble_module = BleModule(supervolt.BLE_NOTIFY_UUID, supervolt.BLE_WRITE_UUID)

    @property
    def exchange_bound(self) -> float:
        return 2 * self.timeout + DEADLINE_MARGIN

    async def read_bms(self) -> Sample:
        frames = [
            await self.request(supervolt.REQUEST_REALTIME, supervolt.SupervoltAssembler(),
                               wanted=lambda f: len(f) == supervolt.REALTIME_SIZE, what="realtime reply"),
            await self.request(supervolt.REQUEST_CAPACITY, supervolt.SupervoltAssembler(),
                               wanted=lambda f: len(f) == supervolt.CAPACITY_SIZE, what="capacity reply"),
        ]
        return self.decoded(supervolt.decode, frames)
