"""A Creabest / CBT Power VB series BMS through its Bluetooth LE module: per poll the status (0x42)
and the design capacity (0x81), one request each. Read-only: the protocol describes no control.
"""

from __future__ import annotations

from ..model import Sample
from ..protocols import cbtpwr, cbtpwr_vb
from .base import DEADLINE_MARGIN
from .stream_device import BleModule, StreamDevice


class CbtPowerVbDevice(StreamDevice):
    type_name = "cbtpwr-vb-ble"
    vendor = "Creabest"
    ble_module = BleModule(cbtpwr.BLE_NOTIFY_UUID, cbtpwr.BLE_WRITE_UUID)

    @property
    def exchange_bound(self) -> float:
        return 2 * self.timeout + DEADLINE_MARGIN

    async def read_bms(self) -> Sample:
        frames = [await self.request(request, cbtpwr_vb.VbAssembler(), wanted=cbtpwr_vb.is_reply, what=what)
                  for request, what in ((cbtpwr_vb.STATUS_REQUEST, "status reply (0x42)"),
                                        (cbtpwr_vb.CAPACITY_REQUEST, "capacity reply (0x81)"))]
        return self.decoded(cbtpwr_vb.decode, frames)
