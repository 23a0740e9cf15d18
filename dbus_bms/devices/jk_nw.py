"""A JK BMS on its UART/RS485 port, speaking the "NW" protocol: one read-all request per poll.

The charge and discharge switches are written one register at a time; what the BMS answers to a
write is not publicly documented, so the reply is waited for but not relied on: the read-all after
it shows whether the BMS took the write.
"""

from __future__ import annotations

import asyncio
import contextlib

from ..model import Sample
from ..protocols import jk_nw
from .stream_device import StreamDevice

# JK's protocol asks for at least this long between two frames to the BMS.
FRAME_GAP = 0.1


class JkNwDevice(StreamDevice):
    type_name = "jk-nw"
    vendor = "JK BMS"

    async def read_bms(self) -> Sample:
        frame = await self.request(jk_nw.READ_ALL_REQUEST, jk_nw.NwAssembler())
        return self.decoded(jk_nw.decode, frame)

    def can_switch(self, which: str) -> bool:
        return which in jk_nw.SWITCH_REGISTERS

    async def send_switch(self, which: str, on: bool) -> None:
        async with self.counted():
            await self.open_clean()
            with contextlib.suppress(TimeoutError):  # the read-all that follows tells
                await self.request(jk_nw.build_switch(which, on), jk_nw.NwAssembler())
            await asyncio.sleep(FRAME_GAP)
