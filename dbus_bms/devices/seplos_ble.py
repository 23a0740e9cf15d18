"""A Seplos v2 pack through its Bluetooth LE module, which speaks the binary form of the protocol
(``7E … 0D``): the pack telemetry (0x61) each poll, and the device name (0x51) until the pack
gave it or let the question go unanswered once. Read only, as on RS485.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..model import DeviceInfo, Sample
from ..protocols import seplos
from .base import DEADLINE_MARGIN
from .stream_device import BleModule, StreamDevice

# The pack the module's own BMS is: the request's INFO names it.
_PACK = b"\x00"


class SeplosBleDevice(StreamDevice):
    type_name = "seplos-ble"
    vendor = "Seplos"
    ble_module = BleModule(seplos.BLE_NOTIFY_UUID, seplos.BLE_WRITE_UUID)

    def __init__(self, port: str, **link: Any) -> None:
        super().__init__(port, **link)
        self._ask_name = True

    @property
    def exchange_bound(self) -> float:
        # The device name (until known) and the telemetry, each with its reply timeout.
        return 2 * self.timeout + DEADLINE_MARGIN

    async def read_bms(self) -> Sample:
        device: DeviceInfo | None = None
        if self._ask_name:
            self._ask_name = False
            with contextlib.suppress(TimeoutError):  # the reading stands without it
                name = await self._ask(seplos.CMD_BINARY_NAME)
                if not name[4]:  # a pack that refuses it has none to give
                    device = self.decoded(seplos.decode_binary_name, name[7:-3])
        telemetry = await self._ask(seplos.CMD_PACK_TELEMETRY, _PACK)
        sample = self.decoded(seplos.decode_binary_replies, [telemetry])
        sample.device = device
        return sample

    async def _ask(self, command: int, info: bytes = b"") -> bytes:
        """The pack's reply to ``command``; the module's echo of a request is passed over."""
        return await self.request(
            seplos.build_binary_request(command, info), seplos.BinaryAssembler(),
            wanted=lambda frame: frame[3] == command, what=f"reply to 0x{command:02X}")
