"""Packs in parallel on one DC bus, for the group's closed loop: how a current splits between them.

Every pack sits at the bus voltage: its open-circuit voltage plus its current through its
resistance (cells, busbars and its link to the bus) equals the bus voltage, and the pack currents
add up to what the chargers and the load put through the bank. So the lower-resistance pack takes
more, the emptier pack (lower OCV) more still, and at zero total current packs at different
states of charge even out through the bus. A pack whose BMS has opened the FET for a direction
takes no current in it (it still passes the other way, as a real BMS's body diode lets it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from ..model import Sample
from .loop_pack import BmsProtection, LoopPack

@dataclass
class ParallelBank:
    """``links`` (Ω): each pack's cable and fuse to the common busbar, 0 when not given."""

    packs: list[LoopPack]
    links: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.packs:
            raise ValueError("a bank needs at least one pack")
        if not self.links:
            self.links = [0.0] * len(self.packs)
        if len(self.links) != len(self.packs):
            raise ValueError(f"links need one value per pack ({len(self.packs)})")
        if any(not r >= 0 for r in self.links):
            raise ValueError(f"links must be at least 0 Ω, not {self.links}")

    @property
    def capacity_ah(self) -> float:
        return sum(p.capacity_ah for p in self.packs)

    def _packs(self) -> list[tuple[float, float, float, float]]:
        """(open-circuit voltage, resistance to the bus, lowest and highest current its FETs pass)
        of each pack, as they are now."""
        return [(p.open_circuit_voltage, p.total_resistance + r, -math.inf if p.protection.discharge_fet else 0.0,
                 math.inf if p.protection.charge_fet else 0.0) for p, r in zip(self.packs, self.links)]

    @staticmethod
    def _at(packs: list[tuple[float, float, float, float]], volts: float) -> list[float]:
        return [min(hi, max(lo, (volts - ocv) / r)) for ocv, r, lo, hi in packs]

    def currents_at(self, volts: float) -> list[float]:
        """Each pack's current with the bus held at ``volts``."""
        return self._at(self._packs(), volts)

    def current_at(self, volts: float) -> float:
        """The bank's current with the bus held at ``volts`` (> 0 charging)."""
        return sum(self.currents_at(volts))

    def conducts(self, charge: bool) -> bool:
        """Whether any pack's FET lets current through in the direction."""
        return any(p.protection.charge_fet if charge else p.protection.discharge_fet for p in self.packs)

    def split(self, total: float) -> tuple[list[float], float]:
        """Each pack's current and the bus voltage with ``total`` A through the bank (> 0 charging).

        A total the FETs do not let through is cut to what they do: the currents returned are the
        ones that flow. Where the bus could float (no pack conducts), it is the lowest voltage
        that gives the total."""
        packs = self._packs()
        total = min(sum(p[3] for p in packs), max(sum(p[2] for p in packs), total))
        # The bank's current is piecewise linear in the bus voltage, bending where a pack with one
        # FET open starts or stops conducting (at its OCV): find the piece the total lies on.
        bends = sorted(ocv for ocv, _, lo, hi in packs if (lo == 0.0) != (hi == 0.0))
        below = [v for v in bends if sum(self._at(packs, v)) <= total]
        base = below[-1] if below else bends[0] if bends else 0.0
        # Slope of that piece: the packs that conduct on it, just above ``base`` (or left of every bend).
        probe = base if below else base - 1.0
        slope = sum(1.0 / r for ocv, r, lo, hi in packs if lo < 0.0 < hi
                    or (hi == 0.0 and lo < 0.0 and probe < ocv) or (lo == 0.0 and hi > 0.0 and probe >= ocv))
        volts = base + (total - sum(self._at(packs, base))) / slope if slope else base
        return self._at(packs, volts), volts

    def advance(self, dt: float, currents: list[float], *, ambient: float | None = None) -> list[float]:
        """Run each pack's current of a ``split`` through it for ``dt`` s; returns what flowed."""
        return [p.advance(dt, c, ambient=ambient) for p, c in zip(self.packs, currents)]

    def samples(self) -> list[Sample]:
        return [p.sample() for p in self.packs]


# The capacities (Ah) of ``three_pack_bank``'s packs.
THREE_PACKS = (280.0, 230.0, 100.0)


def three_pack_bank(
    soc: float = 40.0, *, cells: int = 16, seed: int = 0, temperature: float = 20.0,
    balance_mode: Literal["passive", "active"] = "passive", balance_current: float = 0.1,
) -> ParallelBank:
    """280, 230 and 100 Ah packs of ``cells`` cells: the larger the pack the lower its resistance
    (``LoopPack`` draws them so), the 230 Ah one with an aged cell and the 100 Ah one on a longer
    cable, at ``soc`` percent, each drawn from its own seed, each BMS with the balancer given."""
    def pack(capacity: float, k: int, weak: int | None = None) -> LoopPack:
        protection = BmsProtection(balance_mode=balance_mode, balance_current=balance_current)
        return LoopPack(cells=cells, capacity_ah=capacity, soc_percent=soc, seed=seed + k, temperature=temperature,
                        weak_cell=weak, protection=protection)

    big, middle, small = THREE_PACKS
    return ParallelBank([pack(big, 0), pack(middle, 1, cells // 2), pack(small, 2)], links=[0.0005, 0.0005, 0.0010])
