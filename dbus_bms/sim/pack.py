"""A LiFePO4 pack whose values move like a real one's: the physics behind every BMS simulator.

Cells have their own capacity, state of charge and internal resistance, so a spread develops
under load and the top cells run away near full; a passive balancer bleeds the highest cell.
Time is an argument (``advance(dt)``), so tests can run hours of pack time in no time.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from dataclasses import dataclass, field

from ..model import Sample

# Open-circuit voltage of a LiFePO4 cell over state of charge (%): flat in the middle, steep at
# both ends, which is what makes cell-voltage based charge control necessary.
_OCV = (
    (0.0, 2.50), (3.0, 2.90), (8.0, 3.12), (15.0, 3.20), (25.0, 3.24), (40.0, 3.27),
    (60.0, 3.30), (75.0, 3.32), (88.0, 3.34), (95.0, 3.38), (98.0, 3.45), (100.0, 3.60),
)


def ocv(soc: float) -> float:
    """Open-circuit cell voltage at ``soc`` percent, linearly interpolated."""
    xs = [p[0] for p in _OCV]
    soc = min(max(soc, 0.0), 100.0)
    i = max(1, bisect_left(xs, soc))
    (x0, y0), (x1, y1) = _OCV[i - 1], _OCV[i]
    return y0 + (y1 - y0) * (soc - x0) / (x1 - x0)


@dataclass
class SimPack:
    """A series pack; ``current`` follows a slow day-like swing unless ``current_override`` is set."""

    cells: int = 16
    capacity_ah: float = 280.0
    seed: int = 1
    soc: list[float] = field(default_factory=list)
    capacity: list[float] = field(default_factory=list)
    resistance: list[float] = field(default_factory=list)
    balancing: list[bool] = field(default_factory=list)
    current: float = 0.0
    current_override: float | None = None
    swing_amps: float = 40.0
    swing_period: float = 900.0
    temperature: float = 22.0
    mosfet_temperature: float = 25.0
    cycles: int = 12
    balance_threshold: float = 0.010
    balance_current: float = 0.06
    elapsed: float = 0.0

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        if not self.soc:
            self.soc = [55.0 + rng.uniform(-1.5, 1.5) for _ in range(self.cells)]
        if not self.capacity:
            self.capacity = [self.capacity_ah * rng.uniform(0.97, 1.02) for _ in range(self.cells)]
        if not self.resistance:
            self.resistance = [rng.uniform(0.00018, 0.00030) for _ in range(self.cells)]
        self.balancing = [False] * self.cells

    def cell_voltages(self) -> list[float]:
        return [round(ocv(s) + self.current * r, 3) for s, r in zip(self.soc, self.resistance)]

    @property
    def pack_soc(self) -> float:
        # A BMS counts coulombs for the whole string; the cells' mean is what that count shows.
        return sum(self.soc) / self.cells

    def advance(self, dt: float) -> None:
        """Move the pack ``dt`` seconds on: current, charge, balancing, heat."""
        self.elapsed += dt
        if self.current_override is not None:
            self.current = self.current_override
        else:
            self.current = round(self.swing_amps * math.sin(2 * math.pi * self.elapsed / self.swing_period), 2)
        volts = self.cell_voltages()
        top = max(volts)
        for i in range(self.cells):
            amps = self.current
            self.balancing[i] = self.current > 0 and volts[i] >= top - 0.001 and top - min(volts) > self.balance_threshold
            if self.balancing[i]:
                amps -= self.balance_current
            self.soc[i] = min(100.0, max(0.0, self.soc[i] + amps * dt / 36.0 / self.capacity[i]))
        heat = abs(self.current) * 0.004
        self.temperature += (22.0 + heat - self.temperature) * min(1.0, dt / 600.0)
        self.mosfet_temperature += (24.0 + 3 * heat - self.mosfet_temperature) * min(1.0, dt / 120.0)

    def sample(self) -> Sample:
        volts = self.cell_voltages()
        full = round(self.capacity_ah, 1)
        return Sample(
            voltage=round(sum(volts), 2),
            current=round(self.current, 2),
            soc=round(self.pack_soc),
            capacity_remaining=round(full * self.pack_soc / 100.0, 1),
            capacity_full=full,
            cycles=self.cycles,
            cell_voltages=volts,
            cell_balancing=list(self.balancing),
            temperatures=[round(self.temperature, 1), round(self.temperature + 0.6, 1)],
            mosfet_temperature=round(self.mosfet_temperature, 1),
            charge_enabled=True,
            discharge_enabled=True,
            balancing=any(self.balancing),
        )
