"""A LiFePO4 pack with a BMS for closed-loop charge simulation: cells, protection and balancer.

Unlike ``SimPack`` (which makes up its own current for the BMS simulators), a ``LoopPack`` is
driven: the charge loop decides the current each step from the limits the charge algorithm
published, and the pack answers with what a BMS would report next. Time is an argument, so days
of pack time take seconds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Literal

from ..model import BmsSettings, Sample
from .pack import ocv

# The shared curve ends at 3.60 V at 100 %, which lets a full cell sit just under a 3.65 V BMS
# limit. A real LiFePO4 cell pushed on past full runs away within minutes; above 99 % the curve
# steepens, and beyond 100 % (charge going into side reactions, not storage) it climbs to where
# no BMS would let it go, so over-voltage protection is what stops a careless charger.
_TOP = ((99.0, ocv(99.0)), (99.5, 3.57), (100.0, 3.65), (100.5, 3.90), (101.0, 4.30))
MAX_CELL_SOC = _TOP[-1][0]


def _top(soc: float) -> float:
    for (x0, y0), (x1, y1) in zip(_TOP, _TOP[1:]):
        if soc <= x1:
            return y0 + (y1 - y0) * (soc - x0) / (x1 - x0)
    return _TOP[-1][1]


# Both curves are straight between breakpoints on whole or half percents, so linear interpolation
# on a 0.1 % grid reproduces them exactly, at a fraction of the cost of a search: the loop asks
# for every cell's voltage every step of a week-long run. The repeated last point spares a bound
# check at MAX_CELL_SOC.
_STEP = 0.1
_GRID = [ocv(x) if x <= 99.0 else _top(x) for x in (i * _STEP for i in range(round(MAX_CELL_SOC / _STEP) + 1))]
_GRID.append(_GRID[-1])


def loop_ocv(soc: float) -> float:
    """Open-circuit cell voltage at ``soc`` percent (up to ``MAX_CELL_SOC``, i.e. overcharged)."""
    x = min(max(soc, 0.0), MAX_CELL_SOC) / _STEP
    i = int(x)
    y0 = _GRID[i]
    return y0 + (_GRID[i + 1] - y0) * (x - i)


@dataclass
class BmsProtection:
    """What the BMS itself does, whatever the chargers are told: FETs and balancer.

    Thresholds act on the cell voltages under current, as a real BMS measures them.
    """

    cell_ovp: float = 3.65
    cell_ovp_recover: float = 3.55
    cell_uvp: float = 2.50
    cell_uvp_recover: float = 2.90
    # Many BMSes ship with low-temperature charge protection off, leaving the cold to the
    # charge limits; set a temperature to have the BMS open its charge FET below it.
    charge_min_temperature: float | None = None
    charge_temperature_hysteresis: float = 2.0
    # Passive bleeds the high cells through resistors; active moves charge from the highest
    # cell to the lowest. 0 A means no balancer.
    balance_mode: Literal["passive", "active"] = "passive"
    balance_current: float = 0.1
    balance_start_voltage: float = 3.40
    balance_trigger: float = 0.010
    charge_fet: bool = True
    discharge_fet: bool = True
    over_voltage: bool = False
    under_voltage: bool = False
    too_cold: bool = False

    def update(self, volts: list[float], temperature: float) -> None:
        """Trip or recover the protections on these cell voltages and temperature."""
        high, low = max(volts), min(volts)
        if high >= self.cell_ovp:
            self.over_voltage = True
        elif high <= self.cell_ovp_recover:
            self.over_voltage = False
        if low <= self.cell_uvp:
            self.under_voltage = True
        elif low >= self.cell_uvp_recover:
            self.under_voltage = False
        if self.charge_min_temperature is None:
            self.too_cold = False
        elif temperature < self.charge_min_temperature:
            self.too_cold = True
        elif temperature >= self.charge_min_temperature + self.charge_temperature_hysteresis:
            self.too_cold = False
        self.charge_fet = not (self.over_voltage or self.too_cold)
        self.discharge_fet = not self.under_voltage

    def balance(self, volts: list[float]) -> list[float]:
        """Balancer current per cell, A taken out of the cell (negative: put in)."""
        amps = [0.0] * len(volts)
        high, low = max(volts), min(volts)
        if self.balance_current <= 0 or high < self.balance_start_voltage or high - low < self.balance_trigger:
            return amps
        if self.balance_mode == "active":
            amps[volts.index(high)] = self.balance_current
            amps[volts.index(low)] = -self.balance_current
        else:
            for i, v in enumerate(volts):
                if v >= self.balance_start_voltage and v - low >= self.balance_trigger:
                    amps[i] = self.balance_current
        return amps


@dataclass
class LoopPack:
    """N LiFePO4 cells in series behind a BMS; current > 0 charges, as in ``Sample``.

    Per-cell capacity, SoC and resistance are drawn from ``seed`` unless given, so a spread (and
    a runaway top cell near full) appears as in a real pack. ``weak_cell`` (0-based) is an aged
    cell: ``weak_capacity`` times the capacity and ``weak_resistance`` times the resistance drawn
    for it, so it leads the others at the top and sags first under load. ``reading_noise`` (V) is
    the BMS's measurement noise, uniform within ± that on each cell, drawn from ``seed``;
    ``soc_drift`` (%) is how far the BMS's SoC counter has drifted from the charge in the cells;
    it moves on by ``soc_drift_per_day`` (%) a day, and a BMS with a ``soc_full_voltage`` (V) sets
    its SoC to 100 % whenever a cell reaches it, as a JK does at its "SOC-100% voltage".
    """

    cells: int = 16
    capacity_ah: float = 280.0
    soc_percent: float = 50.0
    seed: int = 0
    capacity_spread: float = 0.02
    soc_spread: float = 1.5
    temperature: float = 20.0
    # A 280 Ah cell weighs ~5.4 kg at ~1000 J/(kg·K), 19 J/K per Ah; in a box it follows the
    # room over hours, not minutes.
    thermal_time_constant: float = 3 * 3600.0
    heat_capacity_per_ah: float = 19.0
    protection: BmsProtection = field(default_factory=BmsProtection)
    weak_cell: int | None = None
    weak_capacity: float = 0.8
    weak_resistance: float = 2.0
    reading_noise: float = 0.0
    soc_drift: float = 0.0
    soc_drift_per_day: float = 0.0
    soc_full_voltage: float | None = None
    # Whether the BMS reports its protection settings with each reading, as a JK does.
    reports_settings: bool = False
    soc: list[float] = field(default_factory=list)
    capacity: list[float] = field(default_factory=list)
    resistance: list[float] = field(default_factory=list)
    current: float = field(default=0.0, init=False)
    mosfet_temperature: float = field(default=0.0, init=False)
    balancing: list[bool] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        if not self.soc:
            self.soc = [self.soc_percent + rng.uniform(-self.soc_spread, self.soc_spread) for _ in range(self.cells)]
        if not self.capacity:
            self.capacity = [self.capacity_ah * (1 + rng.uniform(-self.capacity_spread, self.capacity_spread)) for _ in range(self.cells)]
        if not self.resistance:
            # Cell plus its share of busbars; smaller cells have proportionally more resistance.
            self.resistance = [rng.uniform(0.00018, 0.00030) * 280.0 / self.capacity_ah for _ in range(self.cells)]
        if not len(self.soc) == len(self.capacity) == len(self.resistance) == self.cells:
            raise ValueError(f"soc, capacity and resistance need one value per cell ({self.cells})")
        if self.weak_cell is not None:
            if not 0 <= self.weak_cell < self.cells:
                raise ValueError(f"weak_cell {self.weak_cell} is not one of the {self.cells} cells (0-based)")
            self.capacity[self.weak_cell] *= self.weak_capacity
            self.resistance[self.weak_cell] *= self.weak_resistance
        # Its own generator: noise on or off leaves the pack drawn from the seed the same.
        self._noise = random.Random(f"noise {self.seed}")
        self.balancing = [False] * self.cells
        self.mosfet_temperature = self.temperature
        self._ocv = [loop_ocv(s) for s in self.soc]
        self._volts = self.cell_voltages()
        self.protection.update(self._volts, self.temperature)

    @property
    def total_resistance(self) -> float:
        return sum(self.resistance)

    @property
    def open_circuit_voltage(self) -> float:
        return sum(self._ocv)

    @property
    def pack_soc(self) -> float:
        # A BMS counts coulombs for the whole string; the cells' mean, capped at full, is that count.
        return min(100.0, max(0.0, sum(self.soc) / self.cells))

    def cell_voltages(self, current: float | None = None) -> list[float]:
        """Terminal voltage of each cell at ``current`` (default: the present one)."""
        amps = self.current if current is None else current
        return [v + amps * r for v, r in zip(self._ocv, self.resistance)]

    def advance(self, dt: float, current: float, *, ambient: float | None = None) -> float:
        """Run ``current`` through the pack for ``dt`` seconds; returns the current that flowed.

        An open FET blocks its direction, whatever the charger or inverter wanted.
        """
        p = self.protection
        if (current > 0 and not p.charge_fet) or (current < 0 and not p.discharge_fet):
            current = 0.0
        self.current = current
        balance = p.balance(self.cell_voltages())
        scale = dt / 36.0
        soc, capacity, ocv, grid = self.soc, self.capacity, self._ocv, _GRID
        for i in range(self.cells):
            amps = current - balance[i]
            if amps:
                x = soc[i] + amps * scale / capacity[i]
                x = MAX_CELL_SOC if x > MAX_CELL_SOC else 0.0 if x < 0.0 else x
                soc[i] = x
                # loop_ocv, inlined: this loop is most of the pack's share of a simulated day.
                x /= _STEP
                j = int(x)
                y0 = grid[j]
                ocv[i] = y0 + (grid[j + 1] - y0) * (x - j)
        self.balancing = [a != 0.0 for a in balance]
        self._heat(dt, current, self.temperature if ambient is None else ambient)
        # Current and charge stay as they are until the next advance, so these are also the
        # voltages the next sample reports.
        self._volts = self.cell_voltages()
        p.update(self._volts, self.temperature)
        self.soc_drift += self.soc_drift_per_day * dt / 86400.0
        if self.soc_full_voltage is not None and max(self._volts) >= self.soc_full_voltage:
            self.soc_drift = 100.0 - self.pack_soc
        return current

    def _heat(self, dt: float, current: float, ambient: float) -> None:
        heat_capacity = self.heat_capacity_per_ah * self.capacity_ah * self.cells
        watts = current * current * self.total_resistance
        # Steady state is ambient plus the I²R loss over the box's thermal resistance (tau / C).
        target = ambient + watts * self.thermal_time_constant / heat_capacity
        self.temperature += (target - self.temperature) * (1.0 - math.exp(-dt / self.thermal_time_constant))
        # FETs and shunt on a small heatsink: about 8 K over the cells at 100 A, within minutes.
        mosfet_target = self.temperature + 0.08 * abs(current)
        self.mosfet_temperature += (mosfet_target - self.mosfet_temperature) * (1.0 - math.exp(-dt / 120.0))

    def sample(self) -> Sample:
        """What the BMS reports now, at its resolution: mV cells, 0.01 A, whole-percent SoC."""
        # round(v, 3) costs four times this, and this runs every step of a week-long simulation.
        if self.reading_noise > 0:
            noise, uniform = self.reading_noise, self._noise.uniform
            volts = [round((v + uniform(-noise, noise)) * 1000.0) / 1000.0 for v in self._volts]
        else:
            volts = [round(v * 1000.0) / 1000.0 for v in self._volts]
        soc = min(100.0, max(0.0, self.pack_soc + self.soc_drift))
        temperature = round(self.temperature, 1)
        return Sample(
            voltage=round(sum(volts), 2),
            current=round(self.current, 2),
            soc=round(soc),
            capacity_remaining=round(self.capacity_ah * soc / 100.0, 1),
            capacity_full=self.capacity_ah,
            cell_voltages=volts,
            cell_balancing=list(self.balancing),
            temperatures=[temperature, temperature],
            mosfet_temperature=round(self.mosfet_temperature, 1),
            charge_enabled=self.protection.charge_fet,
            discharge_enabled=self.protection.discharge_fet,
            balancing=any(self.balancing),
            bms_settings=self._settings() if self.reports_settings else None,
        )

    def _settings(self) -> BmsSettings:
        p = self.protection
        return BmsSettings(cell_ovp=p.cell_ovp, cell_ovp_recovery=p.cell_ovp_recover, cell_uvp=p.cell_uvp,
                           cell_uvp_recovery=p.cell_uvp_recover, charge_min_temperature=p.charge_min_temperature,
                           balance_start_voltage=p.balance_start_voltage, balance_trigger_voltage=p.balance_trigger,
                           cell_count=self.cells, nominal_capacity=self.capacity_ah)
