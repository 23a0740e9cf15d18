"""A Seplos v2 pack on its RS485 bus: telemetry (0x42) and alarms (0x44) each poll, the device
name (0x51) until the pack has given it once.

Each frame carries the pack's address (ADR, its DIP switches): several packs on one port are
each polled at theirs, one battery each (``bus_device``). A battery configured without an address
is the pack at 0 and keeps the name and the id of a port with one pack. Read only: the
protocol's control commands are not publicly documented for this BMS.
"""

from __future__ import annotations

from typing import Any

from ..model import Sample
from ..protocols import seplos
from ..protocols.errors import ProtocolError
from ..transports.link import link_name
from .base import DeviceError
from .bus_device import BusDevice
from .registry import DEVICE_TYPES

_KIND = DEVICE_TYPES["seplos"]
DEFAULT_BAUDRATE = _KIND.baudrate or 19200
# Polls that ask for the device name before giving up on a BMS that does not answer it.
NAME_TRIES = 3
# The CID2 of a command: a frame with one is a request (an adapter's echo), not a reply.
_COMMANDS = range(0x40, 0x90)


class _Refused(Exception):
    """The pack answered with a return code other than 0."""


class SeplosDevice(BusDevice):
    type_name = "seplos"
    vendor = "Seplos"
    # Device name, telemetry, alarms.
    transactions_per_poll = 3
    # The pause between a reply and the next request, for the packs' RS485 transceivers turning round.
    gap = 0.05

    def __init__(self, port: str, address: int | None = None, *, baudrate: int | None = None, timeout: float = 0.5) -> None:
        number = _KIND.default_address if address is None else address
        if number not in _KIND.addresses:
            raise ValueError(f"Seplos address {number} is not 0-15")
        super().__init__(port, number, baudrate=baudrate or DEFAULT_BAUDRATE, timeout=timeout)
        # A port configured without an address is named as one with a single pack.
        self.addressed = address is not None
        self._name: bytes | None = None
        self._name_tries = NAME_TRIES

    @classmethod
    def from_config(cls, cfg: Any) -> SeplosDevice:
        address = getattr(cfg, "address", None)
        try:
            number = None if address is None else int(address)
        except (TypeError, ValueError):
            raise ValueError(f"a Seplos pack's address is its RS485 address 0-15, not {address!r}") from None
        return cls(cfg.port, number, baudrate=cfg.baudrate, timeout=cfg.timeout)

    @property
    def connection(self) -> str:
        return super().connection if self.addressed else link_name(self.port)

    @property
    def fallback_id(self) -> str:
        return super().fallback_id if self.addressed else f"{self.type_name}_{self.port}"

    async def exchange(self) -> Sample:
        if self._name is None and self._name_tries > 0:
            self._name = await self._device_name()
        telemetry = await self._required(seplos.CMD_TELEMETRY)
        alarms = await self._required(seplos.CMD_ALARMS)
        return self.decoded(seplos.decode, telemetry, alarms, self._name)

    async def _device_name(self) -> bytes | None:
        """The 0x51 reply's INFO; None when the pack does not give it: one that refuses is not
        asked again, one that does not answer is asked in the next polls, NAME_TRIES in all."""
        self._name_tries -= 1
        try:
            return await self.ask(seplos.build_frame(seplos.CMD_DEVICE_NAME, address=self.address), "device name")
        except DeviceError:
            return None
        except _Refused:
            self._name_tries = 0
            return None

    async def _required(self, command: int) -> bytes:
        what = "telemetry" if command == seplos.CMD_TELEMETRY else "alarms"
        try:
            return await self.ask(seplos.build_request(command, address=self.address), what)
        except _Refused as exc:
            self.stats.bad_frames += 1
            raise DeviceError(str(exc)) from None

    async def ask(self, request: bytes, what: str) -> bytes:
        """The INFO of our pack's reply to ``request``; _Refused when it answers with a return code."""

        def ours(frame: bytes) -> bytes | None:
            parsed = seplos.parse_frame(frame)
            return frame if parsed.address == self.address and parsed.cid2 not in _COMMANDS else None

        frame = await self.transact(request, seplos.SeplosAssembler(), ours, f"{what} reply")
        try:
            return seplos.reply_info(frame, address=self.address)
        except ProtocolError as exc:
            raise _Refused(str(exc)) from None
