"""The charge algorithm in a closed loop with a simulated pack, chargers and inverter.

Each step the BMS reports (``LoopPack.sample``), the algorithm publishes its limits
(``charge.limits.step``), and a Victron-like system obeys them: the chargers regulate the
voltage to CVL and the current to CCL, the inverter draws at most DCL. Then the pack moves on.
Days of simulated time take seconds, so settings can be tuned against weeks of weather.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..charge.config import ChargeConfig
from ..charge.limits import initial_state, step
from ..charge.state import restore, snapshot
from ..charge.types import Limits
from .loop_pack import LoopPack
from .profiles import Conditions, Profile, get_profile

# The wall clock at simulated midnight of day one, for the dates the saved state keeps.
_EPOCH = 1_800_000_000.0


@dataclass
class Trace:
    """One row per step, at its start; currents in A (battery current > 0 charging), voltages in V.

    Cell and pack voltages are at the pack terminals under the step's current, as the BMS
    measures them; ``bus_voltage`` is where the chargers and inverter sit, across the cable.
    """

    profile: str
    dt: float
    cells: int
    cell_max_voltage: float
    cell_ovp: float
    t: list[float] = field(default_factory=list)
    cell_voltages: list[list[float]] = field(default_factory=list)
    voltage: list[float] = field(default_factory=list)
    bus_voltage: list[float] = field(default_factory=list)
    current: list[float] = field(default_factory=list)
    charger_current: list[float] = field(default_factory=list)
    charge_available: list[float] = field(default_factory=list)
    load_served: list[float] = field(default_factory=list)
    unserved: list[float] = field(default_factory=list)
    soc: list[float] = field(default_factory=list)
    temperature: list[float] = field(default_factory=list)
    ambient: list[float] = field(default_factory=list)
    cvl: list[float | None] = field(default_factory=list)
    ccl: list[float | None] = field(default_factory=list)
    dcl: list[float | None] = field(default_factory=list)
    charge_mode: list[str] = field(default_factory=list)
    charge_limitation: list[str] = field(default_factory=list)
    discharge_limitation: list[str] = field(default_factory=list)
    # What the BMS reported to the algorithm at the step (before the step's current flowed).
    reported_voltage: list[float] = field(default_factory=list)
    reported_max_cell: list[float] = field(default_factory=list)
    reported_min_cell: list[float] = field(default_factory=list)
    reported_min_temperature: list[float] = field(default_factory=list)
    charge_fet: list[bool] = field(default_factory=list)
    discharge_fet: list[bool] = field(default_factory=list)

    @property
    def hours(self) -> list[float]:
        return [t / 3600.0 for t in self.t]

    def max_cell(self) -> tuple[float, int, float]:
        """The highest cell voltage reached: volts, cell number (1-based), hour."""
        best = max(range(len(self.t)), key=lambda i: max(self.cell_voltages[i]))
        volts = self.cell_voltages[best]
        top = max(volts)
        return top, volts.index(top) + 1, self.t[best] / 3600.0

    def hours_per_mode(self) -> dict[str, float]:
        """Simulated hours spent in each charge mode, in order of first appearance."""
        counts = Counter(self.charge_mode)
        return {mode: counts[mode] * self.dt / 3600.0 for mode in dict.fromkeys(self.charge_mode)}

    def unserved_ah(self) -> float:
        return sum(self.unserved) * self.dt / 3600.0

    def fet_openings(self, fets: list[bool]) -> int:
        """How often a FET went from closed (conducting) to open."""
        return sum(1 for a, b in zip(fets, fets[1:]) if a and not b)


def _dispatch(limits: Limits, pack: LoopPack, cond: Conditions, cable: float) -> tuple[float, float]:
    """What the chargers deliver and the inverter serves this step, obeying the limits.

    Chargers and inverter share a DC bus, ``cable`` ohms away from the pack terminals. The
    chargers hold the bus at or under CVL and the battery current under CCL, covering the load
    first; the inverter takes at most DCL from the battery. An open BMS FET blocks its direction
    whatever the limits say.
    """
    p = pack.protection
    max_discharge = (limits.dcl or 0.0) if limits.allow_discharge and p.discharge_fet else 0.0
    ccl = (limits.ccl or 0.0) if limits.allow_charge and p.charge_fet else 0.0
    if limits.cvl is None:
        # The GX drops a battery without CVL as its BMS; in this system the chargers then stop.
        return 0.0, min(cond.load, max_discharge)
    # The highest battery current that keeps the bus at or under CVL; negative when the pack
    # already sits above it, and then the load must come from the battery.
    cv = (limits.cvl - pack.open_circuit_voltage) / (pack.total_resistance + cable)
    return _serve(cond, min(ccl, cv), max_discharge)


def _serve(cond: Conditions, battery_max: float, max_discharge: float) -> tuple[float, float]:
    """(charger, load served) with the battery current at most ``battery_max``, at least -DCL."""
    if battery_max < -max_discharge:
        # Even the inverter at DCL cannot pull the bus down to CVL: the chargers stay off.
        return 0.0, min(cond.load, max_discharge)
    served = min(cond.load, cond.charge_available + max_discharge)
    return min(cond.charge_available, max(0.0, served + battery_max)), served


def run(
    hours: float,
    profile: str | Profile,
    cfg: ChargeConfig = ChargeConfig(),
    *,
    cells: int = 16,
    seed: int = 0,
    dt: float = 5.0,
    pack: LoopPack | None = None,
    drop_compensation: float = 0.0,
    restarts: Sequence[float] = (),
) -> Trace:
    """Simulate ``hours`` of ``profile`` (a name from ``profiles.PROFILES`` or a function of time).

    ``pack`` replaces the one made from ``cells`` and ``seed``. ``drop_compensation`` is the cable
    drop between the chargers and the pack, in V at ``cfg.max_charge_current``: the drop that
    ``cfg.voltage_drop`` is there to compensate. The chargers regulate their own terminals, so
    the pack sees CVL less the drop at the present current. At each time in ``restarts`` (s) the
    daemon restarts: the charge state goes through the JSON it saves and everything else is lost.
    """
    capacity = LoopPack.capacity_ah if pack is None else pack.capacity_ah
    conditions = get_profile(profile, capacity) if isinstance(profile, str) else profile
    if pack is None:
        # A pack that has stood where it is since yesterday: at the ambient temperature.
        pack = LoopPack(cells=cells, seed=seed, temperature=conditions(0.0).ambient)
    cable = drop_compensation / cfg.max_charge_current if cfg.max_charge_current > 0 else 0.0
    trace = Trace(
        profile=profile if isinstance(profile, str) else "custom",
        dt=dt,
        cells=pack.cells,
        cell_max_voltage=cfg.cell_max_voltage,
        cell_ovp=pack.protection.cell_ovp,
    )
    state = initial_state()
    pending = sorted(restarts)
    for n in range(round(hours * 3600.0 / dt)):
        t = n * dt
        if pending and t >= pending[0]:
            pending.pop(0)
            state = restore(json.loads(json.dumps(snapshot(state, _EPOCH + t))), _EPOCH + t)
        sample = pack.sample()
        limits, state = step(sample, state, cfg, t)
        cond = conditions(t)
        charger, served = _dispatch(limits, pack, cond, cable)
        current = charger - served
        trace.t.append(t)
        volts = pack.cell_voltages(current)
        trace.cell_voltages.append(volts)
        trace.voltage.append(sum(volts))
        trace.bus_voltage.append(trace.voltage[-1] + current * cable)
        trace.current.append(current)
        trace.charger_current.append(charger)
        trace.charge_available.append(cond.charge_available)
        trace.load_served.append(served)
        trace.unserved.append(cond.load - served)
        trace.soc.append(pack.pack_soc)
        trace.temperature.append(pack.temperature)
        trace.ambient.append(cond.ambient)
        trace.cvl.append(limits.cvl)
        trace.ccl.append(limits.ccl)
        trace.dcl.append(limits.dcl)
        trace.charge_mode.append(limits.charge_mode)
        trace.charge_limitation.append(limits.charge_limitation)
        trace.discharge_limitation.append(limits.discharge_limitation)
        trace.reported_voltage.append(sum(sample.cell_voltages))
        trace.reported_max_cell.append(sample.max_cell)
        trace.reported_min_cell.append(sample.min_cell)
        trace.reported_min_temperature.append(min(sample.temperatures))
        trace.charge_fet.append(pack.protection.charge_fet)
        trace.discharge_fet.append(pack.protection.discharge_fet)
        pack.advance(dt, current, ambient=cond.ambient)
    return trace
