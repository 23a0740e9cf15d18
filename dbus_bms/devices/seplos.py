"""A Seplos v2 BMS on its RS485 port: telemetry (0x42) and alarms (0x44) each poll, the device
name (0x51) until the BMS has given it once.

One pack per port, at address 0. Read only: the protocol's control commands are not publicly
documented for this BMS.
"""

from __future__ import annotations

from ..model import Sample
from ..protocols import seplos
from ..protocols.errors import ProtocolError
from .base import DEADLINE_MARGIN
from .stream_device import StreamDevice

DEFAULT_BAUDRATE = 19200
# Polls that ask for the device name before giving up on a BMS that does not answer it.
NAME_TRIES = 3


class SeplosDevice(StreamDevice):
    type_name = "seplos"
    vendor = "Seplos"
    default_baudrate = DEFAULT_BAUDRATE

    def __init__(self, port: str, *, baudrate: int | None = None, timeout: float = 0.5) -> None:
        super().__init__(port, baudrate=baudrate, timeout=timeout)
        self._name: bytes | None = None
        self._name_tries = NAME_TRIES

    @property
    def deadline(self) -> float:
        # Up to three requests, each with its own reply timeout.
        return 3 * self.timeout + DEADLINE_MARGIN

    async def read_bms(self) -> Sample:
        if self._name is None and self._name_tries > 0:
            self._name = await self._device_name()
        telemetry = await self.request(seplos.TELEMETRY_REQUEST, seplos.SeplosAssembler())
        alarms = await self.request(seplos.ALARMS_REQUEST, seplos.SeplosAssembler())
        return self.decoded(lambda: seplos.decode(seplos.reply_info(telemetry), seplos.reply_info(alarms), self._name))

    async def _device_name(self) -> bytes | None:
        """The 0x51 reply's INFO; None when the BMS does not give it: a BMS that refuses is not
        asked again, one that does not answer is asked in the next polls, NAME_TRIES in all."""
        self._name_tries -= 1
        try:
            return seplos.reply_info(await self.request(seplos.DEVICE_NAME_REQUEST, seplos.SeplosAssembler()))
        except TimeoutError:
            return None
        except ProtocolError:
            self._name_tries = 0
            return None
