"""A bus of Seplos v3 packs on RS485, each at its address, answering Modbus reads as the protocol
describes, each driven by its own simulated pack.

A pack answers the reads of its own blocks (PIA, PIB, PIC, SPA, VIA), refuses a read of any
other range, or of a block its firmware lacks (``refuses``), with exception 0x02 (illegal data
address), and stays quiet for a request with a bad CRC, one for an address no pack has, or while
it is silenced. Each pack has its own fault; ``fault`` sets them all.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..model import BmsSettings, DeviceInfo, Sample
from ..protocols import seplos_v3
from ..protocols.framing import good_frames
from .faults import Fault, apply_fault
from .pack import SimPack
from .pack_bus import PackBus

MODEL, SW_VERSION = "SP51B48100-16S", "1.6"
_ILLEGAL_ADDRESS = 0x02


@dataclass
class V3Pack:
    """One pack on the bus: its cells, identity, settings, alarms and fault."""

    address: int
    pack: SimPack
    device: DeviceInfo
    settings: BmsSettings
    fault: Fault = Fault.NONE
    # Victron alarm name → level that PIC raises (through the protocol's event bits).
    alarms: dict[str, int] = field(default_factory=dict)
    # Names of blocks this pack's firmware refuses (as one without the version block).
    refuses: set[str] = field(default_factory=set)
    requests: int = 0
    # The unit the board counts its current in (seplos_v3.CURRENT_UNITS).
    current_unit: float = 0.01

    @classmethod
    def at(cls, address: int, *, cells: int = 16, seed: int = 1) -> V3Pack:
        pack = SimPack(cells=cells, capacity_ah=100.0, seed=seed + address)
        settings = BmsSettings(
            cell_ovp=3.65, cell_ovp_recovery=3.40, cell_uvp=2.70, cell_uvp_recovery=3.10, max_charge_current=110.0,
            max_discharge_current=110.0, charge_max_temperature=55.0, charge_min_temperature=0.0,
            discharge_max_temperature=60.0, discharge_min_temperature=-15.0, balance_start_voltage=3.40,
            balance_trigger_voltage=0.05, cell_count=cells, nominal_capacity=pack.capacity_ah,
        )
        return cls(address, pack, DeviceInfo(MODEL, None, SW_VERSION, f"SEPLOSV3{address:04d}"), settings)

    def sample(self) -> Sample:
        sample = self.pack.sample()
        sample.alarms = dict(self.alarms)
        return sample

    def data(self, block: seplos_v3.Block) -> bytes | None:
        """The data of ``block`` as the pack sends it now; None for a block it does not have."""
        if block.name in self.refuses:
            return None
        if block == seplos_v3.PIA:
            return seplos_v3.encode_pia(self.sample(), current_unit=self.current_unit)
        if block == seplos_v3.PIB:
            return seplos_v3.encode_pib(self.sample(), ambient=round(self.pack.temperature - 1.0, 1))
        if block == seplos_v3.PIC:
            return seplos_v3.encode_pic(self.sample())
        if block == seplos_v3.SPA:
            return seplos_v3.encode_spa(self.settings, sensors=len(self.pack.sample().temperatures or []))
        if block == seplos_v3.VIA:
            return seplos_v3.encode_via(self.device)
        return None


class SeplosV3Bus(PackBus):
    """Feed it what the host wrote; it returns what the packs on the bus send back."""

    def __init__(self, addresses: Iterable[int] = (1, 2), *, cells: int = 16, seed: int = 1, echo: bool = False) -> None:
        packs: dict[int, V3Pack] = {}
        for address in addresses:
            if address not in seplos_v3.ADDRESSES or address in packs:
                raise ValueError(f"address {address} is not one of 0-15, or is taken twice")
            packs[address] = V3Pack.at(address, cells=cells, seed=seed)
        super().__init__(packs, echo=echo)
        self._rng = random.Random(seed)
        self._rx = seplos_v3.RequestAssembler()

    @classmethod
    def with_packs(cls, packs: int, **kwargs) -> SeplosV3Bus:
        """``packs`` packs at addresses 1..packs."""
        if not 1 <= packs <= 15:
            raise ValueError(f"a Seplos v3 bus holds 1 to 15 packs, not {packs}")
        return cls(range(1, packs + 1), **kwargs)

    def handle(self, data: bytes) -> bytes:
        self._rx.feed(data)
        out = bytearray(data if self.echo else b"")
        for frame in good_frames(self._rx):
            request = seplos_v3.parse_request(frame)
            pack = self.packs.get(request.address)
            if pack is None:
                continue
            pack.requests += 1
            out += apply_fault(pack.fault, self.answer(pack, request), self._rng)
        return bytes(out)

    def answer(self, pack: V3Pack, request: seplos_v3.Request) -> bytes:
        block = request.block
        data = pack.data(block) if block is not None else None
        if block is None or data is None:
            return seplos_v3.build_exception(pack.address, request.function, _ILLEGAL_ADDRESS)
        return seplos_v3.build_reply(pack.address, block, data)
