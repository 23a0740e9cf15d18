"""A JK BMS on its UART/RS485 port, speaking the "NW" protocol: one read-all request per poll.

The charge and discharge switches are written one register at a time; what the BMS answers to a
write is not publicly documented, so the reply is waited for but not relied on: the read-all after
it shows whether the BMS took the write.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..model import Sample
from ..protocols import jk_nw
from ..protocols.errors import ProtocolError
from ..protocols.framing import drain
from ..transports.errors import TransportError
from ..transports.link import link_name, stream_transport
from .base import Device, DeviceError

# JK's protocol asks for at least this long between two frames to the BMS.
FRAME_GAP = 0.1


class JkNwDevice(Device):
    type_name = "jk-nw"
    vendor = "JK BMS"

    def __init__(self, port: str, *, baudrate: int = 115200, timeout: float = 0.5) -> None:
        super().__init__()
        self.port = port
        self.timeout = timeout
        self.transport = stream_transport(port, baudrate)

    @classmethod
    def from_config(cls, cfg: Any) -> JkNwDevice:
        return cls(cfg.port, baudrate=cfg.baudrate, timeout=cfg.timeout)

    @property
    def connection(self) -> str:
        return link_name(self.port)

    @property
    def fallback_id(self) -> str:
        return f"{self.type_name}_{self.port}"

    async def exchange(self) -> Sample:
        opens = self.transport.opens
        try:
            await self.transport.open()
            self.stats.discarded_bytes += self.transport.discard_input()
            await self.transport.write(jk_nw.READ_ALL_REQUEST)
            frame = await self._read_frame()
        except TimeoutError as exc:
            self.stats.timeouts += 1
            raise DeviceError(str(exc)) from None
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(str(exc)) from None
        finally:
            if self.transport.opens > opens > 0:
                self.stats.reopens += 1
        try:
            return jk_nw.decode(frame)
        except ProtocolError as exc:
            self.stats.bad_frames += 1
            raise DeviceError(f"undecodable frame: {exc}") from None

    def can_switch(self, which: str) -> bool:
        return which in jk_nw.SWITCH_REGISTERS

    async def send_switch(self, which: str, on: bool) -> None:
        try:
            await self.transport.open()
            self.stats.discarded_bytes += self.transport.discard_input()
            await self.transport.write(jk_nw.build_switch(which, on))
            try:
                await self._read_frame()
            except TimeoutError:
                pass  # the read-all that follows tells
            await asyncio.sleep(FRAME_GAP)
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(str(exc)) from None

    async def _read_frame(self) -> bytes:
        # A fresh assembler per request: bytes left from an earlier, timed-out reply are stale
        # and must not be glued to this one.
        rx = jk_nw.NwAssembler()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"no complete frame from {self.port} within {self.timeout:g} s")
                rx.feed(await self.transport.read(remaining))
                for item in drain(rx):
                    if isinstance(item, ProtocolError):
                        self.stats.bad_frames += 1
                        continue
                    return item
        finally:
            self.stats.discarded_bytes += rx.discarded_bytes

    async def end_poll(self) -> None:
        # Nothing is asked until the next poll: what the line sends meanwhile waits in the kernel.
        self.transport.pause()

    async def close(self) -> None:
        await self.transport.close()
