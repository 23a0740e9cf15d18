"""A CBT Power (Creabest) smart BMS through its Bluetooth LE module: per poll one request per
value group (voltage and current, charge, temperature, capacity and cycles, problem code), then
the cells five at a time until a reply holds fewer. Read-only: the protocol describes no control.
"""

from __future__ import annotations

from ..model import Sample
from ..protocols import cbtpwr
from .base import DEADLINE_MARGIN
from .stream_device import BleModule, StreamDevice


class CbtPowerDevice(StreamDevice):
    type_name = "cbtpwr-ble"
    vendor = "CBT Power"
    ble_module = BleModule(cbtpwr.BLE_NOTIFY_UUID, cbtpwr.BLE_WRITE_UUID)

    @property
    def exchange_bound(self) -> float:
        # Every status command and every cell command, each with its reply timeout.
        return (len(cbtpwr.STATUS_COMMANDS) + len(cbtpwr.CMD_CELLS)) * self.timeout + DEADLINE_MARGIN

    async def read_bms(self) -> Sample:
        frames = [await self._ask(command) for command in cbtpwr.STATUS_COMMANDS]
        for command in cbtpwr.CMD_CELLS:
            reply = await self._ask(command)
            frames.append(reply)
            if len(self.decoded(cbtpwr.cells_of, reply)) < cbtpwr.CELLS_PER_REPLY:
                break
        return self.decoded(cbtpwr.decode, frames)

    async def _ask(self, command: int) -> bytes:
        return await self.request(cbtpwr.build_request(command), cbtpwr.CbtAssembler(),
                                  wanted=lambda frame: cbtpwr.command_of(frame) == command,
                                  what=f"reply to command 0x{command:02X}")
