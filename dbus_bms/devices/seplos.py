"""A Seplos v2 BMS on its RS485 port: telemetry (0x42) and alarms (0x44) each poll, the device
name (0x51) until the BMS has given it once.

One pack per port, at address 0. Read only: the protocol's control commands are not publicly
documented for this BMS.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..model import Sample
from ..protocols import seplos
from ..protocols.errors import ProtocolError
from ..protocols.framing import drain
from ..transports.errors import TransportError
from ..transports.link import link_name, stream_transport
from .base import DEADLINE_MARGIN, Device, DeviceError

DEFAULT_BAUDRATE = 19200
# Polls that ask for the device name before giving up on a BMS that does not answer it.
NAME_TRIES = 3


class SeplosDevice(Device):
    type_name = "seplos"
    vendor = "Seplos"

    def __init__(self, port: str, *, baudrate: int = DEFAULT_BAUDRATE, timeout: float = 0.5) -> None:
        super().__init__()
        self.port = port
        self.timeout = timeout
        self.transport = stream_transport(port, baudrate)
        self._name: bytes | None = None
        self._name_tries = NAME_TRIES

    @classmethod
    def from_config(cls, cfg: Any) -> SeplosDevice:
        return cls(cfg.port, baudrate=cfg.baudrate, timeout=cfg.timeout)

    @property
    def connection(self) -> str:
        return link_name(self.port)

    @property
    def fallback_id(self) -> str:
        return f"{self.type_name}_{self.port}"

    @property
    def deadline(self) -> float:
        # Up to three requests, each with its own reply timeout.
        return 3 * self.timeout + DEADLINE_MARGIN

    async def exchange(self) -> Sample:
        opens = self.transport.opens
        try:
            await self.transport.open()
            self.stats.discarded_bytes += self.transport.discard_input()
            if self._name is None and self._name_tries > 0:
                self._name = await self._device_name()
            telemetry = await self._ask(seplos.TELEMETRY_REQUEST)
            alarms = await self._ask(seplos.ALARMS_REQUEST)
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
            return seplos.decode(seplos.reply_info(telemetry), seplos.reply_info(alarms), self._name)
        except ProtocolError as exc:
            self.stats.bad_frames += 1
            raise DeviceError(f"undecodable reply: {exc}") from None

    async def _device_name(self) -> bytes | None:
        """The 0x51 reply's INFO; None when the BMS does not give it: a BMS that refuses is not
        asked again, one that does not answer is asked in the next polls, NAME_TRIES in all."""
        self._name_tries -= 1
        try:
            return seplos.reply_info(await self._ask(seplos.DEVICE_NAME_REQUEST))
        except TimeoutError:
            return None
        except ProtocolError:
            self._name_tries = 0
            return None

    async def _ask(self, request: bytes) -> bytes:
        await self.transport.write(request)
        # A fresh assembler per request: bytes left from an earlier, timed-out reply are stale
        # and must not be glued to this one.
        rx = seplos.SeplosAssembler()
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
