"""A Seplos v3 pack on an RS485 bus, at the address of its DIP switches; several packs share one
port, each its own battery.

A poll reads the pack's PIA, PIB and PIC blocks. Before the first reading it reads the version
block (the BMS's serial is the pack's unique id; a pack that refuses the block is known by its
port and address) and the settings (cell and sensor counts, protections), which are read again
every ``SETTINGS_EVERY`` seconds. Read only: the protocol's switch registers are left alone.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from ..model import Sample
from ..protocols import seplos_v3
from ..protocols.errors import ProtocolError
from .base import DeviceError
from .bus_device import BusDevice
from .registry import DEVICE_TYPES

log = logging.getLogger(__name__)

_KIND = DEVICE_TYPES["seplos-v3"]
# Settings change only when the owner changes them; read again this often (s).
SETTINGS_EVERY = 300.0


class _Refused(Exception):
    """The pack answered a read with a Modbus exception."""


class SeplosV3Device(BusDevice):
    type_name = "seplos-v3"
    vendor = "Seplos"
    # Version, settings, PIA, PIB, PIC.
    transactions_per_poll = 5
    # Modbus RTU asks for 3.5 characters of silence (2 ms at 19200 baud); the margin is for the
    # packs' RS485 transceivers turning round.
    gap = 0.05

    def __init__(
        self, port: str, address: int, *, baudrate: int | None = None, timeout: float | None = None,
        protocol: str | None = None,
    ) -> None:
        if address not in seplos_v3.ADDRESSES:
            raise ValueError(f"Seplos v3 address {address} is not 0-15")
        board = protocol or seplos_v3.DEFAULT_BOARD
        if board not in seplos_v3.CURRENT_UNITS:
            raise ValueError(f"unknown Seplos v3 board {protocol!r}; choices: {', '.join(seplos_v3.CURRENT_UNITS)}")
        # The unit of the pack's current, which its frames do not tell: the board's rating does.
        self.current_unit = seplos_v3.CURRENT_UNITS[board]
        super().__init__(port, address, baudrate=baudrate or _KIND.baudrate or 19200,
                         timeout=timeout if timeout is not None else _KIND.timeout or 0.5)
        self.settings: seplos_v3.PackSettings | None = None
        self._settings_at = float("-inf")
        self._identified = False

    @classmethod
    def from_config(cls, cfg: Any) -> SeplosV3Device:
        try:
            address = int(cfg.address)
        except (TypeError, ValueError):
            raise ValueError(f"a Seplos v3 pack's address is its RS485 address 0-15, not {cfg.address!r}") from None
        return cls(cfg.port, address, baudrate=cfg.baudrate, timeout=cfg.timeout, protocol=getattr(cfg, "protocol", None))

    async def exchange(self) -> Sample:
        now = asyncio.get_running_loop().time()
        if not self._identified:
            # Before the first reading: published without its serial, the pack would become
            # another battery once the serial is known.
            try:
                self.info = self.info.merged(self.decoded(seplos_v3.decode_via, await self.read(seplos_v3.VIA)))
            except _Refused as exc:
                log.info("pack %d on %s: no version block (%s); known by its port and address", self.address, self.port, exc)
            self._identified = True
        if now - self._settings_at >= SETTINGS_EVERY:
            await self._refresh_settings(now)
        pia = await self._required(seplos_v3.PIA)
        pib = await self._required(seplos_v3.PIB)
        pic = await self._required(seplos_v3.PIC)
        return self.decoded(functools.partial(seplos_v3.decode_pack, current_unit=self.current_unit), pia, pib, pic,
                            self.settings)

    async def _refresh_settings(self, now: float) -> None:
        # The reading does without them (all cell slots with a voltage, four sensors): a pack that
        # misses this answer is asked again next poll.
        try:
            self.settings = self.decoded(seplos_v3.decode_spa, await self.read(seplos_v3.SPA))
        except (DeviceError, _Refused) as exc:
            log.debug("pack %d on %s: no settings this poll (%s)", self.address, self.port, exc)
            return
        self._settings_at = now

    async def _required(self, block: seplos_v3.Block) -> bytes:
        try:
            return await self.read(block)
        except _Refused as exc:
            self.stats.bad_frames += 1
            raise DeviceError(str(exc)) from None

    async def read(self, block: seplos_v3.Block) -> bytes:
        """The data of ``block`` from our pack; _Refused when it answers with an exception."""
        rx = seplos_v3.ReplyAssembler(self.address, block)
        frame = await self.transact(seplos_v3.build_read(self.address, block), rx, lambda f: f, f"{block.name} reply")
        try:
            return seplos_v3.reply_data(frame, block)
        except ProtocolError as exc:
            raise _Refused(str(exc)) from None
