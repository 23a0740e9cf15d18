"""A bus of daisy-chained JBD UP series packs on RS485, each at its address, answering the pack
status read (0x78) as the protocol describes, each driven by its own simulated pack.

A pack stays quiet for a request with a bad CRC, for another address, for anything but the status
read, and while it is silenced. Each pack has its own fault; ``fault`` sets them all.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..protocols import jbd_up
from ..protocols.framing import good_frames
from .faults import Fault, apply_fault
from .pack import SimPack
from .pack_bus import PackBus

MODEL = "UP16S015"


@dataclass
class UpPack:
    """One pack on the bus: its cells, fault, and the alarms its status raises."""

    address: int
    pack: SimPack
    fault: Fault = Fault.NONE
    # Victron alarm name → level: 2 in the protection word, 1 in the alarm word.
    alarms: dict[str, int] = field(default_factory=dict)
    requests: int = 0

    def status(self) -> bytes:
        sample = self.pack.sample()
        protections = jbd_up.PROTECTIONS.encode({k: v for k, v in self.alarms.items() if v == 2})
        alarms = jbd_up.ALARMS.encode({k: v for k, v in self.alarms.items() if v == 1})
        return jbd_up.encode_status(sample, ambient=round(self.pack.temperature - 1.0, 1), model=MODEL,
                                    protections=protections, alarms=alarms)


class JbdUpBus(PackBus):
    """Feed it what the host wrote; it returns what the packs on the bus send back. ``echo``: an
    adapter that puts the host's own bytes in front of every reply."""

    def __init__(self, addresses: Iterable[int] = (1, 2), *, cells: int = 16, seed: int = 1, echo: bool = False) -> None:
        packs: dict[int, UpPack] = {}
        for address in addresses:
            if address not in jbd_up.ADDRESSES or address in packs:
                raise ValueError(f"address {address} is not one of 1-15, or is taken twice")
            packs[address] = UpPack(address, SimPack(cells=cells, capacity_ah=100.0, seed=seed + address))
        super().__init__(packs, echo=echo)
        self._rng = random.Random(seed)
        self._rx = jbd_up.UpAssembler()

    @classmethod
    def with_packs(cls, packs: int, **kwargs) -> JbdUpBus:
        """``packs`` packs at addresses 1..packs."""
        if not 1 <= packs <= 15:
            raise ValueError(f"a JBD UP bus holds 1 to 15 packs, not {packs}")
        return cls(range(1, packs + 1), **kwargs)

    def handle(self, data: bytes) -> bytes:
        self._rx.feed(data)
        out = bytearray(data if self.echo else b"")
        for frame in good_frames(self._rx):
            request = jbd_up.parse_frame(frame)
            pack = self.packs.get(request.address)
            wanted = (request.function, request.first, request.last, request.data) == (
                jbd_up.FC_READ, jbd_up.STATUS_FIRST, jbd_up.STATUS_LAST, b"")
            if pack is None or not wanted:
                continue
            pack.requests += 1
            reply = jbd_up.build_frame(pack.address, jbd_up.FC_READ, jbd_up.STATUS_FIRST, jbd_up.STATUS_LAST, pack.status())
            out += apply_fault(pack.fault, reply, self._rng)
        return bytes(out)
