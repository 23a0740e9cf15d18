"""A parallel bank behind several BMS simulators: one charger and one load for all its packs, the
current split between them as the physics says (``parallel_bank.ParallelBank.split``).

Each simulator gets a view of one pack (``BankPackView``), with the shape a simulator's pack has
(``advance(dt)``, ``sample()``, ``cells``, ``capacity_ah``). Each view's clock moves with its own
simulator; the bank runs to the furthest of them, so the packs stay one bank in time however the
simulators are polled. The charger and the load follow a slow swing, within the limits last handed
to ``obey`` (a group's CCL and DCL, as DVCC would pass them on).
"""

from __future__ import annotations

import math

from ..model import Sample
from .loop_pack import LoopPack
from .parallel_bank import ParallelBank

# The bank moves in steps of at most this (s): the split follows the packs' states as they change.
MAX_STEP = 1.0


class SharedBank:
    """``bank``'s packs under a current that swings ±``swing_amps`` over ``swing_period`` s (> 0
    charging), cut to the limits given to ``obey``."""

    def __init__(self, bank: ParallelBank, *, swing_amps: float = 120.0, swing_period: float = 900.0) -> None:
        self.bank = bank
        self.swing_amps = swing_amps
        self.swing_period = swing_period
        self.elapsed = 0.0
        self.ccl: float | None = None
        self.dcl: float | None = None
        self.views = [BankPackView(self, pack) for pack in bank.packs]

    def obey(self, ccl: float | None, dcl: float | None) -> None:
        """The charge and discharge currents the bank may take from now on (None: no limit)."""
        self.ccl, self.dcl = ccl, dcl

    def demand(self, t: float) -> float:
        """What the charger less the load would put through the bank at ``t``, before the limits."""
        return self.swing_amps * math.sin(2 * math.pi * t / self.swing_period)

    def run_to(self, t: float) -> None:
        while self.elapsed < t:
            dt = min(MAX_STEP, t - self.elapsed)
            total = self.demand(self.elapsed)
            if self.ccl is not None:
                total = min(total, self.ccl)
            if self.dcl is not None:
                total = max(total, -self.dcl)
            currents, _ = self.bank.split(total)
            self.bank.advance(dt, currents)
            self.elapsed += dt

    def catch_up(self) -> None:
        self.run_to(max(view.elapsed for view in self.views))


class BankPackView:
    """One pack of a ``SharedBank`` as a simulator's pack."""

    def __init__(self, shared: SharedBank, pack: LoopPack) -> None:
        self.shared = shared
        self.pack = pack
        self.elapsed = 0.0

    @property
    def cells(self) -> int:
        return self.pack.cells

    @property
    def capacity_ah(self) -> float:
        return self.pack.capacity_ah

    @property
    def current(self) -> float:
        return self.pack.current

    def advance(self, dt: float) -> None:
        self.elapsed += dt
        self.shared.catch_up()

    def sample(self) -> Sample:
        return self.pack.sample()
