"""A SOK battery's BMS (ABC-BMS) through its Bluetooth LE module: per poll the detail (C2) and the
info (C1) written back to back, their replies collected until the info's F2, which comes after
every cell reply; then the protection flags (C4) while the BMS answers them; the model name (C0)
once. Read-only: the protocol description gives no control.
"""

from __future__ import annotations

from typing import Any

from ..model import Sample
from ..protocols import sok
from .base import DEADLINE_MARGIN, DeviceError
from .stream_device import BleModule, StreamDevice


class SokDevice(StreamDevice):
    type_name = "sok-ble"
    vendor = "SOK"
    ble_module = BleModule(sok.BLE_NOTIFY_UUID, sok.BLE_WRITE_UUID)

    def __init__(self, port: str, **link: Any) -> None:
        super().__init__(port, **link)
        self._ask_name = True
        self._name: bytes | None = None
        # Whether the firmware sends the protection flags: None until it was asked once.
        self._reports_protection: bool | None = None

    @property
    def exchange_bound(self) -> float:
        # The name (first poll), the status with its cells, the protection flags.
        return 3 * self.timeout + DEADLINE_MARGIN

    async def read_bms(self) -> Sample:
        if self._ask_name:
            try:
                self._name = await self.request(sok.build_request(sok.CMD_NAME), sok.SokAssembler(),
                                                 wanted=lambda f: f[1] == sok.REPLY_NAME, what="name (F1)")
            except (TimeoutError, DeviceError):
                pass  # the name is not needed to read the pack
            self._ask_name = False
        frames = await self._status()
        if self._reports_protection is not False:
            try:
                frames.append(await self.request(sok.build_request(sok.CMD_PROTECTION), sok.SokAssembler(),
                                                 wanted=lambda f: f[1] == sok.REPLY_PROTECTION,
                                                 what="protection flags (F9)"))
                self._reports_protection = True
            except TimeoutError:
                if self._reports_protection:
                    raise  # it did answer them before: this poll failed
                self._reports_protection = False
        if self._name is not None:
            frames.append(self._name)
        return self.decoded(sok.decode, frames)

    async def _status(self) -> list[bytes]:
        frames: list[bytes] = []

        def take(frame: bytes) -> list[bytes] | None:
            frames.append(frame)
            return frames if frame[1] == sok.REPLY_STATE else None

        await self.transport.write(sok.build_request(sok.CMD_DETAIL))
        await self.transport.write(sok.build_request(sok.CMD_INFO))
        return await self.collect(sok.SokAssembler(), take, "status and cells (F0 to F4, F2 last)")
