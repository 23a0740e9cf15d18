"""Whether a reading can be believed: the one judge every device's readings pass before anything
uses them.

Pure: no clock, no I/O. A reading is refused when a value is not a finite number or lies outside
what a battery can physically show (``WINDOWS``, the same for every BMS family), when its values
contradict each other (``_relations``), when it comes from another BMS than the one this battery
first read (identity pinning), or when it repeats identically while current flows (frozen data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..model import Sample

IMPLAUSIBLE, FOREIGN, FROZEN = "implausible", "foreign", "frozen"


@dataclass(frozen=True, slots=True)
class Window:
    """A Sample field and the values it can take; a list field is checked value by value.
    ``lo_open``: the lower bound itself is excluded (a pack of 0 V is no pack)."""

    field: str
    label: str  # how a message names it; a list field's label takes the 1-based index as {n}
    lo: float
    hi: float
    unit: str
    decimals: int
    lo_open: bool = False


# The physical windows. Wide enough for every chemistry and size a BMS of ours can read, tight
# enough that a misread field (a wrong layout, a corrupt record whose checksum matched by chance)
# lands outside:
# - cells 0.5-5.0 V: LTO runs from 1.5 V, Li-ion to 4.35 V; a 0 V cell is a broken sense lead or
#   a field read from the wrong offset, never a cell the charge control can steer by;
# - pack voltage above 0 and at most 1000 V (above every high-voltage battery stack on the market);
# - 5000 A covers the largest LFP banks' surge; the power window is its product with 1000 V;
# - temperatures -50..+120 °C: no cell or MOSFET in operation is outside, JK's "no sensor" is
#   already None;
# - capacities under 100,000 Ah (a bank of 350 cells of 280 Ah in parallel); a pack at SoC 0 may
#   report 0 Ah remaining, a full capacity of 0 is no capacity;
# - cycles under 100,000: LFP cells are rated for 6,000-8,000;
# - a cell's resistance with its connection at most 1 Ω: a 280 Ah cell has about 0.2 mΩ, the
#   smallest cells a balancer serves tens of mΩ; an open sense wire reads far above.
WINDOWS: tuple[Window, ...] = (
    Window("cell_voltages", "cell {n}", 0.5, 5.0, "V", 3),
    Window("voltage", "voltage", 0.0, 1000.0, "V", 2, lo_open=True),
    Window("current", "current", -5000.0, 5000.0, "A", 2),
    Window("power", "power", -5_000_000.0, 5_000_000.0, "W", 0),
    Window("soc", "soc", 0.0, 100.0, "%", 0),
    Window("soh", "soh", 0.0, 100.0, "%", 0),
    Window("capacity_remaining", "capacity remaining", 0.0, 100_000.0, "Ah", 1),
    Window("capacity_full", "capacity full", 0.0, 100_000.0, "Ah", 1, lo_open=True),
    Window("cycles", "cycles", 0.0, 100_000.0, "", 0),
    Window("temperatures", "temperature {n}", -50.0, 120.0, "°C", 1),
    Window("mosfet_temperature", "mosfet temperature", -50.0, 120.0, "°C", 1),
    Window("cell_resistances", "cell {n} resistance", 0.0, 1.0, "Ω", 4),
    # A battery monitor counts the charge taken out since full as 0 or less, never more than a bank holds.
    Window("consumed_ah", "consumed Ah", -100_000.0, 0.0, "Ah", 1),
)
# The BMS's own settings (Sample.bms_settings), where it reports them: a misread protection would
# move charge control's ceilings, so it is judged like the reading itself.
SETTINGS_WINDOWS: tuple[Window, ...] = (
    Window("cell_ovp", "BMS cell over-voltage protection", 0.5, 5.0, "V", 3),
    Window("cell_ovp_recovery", "BMS cell over-voltage recovery", 0.5, 5.0, "V", 3),
    Window("cell_uvp", "BMS cell under-voltage protection", 0.5, 5.0, "V", 3),
    Window("cell_uvp_recovery", "BMS cell under-voltage recovery", 0.5, 5.0, "V", 3),
    Window("max_charge_current", "BMS charge current limit", 0.0, 5000.0, "A", 1),
    Window("max_discharge_current", "BMS discharge current limit", 0.0, 5000.0, "A", 1),
    Window("charge_max_temperature", "BMS charge over-temperature protection", -50.0, 120.0, "°C", 1),
    Window("charge_min_temperature", "BMS charge under-temperature protection", -50.0, 120.0, "°C", 1),
    Window("discharge_max_temperature", "BMS discharge over-temperature protection", -50.0, 120.0, "°C", 1),
    Window("discharge_min_temperature", "BMS discharge under-temperature protection", -50.0, 120.0, "°C", 1),
    Window("balance_start_voltage", "BMS balance start voltage", 0.0, 5.0, "V", 3),
    Window("balance_trigger_voltage", "BMS balance trigger voltage", 0.0, 5.0, "V", 3),
    Window("nominal_capacity", "BMS nominal capacity", 0.0, 100_000.0, "Ah", 1),
)

MAX_CELLS = 64
# The BMS measures the pack voltage at its own terminals and each cell at its sense leads: under
# 200 A, shunt, MOSFETs and a dozen busbars put up to ~0.7 V between the two, and the cells are
# sampled one after another while the current moves. A misread (a wrong layout, a lost cell) is
# off by volts. So: at most 1 V or 5 % of the pack voltage apart, whichever is more.
SUM_TOLERANCE_V, SUM_TOLERANCE_SHARE = 1.0, 0.05
# A BMS's configured current limit is where it starts its overcurrent delay, not a wall: inverter
# start-up surges pass well above it for a moment. Three times the limit does not happen in a
# real reading.
LIMIT_FACTOR = 3.0
# A remaining capacity above the full one is a BMS whose counter ran past full; half again as much
# is a misread.
REMAINING_FACTOR = 1.5
# Below this current a pack at rest can show the same cells and current for minutes.
FROZEN_MIN_CURRENT = 0.5


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a reading is refused: its kind (``implausible``, ``foreign`` or ``frozen``) and what failed."""

    kind: str
    problems: tuple[str, ...]

    @property
    def message(self) -> str:
        shown = ", ".join(self.problems[:3])
        more = len(self.problems) - 3
        return f"{shown} and {more} more" if more > 0 else shown


