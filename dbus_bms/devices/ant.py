"""An ANT BMS on its UART/RS485 port or through its BLE module (one characteristic, FFE1, notified
and written): the 2021+ protocol (a status request per poll, and the device info until the BMS
told it), or the legacy one (one ``DB DB`` request per poll).

With ``protocol: auto`` the first poll asks in the 2021+ protocol and, when nothing answers, in the
legacy one; the protocol that answered is kept for the life of the device. Both are read-only here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..model import Sample
from ..protocols import ant, ant_legacy
from ..protocols.framing import Assembler
from .stream_device import BleModule, StreamDevice

NEW, LEGACY = "new", "legacy"
PROTOCOLS = ("auto", NEW, LEGACY)
DEFAULT_BAUDRATE = 19200
_NAMES = {NEW: "the 2021+ protocol", LEGACY: "the legacy protocol"}

log = logging.getLogger(__name__)


class AntDevice(StreamDevice):
    type_name = "ant"
    vendor = "ANT BMS"
    default_baudrate = DEFAULT_BAUDRATE
    ble_module = BleModule(ant.BLE_CHAR_UUID, ant.BLE_CHAR_UUID)

    def __init__(self, port: str, *, protocol: str | None = None, **link: Any) -> None:
        if (protocol or "auto") not in PROTOCOLS:
            raise ValueError(f"unknown ANT protocol {protocol!r}; choices: {', '.join(PROTOCOLS)}")
        super().__init__(port, **link)
        self.forced_protocol = protocol if protocol not in (None, "auto") else None
        # The protocol the BMS answered in; None until one did.
        self.protocol: str | None = self.forced_protocol

    @classmethod
    def options(cls, cfg: Any) -> dict[str, Any]:
        return {"protocol": getattr(cfg, "protocol", None)}

    @property
    def exchange_bound(self) -> float:
        # Auto-detection asks twice; a 2021+ BMS whose info is not known yet answers twice.
        return 2 * self.timeout + 2.0

    async def read_bms(self) -> Sample:
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

    async def _new(self) -> Sample:
        frame = await self._ask(ant.STATUS_REQUEST, ant.AntAssembler, lambda f: f[2] == ant.FUNC_STATUS | ant.REPLY)
        sample = self.decoded(ant.decode_status, frame)
        if self.info.model is None:
            try:
                info = await self._ask(ant.DEVICE_INFO_REQUEST, ant.AntAssembler, ant.is_device_info)
                sample.device = self.decoded(ant.decode_device_info, info)
            except TimeoutError:
                pass  # the reading stands without the model; the next poll asks again
        return sample

    async def _legacy(self) -> Sample:
        frame = await self._ask(ant_legacy.STATUS_REQUEST, ant_legacy.AntLegacyAssembler, lambda f: True)
        return self.decoded(ant_legacy.decode, frame)

    async def _ask(self, request: bytes, assembler: Callable[[], Assembler], wanted: Callable[[bytes], bool]) -> bytes:
        """Sends ``request`` on a clean line and returns the first good reply ``wanted`` takes."""
        self.stats.discarded_bytes += self.transport.discard_input()
        return await self.request(request, assembler(), wanted=wanted)
