"""A JBD (Xiaoxiang, Overkill Solar) BMS on its UART/RS485 port: per poll the basic info and the cell
voltages, and once the hardware name.

The charge and discharge FETs are switched together through register 0xE1, which the firmware
takes only in factory mode: enter it, write the register, leave it again (without storing the
EEPROM). The basic info read after it shows whether the BMS took the write.
"""

from __future__ import annotations

from ..model import Sample
from ..protocols import jbd
from .base import DEADLINE_MARGIN, DeviceError
from .stream_device import StreamDevice

BAUDRATE = 9600


class JbdDevice(StreamDevice):
    type_name = "jbd"
    vendor = "JBD"
    default_baudrate = BAUDRATE

    def __init__(self, port: str, *, baudrate: int | None = None, timeout: float = 0.5) -> None:
        super().__init__(port, baudrate=baudrate, timeout=timeout)
        # The hardware name is asked for until the BMS answers it or lets the question time out once.
        self._ask_hardware = True
        self._hardware: bytes | None = None
        # The switches as the last reading showed them: 0xE1 sets both at once.
        self._switches = {"charge": True, "discharge": True}

    @property
    def deadline(self) -> float:
        # Up to three requests, each with its reply timeout.
        return 3 * self.timeout + DEADLINE_MARGIN

    async def read_bms(self) -> Sample:
        frames = [await self._ask(jbd.READ_BASIC, jbd.REG_BASIC), await self._ask(jbd.READ_CELLS, jbd.REG_CELLS)]
        if self._ask_hardware:
            try:
                self._hardware = await self._ask(jbd.READ_HARDWARE, jbd.REG_HARDWARE)
            except (TimeoutError, DeviceError):
                pass  # the name is not needed to read the pack
            self._ask_hardware = False
        if self._hardware is not None:
            frames.append(self._hardware)
        sample = self.decoded(jbd.decode, frames)
        self._switches = dict(sample.switches)
        return sample

    def can_switch(self, which: str) -> bool:
        return which in jbd.SWITCHES

    async def send_switch(self, which: str, on: bool) -> None:
        wanted = {**self._switches, which: on}
        async with self.counted():
            await self.open_clean()
            try:
                await self._ask(jbd.ENTER_FACTORY, jbd.REG_ENTER_FACTORY)
                await self._ask(jbd.build_fet_control(**wanted), jbd.REG_FET_CONTROL)
            finally:
                # Also when entering seemed to fail: its reply may be what got lost.
                await self._ask(jbd.EXIT_FACTORY, jbd.REG_EXIT_FACTORY)

    async def _ask(self, request: bytes, register: int) -> bytes:
        """Sends ``request`` and returns the reply to ``register``; frames of other registers (the
        request's own echo on a half-duplex adapter) are passed over."""

        def reply(frame: bytes) -> bytes | None:
            if frame[1] != register:
                return None
            if frame[2] != jbd.STATUS_OK:
                self.stats.bad_frames += 1
                raise DeviceError(f"the BMS refused register 0x{register:02X} (status 0x{frame[2]:02X})")
            return frame

        await self.transport.write(request)
        return await self.collect(jbd.JbdAssembler(), reply, f"reply to register 0x{register:02X}")
