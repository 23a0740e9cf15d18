"""A group of packs in parallel in a closed loop: each member's charge control, the group's combined
limits, and chargers and an inverter on the one bus that take those limits up.

Each step every member's BMS reports (or, silenced, does not), its own ``charge.limits.step`` with
its own settings gives its limits, ``group.combine`` makes the group's, and the system works to the
group's alone, as DVCC follows the one group service: the chargers hold the bus at or under the
group CVL with the battery current under the group CCL, the inverter draws at most the group DCL.
The bank then splits that current between the packs as the physics does (``parallel_bank``), which
is where a limit computed on a wrong share would show: a member's cell over its own limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ..charge.config import ChargeConfig
from ..charge.limits import initial_state, step
from ..charge.types import Limits
from ..group.combine import GroupSpec, Member, combine
from .charge_loop import Charger, StageTimeline, dispatch
from .parallel_bank import THREE_PACKS, ParallelBank, three_pack_bank
from .profiles import Clouds, Profile, clouded, get_profile


@dataclass(frozen=True, slots=True)
class Silence:
    """Member ``member`` (0-based) does not answer from ``start`` to ``end`` (s)."""

    member: int
    start: float
    end: float


@dataclass
class GroupTrace(StageTimeline):
    """One row per step, at its start; per-member lists are in the bank's order.

    Cell voltages are at each pack's terminals under the step's current, as its BMS measures them.
    """

    names: list[str]
    cell_max_voltage: list[float]
    cell_ovp: list[float]
    soc: list[float | None] = field(default_factory=list)
    stale: list[bool] = field(default_factory=list)
    online: list[int] = field(default_factory=list)
    offline: list[int] = field(default_factory=list)
    # What adding up the online members' own limits would have published.
    naive_ccl: list[float] = field(default_factory=list)
    naive_dcl: list[float] = field(default_factory=list)
    member_current: list[list[float]] = field(default_factory=list)
    member_max_cell: list[list[float]] = field(default_factory=list)
    member_max_cell_index: list[list[int]] = field(default_factory=list)
    member_soc: list[list[float]] = field(default_factory=list)
    member_ccl: list[list[float | None]] = field(default_factory=list)
    member_dcl: list[list[float | None]] = field(default_factory=list)
    member_online: list[list[bool]] = field(default_factory=list)
    charge_shares: list[tuple[float | None, ...]] = field(default_factory=list)
    discharge_shares: list[tuple[float | None, ...]] = field(default_factory=list)

    def max_cell(self, member: int) -> tuple[float, int, float]:
        """The highest cell voltage member ``member`` reached: volts, cell number (1-based), hour."""
        best = max(range(len(self.t)), key=lambda i: self.member_max_cell[i][member])
        return self.member_max_cell[best][member], self.member_max_cell_index[best][member] + 1, self.t[best] / 3600.0

    def narrowest_ccl(self) -> tuple[float, float, float] | None:
        """The step at which the group CCL was furthest under the naive sum of the members' CCLs:
        group CCL, naive sum, hour; None when it never was under it."""
        under = [i for i, (c, n) in enumerate(zip(self.ccl, self.naive_ccl)) if n > 0 and (c or 0.0) < n - 1e-9]
        if not under:
            return None
        i = min(under, key=lambda i: (self.ccl[i] or 0.0) / self.naive_ccl[i])
        return self.ccl[i] or 0.0, self.naive_ccl[i], self.t[i] / 3600.0


def member_config(capacity_ah: float, base: ChargeConfig = ChargeConfig()) -> ChargeConfig:
    """``base`` with currents for a pack of ``capacity_ah``: 0.5 C each way, as such packs' BMSes
    are commonly sized."""
    return replace(base, max_charge_current=0.5 * capacity_ah, max_discharge_current=0.5 * capacity_ah)


def run_group(
    hours: float,
    profile: str | Profile,
    configs: Sequence[ChargeConfig] | None = None,
    *,
    bank: ParallelBank | None = None,
    min_members: int = 1,
    names: Sequence[str] | None = None,
    dt: float = 5.0,
    charger: Charger = Charger(),
    clouds: Clouds | None = None,
    silences: Sequence[Silence] = (),
    start: float = 0.0,
) -> GroupTrace:
    """Simulate ``hours`` of ``profile`` (scaled to the bank's capacity) with the group's limits.

    ``bank`` defaults to ``three_pack_bank`` at 40 %; ``configs`` (one per pack) to ``member_config``
    of each pack's capacity; ``names`` to pack1, pack2, ... The chargers take the limits up on the
    ``charger.uptake`` boundaries of the clock, as in ``charge_loop``.
    """
    capacity = bank.capacity_ah if bank is not None else sum(THREE_PACKS)
    conditions = get_profile(profile, capacity) if isinstance(profile, str) else profile
    if clouds is not None:
        conditions = clouded(conditions, clouds)
    if bank is None:
        bank = three_pack_bank(temperature=conditions(start).ambient)
    n = len(bank.packs)
    configs = list(configs) if configs is not None else [member_config(p.capacity_ah) for p in bank.packs]
    names = list(names) if names is not None else [f"pack{k}" for k in range(1, n + 1)]
    if len(configs) != n or len(names) != n:
        raise ValueError(f"configs and names need one entry per pack ({n})")
    for s in silences:
        if not 0 <= s.member < n:
            raise ValueError(f"silenced member {s.member} is not one of the {n} packs (0-based)")
    spec = GroupSpec("parallel", min_members)
    trace = GroupTrace(profile=profile if isinstance(profile, str) else "custom", dt=dt, names=names,
                       cell_max_voltage=[c.cell_max_voltage for c in configs],
                       cell_ovp=[p.protection.cell_ovp for p in bank.packs])
    states = [initial_state() for _ in range(n)]
    seen: Limits | None = None  # the group limits the chargers and inverter work to
    seen_at = -math.inf
    for i in range(round(hours * 3600.0 / dt)):
        t = start + i * dt
        members = []
        for k, pack in enumerate(bank.packs):
            silent = any(s.member == k and s.start <= t < s.end for s in silences)
            own, states[k] = step(None if silent else pack.sample(), states[k], configs[k], t)
            members.append(Member(names[k], states[k].last, own, states[k].last is not None and not own.stale))
        group = combine(members, spec)
        limits = group.limits
        if seen is None or charger.uptake <= 0 or math.floor(t / charger.uptake) > math.floor(seen_at / charger.uptake):
            seen, seen_at = limits, t
        cond = conditions(t)
        charger_amps, served = dispatch(seen, cond, charger, charge_fet=bank.conducts(True),
                                        discharge_fet=bank.conducts(False), current_at=bank.current_at)
        currents, bus = bank.split(charger_amps - served)
        current = sum(currents)
        trace.t.append(t)
        trace.bus_voltage.append(bus)
        trace.current.append(current)
        trace.charger_current.append(charger_amps)
        trace.load_served.append(served)
        trace.unserved.append(cond.load - served)
        trace.soc.append(group.sample.soc if group.sample is not None else None)
        trace.cvl.append(limits.cvl)
        trace.ccl.append(limits.ccl)
        trace.dcl.append(limits.dcl)
        trace.stale.append(limits.stale)
        trace.online.append(group.online)
        trace.offline.append(group.offline)
        trace.charge_mode.append(limits.charge_mode)
        trace.charge_limitation.append(limits.charge_limitation)
        trace.discharge_limitation.append(limits.discharge_limitation)
        live = [m for m in members if m.online and m.limits is not None]
        trace.naive_ccl.append(sum(m.limits.ccl or 0.0 for m in live))  # type: ignore[union-attr]
        trace.naive_dcl.append(sum(m.limits.dcl or 0.0 for m in live))  # type: ignore[union-attr]
        cells = [p.cell_voltages(c) for p, c in zip(bank.packs, currents)]
        tops = [max(range(len(volts)), key=volts.__getitem__) for volts in cells]
        trace.member_max_cell.append([volts[j] for volts, j in zip(cells, tops)])
        trace.member_max_cell_index.append(tops)
        trace.member_current.append(currents)
        trace.member_soc.append([p.pack_soc for p in bank.packs])
        trace.member_ccl.append([m.limits.ccl if m.limits is not None else None for m in members])
        trace.member_dcl.append([m.limits.dcl if m.limits is not None else None for m in members])
        trace.member_online.append([m.online for m in members])
        trace.charge_shares.append(group.charge_shares)
        trace.discharge_shares.append(group.discharge_shares)
        bank.advance(dt, currents, ambient=cond.ambient)
    return trace