def _number(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}" if math.isfinite(value) else str(value)


def _with_unit(value: float, w: Window) -> str:
    return f"{_number(value, w.decimals)} {w.unit}".rstrip()


def _range(w: Window) -> str:
    """``0.5..5.0 V``, ``0..100 %``: both bounds alike."""
    digits = 0 if w.lo.is_integer() and w.hi.is_integer() else 1
    return f"{w.lo:.{digits}f}..{w.hi:.{digits}f} {w.unit}".rstrip()


def _check(w: Window, label: str, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{label} = {value!r} is not a number"
    if not math.isfinite(value):
        return f"{label} = {_with_unit(value, w)}"
    if w.lo_open and value <= w.lo:
        return f"{label} = {_with_unit(value, w)} is not above {w.lo:g} {w.unit}".rstrip()
    if not w.lo <= value <= w.hi:
        return f"{label} = {_with_unit(value, w)} is outside {_range(w)}"
    return None


def window_problems(sample: Sample) -> list[str]:
    """Every value of ``sample`` that is not a finite number inside its window."""
    problems = []
    for w in WINDOWS:
        value = getattr(sample, w.field)
        if value is None:
            continue
        if isinstance(value, list):
            problems += [p for n, v in enumerate(value, 1) if (p := _check(w, w.label.format(n=n), v))]
        elif problem := _check(w, w.label, value):
            problems.append(problem)
    if sample.bms_settings is not None:
        for w in SETTINGS_WINDOWS:
            value = getattr(sample.bms_settings, w.field)
            if value is not None and (problem := _check(w, w.label, value)):
                problems.append(problem)
    return problems


def _relations(sample: Sample) -> list[str]:
    """The values of a reading against each other; only called once every value is in its window."""
    problems = []
    cells = sample.cell_voltages
    if cells is not None and not 1 <= len(cells) <= MAX_CELLS:
        problems.append(f"cell count = {len(cells)} is outside 1..{MAX_CELLS}")
    resistances = sample.cell_resistances
    if resistances is not None and len(resistances) != len(cells or ()):
        problems.append(f"{len(resistances)} cell resistances for {len(cells or ())} cells")
    if cells and sample.voltage is not None:
        total = sum(cells)
        tolerance = max(SUM_TOLERANCE_V, SUM_TOLERANCE_SHARE * sample.voltage)
        if abs(total - sample.voltage) > tolerance:
            problems.append(
                f"sum of cells {total:.2f} V against pack {sample.voltage:.2f} V (more than {tolerance:.2f} V apart)"
            )
    current = sample.current
    if current is not None:
        bms = sample.bms_settings
        limit, which = (
            (bms.max_charge_current if bms else None, "charge") if current > 0
            else (bms.max_discharge_current if bms else None, "discharge")
        )
        if limit and abs(current) > LIMIT_FACTOR * limit:
            problems.append(f"current = {current:.2f} A is over {LIMIT_FACTOR:g} × the BMS's {which} limit of {limit:g} A")
    full, remaining = sample.capacity_full, sample.capacity_remaining
    if full is not None and remaining is not None and remaining > REMAINING_FACTOR * full:
        problems.append(
            f"capacity remaining {remaining:.1f} Ah is over {REMAINING_FACTOR:g} × capacity full {full:.1f} Ah"
        )
    return problems


class ReadingJudge:
    """Judges the readings of one battery, for the life of the device that holds it.

    The first reading it accepts pins the BMS's serial and cell count; a later one with another
    serial or cell count is from another BMS (a renumbered USB adapter, a neighbour's JK) and is
    refused as ``foreign``. A serial first seen after readings without one is pinned then; a
    reading that does not carry a value is not compared on it. ``frozen_polls`` readings in a row
    with the same cells and current as the one before, while at least 0.5 A flows, are ``frozen``
    (0: never); any change starts the count again.
    """

    def __init__(self, *, frozen_polls: int = 0) -> None:
        self.frozen_polls = frozen_polls
        self.serial: str | None = None
        self.cell_count: int | None = None
        self._last: tuple[tuple[float, ...], float] | None = None
        self._repeats = 0

    def judge(self, sample: Sample) -> Verdict | None:
        """None when ``sample`` can be believed (and then it pins the identity), else why not.
        An implausible or foreign reading changes nothing the judge holds; a frozen one goes on
        counting, so the data stays refused until it moves."""
        serial = sample.device.serial if sample.device else None
        if serial is not None and self.serial is not None and serial != self.serial:
            return Verdict(FOREIGN, (f"serial {serial!r} is not the pinned {self.serial!r}",))
        problems = window_problems(sample)
        if not problems:
            problems = _relations(sample)
        if problems:
            return Verdict(IMPLAUSIBLE, tuple(problems))
        cells = sample.cell_voltages
        if cells is not None and self.cell_count is not None and len(cells) != self.cell_count:
            return Verdict(FOREIGN, (f"{len(cells)} cells where the BMS had {self.cell_count}",))
        frozen = self._frozen(sample)
        if frozen is not None:
            return frozen
        self.serial = self.serial or serial
        if cells is not None and self.cell_count is None:
            self.cell_count = len(cells)
        return None

    def _frozen(self, sample: Sample) -> Verdict | None:
        current = sample.current
        if current is None or sample.cell_voltages is None or abs(current) < FROZEN_MIN_CURRENT:
            self._last, self._repeats = None, 0
            return None
        key = (tuple(sample.cell_voltages), current)
        self._repeats = self._repeats + 1 if key == self._last else 0
        self._last = key
        if self.frozen_polls and self._repeats >= self.frozen_polls:
            return Verdict(
                FROZEN, (f"cells and current unchanged for {self._repeats} polls at {current:.2f} A",)
            )
        return None
