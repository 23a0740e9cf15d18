"""A JBD (Xiaoxiang, Overkill Solar) BMS on its UART/RS485 port: per poll the basic info and the cell
voltages, and once the hardware name.

The charge and discharge FETs are switched together through register 0xE1, which the firmware
takes only in factory mode: enter it, write the register, leave it again (without storing the
EEPROM). The basic info read after it shows whether the BMS took the write.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..model import Sample
from ..protocols import jbd
from ..protocols.errors import ProtocolError
from ..protocols.framing import drain
from ..transports.errors import TransportError
from ..transports.link import link_name, stream_transport
from .base import DEADLINE_MARGIN, Device, DeviceError

BAUDRATE = 9600


class JbdDevice(Device):
    type_name = "jbd"
    vendor = "JBD"

    def __init__(self, port: str, *, baudrate: int = BAUDRATE, timeout: float = 0.5) -> None:
        super().__init__()
        self.port = port
        self.timeout = timeout
        self.transport = stream_transport(port, baudrate)
        # The hardware name is asked for until the BMS answers it or lets the question time out once.
        self._ask_hardware = True
        self._hardware: bytes | None = None
        # The switches as the last reading showed them: 0xE1 sets both at once.
        self._switches = {"charge": True, "discharge": True}

    @classmethod
    def from_config(cls, cfg: Any) -> JbdDevice:
        return cls(cfg.port, baudrate=cfg.baudrate, timeout=cfg.timeout)

    @property
    def connection(self) -> str:
        return link_name(self.port)

    @property
    def fallback_id(self) -> str:
        return f"{self.type_name}_{self.port}"

    @property
    def deadline(self) -> float:
        # Up to three requests, each with its reply timeout.
        return 3 * self.timeout + DEADLINE_MARGIN

    async def exchange(self) -> Sample:
        opens = self.transport.opens
        try:
            await self.transport.open()
            self.stats.discarded_bytes += self.transport.discard_input()
            frames = [await self._ask(jbd.READ_BASIC, jbd.REG_BASIC), await self._ask(jbd.READ_CELLS, jbd.REG_CELLS)]
            if self._ask_hardware:
                try:
                    self._hardware = await self._ask(jbd.READ_HARDWARE, jbd.REG_HARDWARE)
                except (TimeoutError, DeviceError):
                    pass  # the name is not needed to read the pack
                self._ask_hardware = False
            if self._hardware is not None:
                frames.append(self._hardware)
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
            sample = jbd.decode(frames)
        except ProtocolError as exc:
            self.stats.bad_frames += 1
            raise DeviceError(f"undecodable frame: {exc}") from None
        self._switches = dict(sample.switches)
        return sample

    def can_switch(self, which: str) -> bool:
        return which in jbd.SWITCHES

    async def send_switch(self, which: str, on: bool) -> None:
        wanted = {**self._switches, which: on}
        try:
            await self.transport.open()
            self.stats.discarded_bytes += self.transport.discard_input()
            try:
                await self._write(jbd.ENTER_FACTORY, jbd.REG_ENTER_FACTORY)
                await self._write(jbd.build_fet_control(**wanted), jbd.REG_FET_CONTROL)
            finally:
                # Also when entering seemed to fail: its reply may be what got lost.
                await self._write(jbd.EXIT_FACTORY, jbd.REG_EXIT_FACTORY)
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(str(exc)) from None

    async def _write(self, request: bytes, register: int) -> None:
        try:
            await self._ask(request, register)
        except TimeoutError as exc:
            self.stats.timeouts += 1
            raise DeviceError(str(exc)) from None

    async def _ask(self, request: bytes, register: int) -> bytes:
        """Sends ``request`` and returns the reply to ``register``; frames of other registers (the
        request's own echo on a half-duplex adapter) are passed over."""
        await self.transport.write(request)
        # A fresh assembler per request: bytes left from an earlier, timed-out reply are stale.
        rx = jbd.JbdAssembler()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"no reply to register 0x{register:02X} from {self.port} within {self.timeout:g} s")
                rx.feed(await self.transport.read(remaining))
                for item in drain(rx):
                    if isinstance(item, ProtocolError):
                        self.stats.bad_frames += 1
                    elif item[1] == register:
                        if item[2] != jbd.STATUS_OK:
                            self.stats.bad_frames += 1
                            raise DeviceError(f"the BMS refused register 0x{register:02X} (status 0x{item[2]:02X})")
                        return item
        finally:
            self.stats.discarded_bytes += rx.discarded_bytes

    async def end_poll(self) -> None:
        # Nothing is asked until the next poll: what the line sends meanwhile waits in the kernel.
        self.transport.pause()

    async def close(self) -> None:
        await self.transport.close()
