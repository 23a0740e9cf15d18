"""A JBD (Xiaoxiang, Overkill Solar) BMS on its UART/RS485 port or through its BLE module: per poll
the basic info and the cell voltages, and once the hardware name.

The charge and discharge FETs are switched together through register 0xE1, which the firmware
takes only in factory mode: enter it, write the register, leave it again (without storing the
EEPROM). The basic info read after it shows whether the BMS took the write.

Over BLE, the module is one of two kinds (``protocol``): most bridge the UART on FF01/FF02, the
DH04 kind on FFF1/FFF2. A module with a password answers nothing until it was given it on the
link: with ``pin:`` set, every new link starts with the password frame, and a refusal fails the poll
with a clear error. That password is a frame of the module's protocol, not a BLE pairing PIN, so
no pairing is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..model import Sample
from ..protocols import jbd
from ..protocols.errors import ProtocolError
from .base import DEADLINE_MARGIN, DeviceError
from .stream_device import BleModule, StreamDevice

if TYPE_CHECKING:
    from ..transports.ble import BleTransport

BAUDRATE = 9600


BLE_MODULES = {
    "ff00": BleModule(jbd.BLE_NOTIFY_UUID, jbd.BLE_WRITE_UUID),
    "dh04": BleModule(jbd.BLE_DH04_NOTIFY_UUID, jbd.BLE_DH04_WRITE_UUID),
}


class JbdDevice(StreamDevice):
    type_name = "jbd"
    vendor = "JBD"
    default_baudrate = BAUDRATE
    ble_module = BLE_MODULES["ff00"]

    def __init__(self, port: str, *, password: str | None = None, **link: Any) -> None:
        super().__init__(port, **link)
        # The BLE module's password, and the link (by the transport's count of opens) it was given on.
        self.password = password
        self._unlocked_link: int | None = None
        # The hardware name is asked for until the BMS answers it or lets the question time out once.
        self._ask_hardware = True
        self._hardware: bytes | None = None
        # The switches as the last reading showed them: 0xE1 sets both at once.
        self._switches = {"charge": True, "discharge": True}

    @classmethod
    def options(cls, cfg: Any) -> dict[str, Any]:
        return {"password": cfg.pin} if cfg.port is None else {}

    @classmethod
    def ble_transport(cls, cfg: Any) -> BleTransport:
        transport = super().ble_transport(cfg)
        module = BLE_MODULES[getattr(cfg, "protocol", None) or "ff00"]
        transport.notify_uuid, transport.write_uuid = module.notify_uuid, module.write_uuid
        transport.pin = None  # the module's password is sent by ``open_clean``, not paired with
        return transport

    @property
    def exchange_bound(self) -> float:
        # Up to three requests, each with its reply timeout, and the password on a new link.
        return (3 + (self.password is not None)) * self.timeout + DEADLINE_MARGIN

    async def open_clean(self) -> None:
        await super().open_clean()
        if self.password is not None and self._unlocked_link != self.transport.opens:
            await self._unlock(self.password)
            self._unlocked_link = self.transport.opens

    async def _unlock(self, password: str) -> None:
        await self.transport.write(jbd.build_unlock(password))
        answer = await self.collect(jbd.UnlockAssembler(), lambda f: f if f[2] == jbd.CMD_PASSWORD else None,
                                    "answer to the password (pin:)")
        try:
            accepted = jbd.unlock_accepted(answer)
        except ProtocolError as exc:
            self.stats.bad_frames += 1
            raise DeviceError(f"undecodable answer to the password: {exc}") from None
        if not accepted:
            raise DeviceError("the BMS's BLE module refused the password (pin:)")

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
