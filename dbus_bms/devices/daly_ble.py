"""A Daly Smart BMS over Bluetooth LE. Daly's modules speak one of two protocols on the same GATT
service (FFF0): the classic module relays the ``A5`` frames of the UART, the newer one answers
Modbus-style reads (``D2 03``). One device reads both, so that an owner need not know which module
the BMS has.

With ``protocol: auto`` the first poll asks in the Modbus protocol and, when nothing answers, in
the classic one; the protocol that answered is kept for the life of the device. Both switch the
charge and discharge MOS; only the classic protocol sets the SoC.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import Any

from ..model import Sample
from ..protocols import daly_modbus
from .base import DEADLINE_MARGIN, ControlUnsupported, DeviceError
from .daly import DalyDevice

CLASSIC, MODBUS = "classic", "modbus"
PROTOCOLS = ("auto", CLASSIC, MODBUS)
_NAMES = {CLASSIC: "the classic protocol (A5 frames)", MODBUS: "the Modbus protocol (D2 03)"}
# The reads of a Modbus poll: the status block, the MOS block, and the versions until known.
_MODBUS_READS = 3
# How long auto-detection waits for a Modbus answer: a Modbus module answers a read in well under
# this, and a classic one never does. Should a Modbus module be slower once, the classic poll that
# follows fails, nothing is kept, and the next poll asks again.
PROBE_TIMEOUT = 1.0

log = logging.getLogger(__name__)


class DalyBleDevice(DalyDevice):
    def __init__(self, port: str, *, protocol: str | None = None, **link: Any) -> None:
        if (protocol or "auto") not in PROTOCOLS:
            raise ValueError(f"unknown Daly protocol {protocol!r}; choices: {', '.join(PROTOCOLS)}")
        super().__init__(port, **link)
        self.forced_protocol = protocol if protocol not in (None, "auto") else None
        # The protocol the BMS answered in; None until one did.
        self.protocol: str | None = self.forced_protocol
        # The versions are asked for until the BMS answers them or lets the question time out once.
        self._ask_version = True

    @classmethod
    def options(cls, cfg: Any) -> dict[str, Any]:
        return {"protocol": getattr(cfg, "protocol", None)}

    @property
    def exchange_bound(self) -> float:
        modbus = _MODBUS_READS * self.timeout + DEADLINE_MARGIN
        if self.protocol == MODBUS:
            return modbus
        if self.protocol == CLASSIC:
            return super().exchange_bound
        # Auto-detection: a Modbus read that goes unanswered, then a classic poll.
        return max(modbus, min(self.timeout, PROBE_TIMEOUT) + super().exchange_bound)

    async def read_bms(self) -> Sample:
        if self.protocol == CLASSIC:
            return await super().read_bms()
        if self.protocol == MODBUS:
            return await self._modbus()
        try:
            status = await self._probe()
        except TimeoutError:
            sample = await super().read_bms()
            found = CLASSIC
        else:
            sample = await self._modbus(status)
            found = MODBUS
        self.protocol = found
        log.info("the Daly at %s answers in %s", self.port, _NAMES[found])
        return sample

    async def _probe(self) -> bytes:
        """The status block, asked for with the probe's shorter wait."""
        return await self._read_block(daly_modbus.STATUS, timeout=min(self.timeout, PROBE_TIMEOUT))

    async def _modbus(self, status: bytes | None = None) -> Sample:
        status = status or await self._read_block(daly_modbus.STATUS)
        mos = await self._read_block(daly_modbus.MOS_BLOCK)
        version = None
        if self._ask_version:
            self._ask_version = False
            with contextlib.suppress(TimeoutError):  # the reading stands without them
                version = await self._read_block(daly_modbus.VERSION)
        return self.decoded(daly_modbus.decode, status, mos, version)

    async def _read_block(self, block: daly_modbus.Block, *, timeout: float | None = None) -> bytes:
        """The BMS's reply to a read of ``block`` (within ``timeout``, the reply timeout unless
        given); DeviceError when it refuses the read."""
        frame = await self.request(
            daly_modbus.build_read(block), daly_modbus.ModbusAssembler(),
            wanted=lambda f: daly_modbus.is_read_reply(f, block) or daly_modbus.refusal(f) is not None,
            what=f"reply to the read of registers 0x{block.start:04X}-0x{block.start + block.count - 1:04X}",
            timeout=timeout,
        )
        code = daly_modbus.refusal(frame)
        if code is not None:
            raise DeviceError(f"the BMS refused the read of register 0x{block.start:04X} (exception {code})")
        return frame

    def can_switch(self, which: str) -> bool:
        if self.protocol == MODBUS:
            return which in daly_modbus.SWITCH_REGISTERS
        return self.protocol == CLASSIC and super().can_switch(which)

    async def send_switch(self, which: str, on: bool) -> None:
        if self.protocol != MODBUS:
            await super().send_switch(which, on)
            return
        request = daly_modbus.build_switch(which, on)
        async with self.counted():
            await self.open_clean()
            with contextlib.suppress(TimeoutError):  # the status block read back tells
                frame = await self.request(
                    request, daly_modbus.ModbusAssembler(),
                    wanted=lambda f: f == request or daly_modbus.refusal(f) is not None, what="echo of the MOS write")
                if daly_modbus.refusal(frame) is not None:
                    raise DeviceError(f"the BMS refused the {which} MOS write (exception {daly_modbus.refusal(frame)})")

    async def set_soc(self, percent: float, now: datetime) -> Sample:
        if self.protocol != CLASSIC:
            raise ControlUnsupported(
                "the Daly's SoC can be set in the classic protocol only"
                + ("; this one answers in the Modbus protocol" if self.protocol else ", and no poll has found it yet"))
        return await super().set_soc(percent, now)
