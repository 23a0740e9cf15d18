"""The charge algorithm in a closed loop with a simulated pack, chargers and inverter.

Each step the BMS reports (``LoopPack.sample``), the algorithm publishes its limits
(``charge.limits.step``), and a Victron-like system takes them up: the chargers regulate the
voltage to CVL and the current to CCL (or, fed-in DC-coupled MPPTs, CVL only), the inverter draws
at most DCL. Then the pack moves on. Events a real system meets can be injected: daemon restarts
and crash loops, a glitch reading, a BMS gone quiet, clouds (``profiles.clouded``). Days of
simulated time take seconds, so settings can be tuned against weeks of weather.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..charge.config import ChargeConfig
from ..charge.limits import initial_state, step
from ..charge.state import restore, snapshot
from ..charge.types import Limits
from ..model import Sample
from .loop_pack import LoopPack
from .profiles import DAY, Clouds, Conditions, Profile, clouded, get_profile

# The wall clock at simulated midnight of day one, for the dates the saved state keeps.
_EPOCH = 1_800_000_000.0


@dataclass(frozen=True, slots=True)
class Charger:
    """How the chargers take the published limits.

    ``obeys_ccl`` False is a DC-coupled MPPT with feed-in of excess PV: it follows CVL only, up to
    what the sun gives, whatever CCL says (the inverter exports the rest). ``offset`` (V) is where
    the chargers regulate the bus relative to CVL: a few mV over or under is normal calibration.
    ``uptake`` (s): the limits are taken up only on these boundaries of the clock and held in
    between, as DVCC does every 3 s; 0 takes them up the moment they are published.
    """

    obeys_ccl: bool = True
    offset: float = 0.0
    uptake: float = 0.0

    def __post_init__(self) -> None:
        if not self.uptake >= 0:
            raise ValueError(f"uptake must be at least 0 s, not {self.uptake}")


DVCC = Charger(uptake=3.0)
FEED_IN = Charger(obeys_ccl=False, uptake=3.0)


@dataclass(frozen=True, slots=True)
class Glitch:
    """One reading in which cell ``cell`` (0-based) reports ``volts``, at the first step at or after
    ``at`` (s); the next reading is true again."""

    at: float
    cell: int = 0
    volts: float = 3.60


@dataclass(kw_only=True)
class StageTimeline:
    """The rows every loop's trace has, one per step at its start (currents in A, battery current > 0
    charging; ``bus_voltage`` where the chargers and inverter sit), and what they say of the stages
    and the unserved load; shared by the one-pack and the group trace."""

    profile: str
    dt: float
    t: list[float] = field(default_factory=list)
    bus_voltage: list[float] = field(default_factory=list)
    current: list[float] = field(default_factory=list)
    charger_current: list[float] = field(default_factory=list)
    load_served: list[float] = field(default_factory=list)
    unserved: list[float] = field(default_factory=list)
    cvl: list[float | None] = field(default_factory=list)
    ccl: list[float | None] = field(default_factory=list)
    dcl: list[float | None] = field(default_factory=list)
    charge_mode: list[str] = field(default_factory=list)
    charge_limitation: list[str] = field(default_factory=list)
    discharge_limitation: list[str] = field(default_factory=list)

    @property
    def hours(self) -> list[float]:
        return [t / 3600.0 for t in self.t]

    def hours_per_mode(self) -> dict[str, float]:
        """Simulated hours spent in each charge mode, in order of first appearance."""
        counts = Counter(self.charge_mode)
        return {mode: counts[mode] * self.dt / 3600.0 for mode in dict.fromkeys(self.charge_mode)}

    def unserved_ah(self) -> float:
        return sum(self.unserved) * self.dt / 3600.0

    def stages(self) -> list[str]:
        """The charge stage of each step, without its suffixes (cell OVP, top balance, fail-safe)."""
        return [mode.split(" (")[0].split(" +")[0] for mode in self.charge_mode]

    def time_to_float(self) -> float | None:
        """Hours from the start of the run until absorption ended (float transition or float began)."""
        for t, stage in zip(self.t, self.stages()):
            if stage in ("Float transition", "Float"):
                return (t - self.t[0]) / 3600.0
        return None


@dataclass
class Trace(StageTimeline):
    """One row per step, at its start; currents in A (battery current > 0 charging), voltages in V.

    Cell and pack voltages are at the pack terminals under the step's current, as the BMS
    measures them; ``bus_voltage`` is where the chargers and inverter sit, across the cable.
    """

    cells: int
    cell_max_voltage: float
    cell_ovp: float
    top_balance_cell_voltage: float = 3.55
    # When the daemon restarted, a glitch reading came, and the BMS was silent (s).
    restarts: list[float] = field(default_factory=list)
    glitches: list[float] = field(default_factory=list)
    silent: list[bool] = field(default_factory=list)
    cell_voltages: list[list[float]] = field(default_factory=list)
    voltage: list[float] = field(default_factory=list)
    charge_available: list[float] = field(default_factory=list)
    soc: list[float] = field(default_factory=list)
    temperature: list[float] = field(default_factory=list)
    ambient: list[float] = field(default_factory=list)
    # What the BMS reported to the algorithm at the step (before the step's current flowed).
    reported_voltage: list[float] = field(default_factory=list)
    reported_max_cell: list[float] = field(default_factory=list)
    reported_min_cell: list[float] = field(default_factory=list)
    reported_min_temperature: list[float] = field(default_factory=list)
    charge_fet: list[bool] = field(default_factory=list)
    discharge_fet: list[bool] = field(default_factory=list)

    def max_cell(self) -> tuple[float, int, float]:
        """The highest cell voltage reached: volts, cell number (1-based), hour."""
        best = max(range(len(self.t)), key=lambda i: max(self.cell_voltages[i]))
        volts = self.cell_voltages[best]
        top = max(volts)
        return top, volts.index(top) + 1, self.t[best] / 3600.0

    def fet_openings(self, fets: list[bool]) -> int:
        """How often a FET went from closed (conducting) to open."""
        return sum(1 for a, b in zip(fets, fets[1:]) if a and not b)

    # --- The figures charge control is judged by ---------------------------------------------------

    def _per_day(self) -> tuple[list[float], int]:
        """Zeros, one per calendar day the run touches, and the number of its first day."""
        first = int(self.t[0] // DAY) if self.t else 0
        last = int(self.t[-1] // DAY) if self.t else 0
        return [0.0] * (last - first + 1), first

    def entries(self, stage: str) -> list[int]:
        """The steps at which the charge stage became ``stage``."""
        stages = self.stages()
        return [i for i in range(1, len(stages)) if stages[i] == stage and stages[i - 1] != stage]

    def absorptions_per_day(self) -> list[int]:
        """How many absorptions began in each calendar day of the run (partial days included)."""
        counts, first = self._per_day()
        for i in self.entries("Absorption"):
            counts[int(self.t[i] // DAY) - first] += 1
        return [int(n) for n in counts]

    def _cvl_moves(self) -> list[tuple[int, float]]:
        """(step, change) for each step at which the published CVL moved."""
        cvl = self.cvl
        return [(i, b - a) for i, (a, b) in enumerate(zip(cvl, cvl[1:]), 1)
                if a is not None and b is not None and abs(b - a) > 1e-9]

    def cvl_reversals_per_hour(self, mode: str | None = None) -> float:
        """How often the published CVL turned (rising to falling or back) per hour, counted over the
        steps whose charge mode contains ``mode`` (all steps if None); 0 when there are none."""
        inside = [mode is None or mode in m for m in self.charge_mode]
        hours = sum(inside) * self.dt / 3600.0
        moves = self._cvl_moves()
        turns = sum(1 for (_, a), (i, b) in zip(moves, moves[1:]) if inside[i] and (a > 0) != (b > 0))
        return turns / hours if hours else 0.0

    def largest_cvl_step(self) -> tuple[float, float]:
        """The largest change of the published CVL in one step, except the over-voltage cuts (a fall
        in a step whose reading had a cell over its limit): volts (signed), hour."""
        best, hour = 0.0, 0.0
        for i, change in self._cvl_moves():
            top = self.top_balance_cell_voltage if "+ top balance" in self.charge_mode[i - 1] else self.cell_max_voltage
            if change < 0 and self.reported_max_cell[i] > top:
                continue
            if abs(change) > abs(best):
                best, hour = change, self.t[i] / 3600.0
        return best, hour

    def hours_with_a_cell_at(self, volts: float) -> list[float]:
        """Hours per day (as ``absorptions_per_day``) during which some cell was at ``volts`` or over."""
        hours, first = self._per_day()
        for t, cells in zip(self.t, self.cell_voltages):
            if max(cells) >= volts:
                hours[int(t // DAY) - first] += self.dt / 3600.0
        return hours


def dispatch(
    limits: Limits, cond: Conditions, charger: Charger, *, charge_fet: bool, discharge_fet: bool,
    current_at: Callable[[float], float],
) -> tuple[float, float]:
    """What the chargers deliver and the inverter serves this step, obeying the limits: (charger,
    load served). ``charge_fet``/``discharge_fet``: whether the battery lets current through in
    that direction at all; ``current_at(volts)``: the battery current with the bus held at ``volts``.

    The chargers hold the bus at or under CVL (plus their offset) and the battery current under CCL
    (unless they ignore it), covering the load first; the inverter takes at most DCL from the
    battery. An open BMS FET blocks its direction whatever the limits say.
    """
    max_discharge = (limits.dcl or 0.0) if limits.allow_discharge and discharge_fet else 0.0
    if not charge_fet:
        ccl = 0.0
    elif not charger.obeys_ccl:
        ccl = math.inf
    else:
        ccl = (limits.ccl or 0.0) if limits.allow_charge else 0.0
    if limits.cvl is None:
        # The GX drops a battery without CVL as its BMS; in this system the chargers then stop.
        return 0.0, min(cond.load, max_discharge)
    # The highest battery current that keeps the bus at or under CVL; negative when the battery
    # already sits above it, and then the load must come from the battery.
    return _serve(cond, min(ccl, current_at(limits.cvl + charger.offset)), max_discharge)


def pack_dispatch(
    limits: Limits, pack: LoopPack, cond: Conditions, cable: float, charger: Charger
) -> tuple[float, float]:
    """``dispatch`` for one pack ``cable`` ohms away from the bus the chargers and inverter share."""
    p = pack.protection
    return dispatch(limits, cond, charger, charge_fet=p.charge_fet, discharge_fet=p.discharge_fet,
                    current_at=lambda volts: (volts - pack.open_circuit_voltage) / (pack.total_resistance + cable))


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
    charger: Charger = Charger(),
    clouds: Clouds | None = None,
    restarts: Sequence[float] = (),
    restart_every: float = 0.0,
    glitches: Sequence[Glitch] = (),
    silences: Sequence[tuple[float, float]] = (),
    start: float = 0.0,
) -> Trace:
    """Simulate ``hours`` of ``profile`` (a name from ``profiles.PROFILES`` or a function of time).

    ``pack`` replaces the one made from ``cells`` and ``seed``. ``drop_compensation`` is the cable
    drop between the chargers and the pack, in V at ``cfg.max_charge_current``: the drop that
    ``cfg.voltage_drop`` is there to compensate. The chargers regulate their own terminals, so
    the pack sees CVL less the drop at the present current. ``charger`` says how they take the
    limits; ``clouds`` pass in front of the profile's sun. At each time in ``restarts`` (s), and
    every ``restart_every`` s if that is positive (a crash loop), the daemon restarts: the charge
    state goes through the JSON it saves and everything else is lost. ``glitches`` are single bad
    readings; during each (start, end) of ``silences`` (s) the BMS does not answer. The run
    begins ``start`` s after midnight of day one; every time above is on that clock.
    """
    capacity = LoopPack.capacity_ah if pack is None else pack.capacity_ah
    conditions = get_profile(profile, capacity) if isinstance(profile, str) else profile
    if clouds is not None:
        conditions = clouded(conditions, clouds)
    if pack is None:
        # A pack that has stood where it is since yesterday: at the ambient temperature.
        pack = LoopPack(cells=cells, seed=seed, temperature=conditions(start).ambient)
    for glitch in glitches:
        if not 0 <= glitch.cell < pack.cells:
            raise ValueError(f"glitch cell {glitch.cell} is not one of the {pack.cells} cells (0-based)")
    cable = drop_compensation / cfg.max_charge_current if cfg.max_charge_current > 0 else 0.0
    trace = Trace(
        profile=profile if isinstance(profile, str) else "custom",
        dt=dt,
        cells=pack.cells,
        cell_max_voltage=cfg.cell_max_voltage,
        cell_ovp=pack.protection.cell_ovp,
        top_balance_cell_voltage=cfg.top_balance_cell_voltage,
    )
    state = initial_state()
    pending = sorted(restarts)
    next_crash = start + restart_every if restart_every > 0 else math.inf
    glitching = sorted(glitches, key=lambda g: g.at)
    uptake = charger.uptake
    seen: Limits | None = None  # the limits the chargers and inverter work to, taken up at seen_at
    seen_at = -math.inf
    previous: Limits | None = None
    reported: Sample | None = None
    for n in range(round(hours * 3600.0 / dt)):
        t = start + n * dt
        restart = False
        while pending and t >= pending[0]:
            pending.pop(0)
            restart = True
        if t >= next_crash:
            # The next one after this step, however many fell inside it.
            next_crash += restart_every * (math.floor((t - next_crash) / restart_every) + 1)
            restart = True
        if restart:
            state = restore(json.loads(json.dumps(snapshot(state, _EPOCH + t))), _EPOCH + t)
            trace.restarts.append(t)
        silent = any(begin <= t < end for begin, end in silences)
        sample = None if silent else pack.sample()
        if sample is not None and glitching and t >= glitching[0].at:
            glitch = glitching.pop(0)
            assert sample.cell_voltages is not None
            sample.cell_voltages[glitch.cell] = glitch.volts
            sample.voltage = round(sum(sample.cell_voltages), 2)
            trace.glitches.append(t)
        limits, state = step(sample, state, cfg, t)
        if uptake <= 0:
            seen = limits
        else:
            boundary = math.floor(t / uptake) * uptake
            if seen is None or boundary > seen_at:
                # At a boundary between two steps the limits of the earlier one were in force.
                seen = limits if seen is None or boundary >= t else previous
                seen_at = boundary
        previous = limits
        cond = conditions(t)
        charger_amps, served = pack_dispatch(seen, pack, cond, cable, charger)
        current = charger_amps - served
        reported = sample if sample is not None else reported
        trace.t.append(t)
        volts = pack.cell_voltages(current)
        trace.cell_voltages.append(volts)
        trace.voltage.append(sum(volts))
        trace.bus_voltage.append(trace.voltage[-1] + current * cable)
        trace.current.append(current)
        trace.charger_current.append(charger_amps)
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
        trace.silent.append(silent)
        # Silent: what the algorithm last had.
        cells_seen = reported.cell_voltages if reported is not None and reported.cell_voltages else volts
        trace.reported_voltage.append(sum(cells_seen))
        trace.reported_max_cell.append(max(cells_seen))
        trace.reported_min_cell.append(min(cells_seen))
        trace.reported_min_temperature.append(min(reported.temperatures) if reported is not None and reported.temperatures else pack.temperature)
        trace.charge_fet.append(pack.protection.charge_fet)
        trace.discharge_fet.append(pack.protection.discharge_fet)
        pack.advance(dt, current, ambient=cond.ambient)
    return trace
