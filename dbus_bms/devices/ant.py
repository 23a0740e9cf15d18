"""An ANT BMS on its UART/RS485 port: the 2021+ protocol (a status request per poll, and the device
info until the BMS told it), or the legacy one (one ``DB DB`` request per poll).

With ``protocol: auto`` the first poll asks in the 2021+ protocol and, when nothing answers, in the
legacy one; the protocol that answered is kept for the life of the device. Both are read-only here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..model import Sample
from ..protocols import ant, ant_legacy
from ..protocols.errors import ProtocolError
from ..protocols.framing import Assembler, drain
from ..transports.errors import TransportError
from ..transports.link import link_name, stream_transport
from .base import Device, DeviceError

NEW, LEGACY = "new", "legacy"
PROTOCOLS = ("auto", NEW, LEGACY)
DEFAULT_BAUDRATE = 19200
_NAMES = {NEW: "the 2021+ protocol", LEGACY: "the legacy protocol"}

log = logging.getLogger(__name__)


class AntDevice(Device):
    type_name = "ant"
    vendor = "ANT BMS"

    def __init__(self, port: str, *, baudrate: int = DEFAULT_BAUDRATE, timeout: float = 0.5,
                 protocol: str | None = None) -> None:
        super().__init__()
        if (protocol or "auto") not in PROTOCOLS:
            raise ValueError(f"unknown ANT protocol {protocol!r}; choices: {', '.join(PROTOCOLS)}")
        self.port = port
        self.timeout = timeout
        self.transport = stream_transport(port, baudrate)
        self.forced_protocol = protocol if protocol not in (None, "auto") else None
        # The protocol the BMS answered in; None until one did.
        self.protocol: str | None = self.forced_protocol

    @classmethod
    def from_config(cls, cfg: Any) -> AntDevice:
        return cls(cfg.port, baudrate=cfg.baudrate or DEFAULT_BAUDRATE, timeout=cfg.timeout,
                   protocol=getattr(cfg, "protocol", None))

    @property
    def connection(self) -> str:
        return link_name(self.port)

    @property
    def fallback_id(self) -> str:
        return f"{self.type_name}_{self.port}"

    @property
    def deadline(self) -> float:
        # Auto-detection asks twice; a 2021+ BMS whose info is not known yet answers twice.
        return 2 * self.timeout + 2.0

    async def exchange(self) -> Sample:
        opens = self.transport.opens
        try:
            await self.transport.open()
            if self.protocol == LEGACY:
                return await self._legacy()
            if self.protocol == NEW:
                return await self._new()
            try:
                sample = await self._new()
                found = NEW
            except TimeoutError:
                sample = await self._legacy()
                found = LEGACY
            self.protocol = found
            log.info("the ANT on %s answers in %s", self.port, _NAMES[found])
            return sample
        except TimeoutError as exc:
            self.stats.timeouts += 1
            raise DeviceError(str(exc)) from None
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(str(exc)) from None
        finally:
            if self.transport.opens > opens > 0:
                self.stats.reopens += 1

    async def _new(self) -> Sample:
        frame = await self._ask(ant.STATUS_REQUEST, ant.AntAssembler, lambda f: f[2] == ant.FUNC_STATUS | ant.REPLY)
        sample = self._decoded(ant.decode_status, frame)
        if self.info.model is None:
            try:
                info = await self._ask(ant.DEVICE_INFO_REQUEST, ant.AntAssembler, ant.is_device_info)
                sample.device = self._decoded(ant.decode_device_info, info)
            except TimeoutError:
                pass  # the reading stands without the model; the next poll asks again
        return sample

    async def _legacy(self) -> Sample:
        frame = await self._ask(ant_legacy.STATUS_REQUEST, ant_legacy.AntLegacyAssembler, lambda f: True)
        return self._decoded(ant_legacy.decode, frame)

    def _decoded(self, decode: Callable[[bytes], Any], frame: bytes) -> Any:
        try:
            return decode(frame)
        except ProtocolError as exc:
            self.stats.bad_frames += 1
            raise DeviceError(f"undecodable frame: {exc}") from None

    async def _ask(self, request: bytes, assembler: Callable[[], Assembler], wanted: Callable[[bytes], bool]) -> bytes:
        """Sends ``request`` and returns the first good reply ``wanted`` takes, within the timeout."""
        self.stats.discarded_bytes += self.transport.discard_input()
        await self.transport.write(request)
        # A fresh assembler per request: bytes of an earlier, timed-out reply are stale.
        rx = assembler()
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
                    elif wanted(item):
                        return item
        finally:
            self.stats.discarded_bytes += rx.discarded_bytes

    async def end_poll(self) -> None:
        self.transport.pause()

    async def close(self) -> None:
        await self.transport.close()
