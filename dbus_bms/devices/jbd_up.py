"""A JBD UP series pack (UP16S and its kin) on an RS485 bus of daisy-chained packs, at the address
of its DIP switches; several packs share one port, each its own battery.

A poll reads the pack status (0x78, registers 0x1000-0x10A0). Read only: the protocol's switch
write is left alone. The status carries no serial: a pack is known by its port and address.
"""

from __future__ import annotations

from typing import Any

from ..model import Sample
from ..protocols import jbd_up
from ..protocols.errors import ProtocolError
from .bus_device import BusDevice
from .registry import DEVICE_TYPES

_KIND = DEVICE_TYPES["jbd-up"]


class JbdUpDevice(BusDevice):
    type_name = "jbd-up"
    vendor = "JBD"
    gap = 0.05

    def __init__(self, port: str, address: int, *, baudrate: int | None = None, timeout: float | None = None) -> None:
        if address not in jbd_up.ADDRESSES:
            raise ValueError(f"JBD UP address {address} is not 1-15")
        super().__init__(port, address, baudrate=baudrate or _KIND.baudrate or 9600,
                         timeout=timeout if timeout is not None else _KIND.timeout or 0.6)

    @classmethod
    def from_config(cls, cfg: Any) -> JbdUpDevice:
        try:
            address = int(cfg.address)
        except (TypeError, ValueError):
            raise ValueError(f"a JBD UP pack's address is its RS485 address 1-15, not {cfg.address!r}") from None
        return cls(cfg.port, address, baudrate=cfg.baudrate, timeout=cfg.timeout)

    async def exchange(self) -> Sample:
        def ours(frame: bytes) -> bytes | None:
            # The adapter's echo of our request has no data; another pack's reply is not ours.
            try:
                return jbd_up.status_data(frame, self.address)
            except ProtocolError:
                return None

        data = await self.transact(jbd_up.build_status_request(self.address), jbd_up.UpAssembler(), ours, "status reply")
        return self.decoded(jbd_up.decode, data)
