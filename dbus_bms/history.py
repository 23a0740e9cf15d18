"""A battery's history as the GX shows it (``/History/*``): the extremes it went through and the
energy meters, kept from fresh readings that passed every check, and its saved form.

Nothing here is taken from a reading that was refused, stale or distrusted: the caller hands
``update`` only readings charge control took in. The meters integrate by trapezoid between two
consecutive accepted readings, current for Ah, voltage × current for kWh; an interval in which the
line crosses zero is split at the crossing, so charge and discharge each keep their own part. After
more than ``stale_after`` without an accepted reading nothing is known of what flowed meanwhile, so
that interval counts nothing: a gap is skipped, never interpolated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from .model import Sample

_EXTREMES = (
    "min_cell_voltage", "max_cell_voltage", "min_voltage", "max_voltage", "min_temperature", "max_temperature",
)
_TOTALS = ("charged_energy", "discharged_energy", "ah_drawn", "ah_charged")
# Totals a file from an earlier version lacks: such a file loads, and the total starts at 0.
_ADDED_LATER = frozenset({"ah_charged"})
# The saved form's precision: finer than any BMS reports the extremes; the totals to 0.1 Wh and
# 1 mAh, so that what a restart rounds away is nothing beside the one interval a kill may lose
# (V, °C, kWh, Ah).
_DIGITS = {
    "min_cell_voltage": 3, "max_cell_voltage": 3, "min_voltage": 2, "max_voltage": 2, "min_temperature": 1,
    "max_temperature": 1, "charged_energy": 4, "discharged_energy": 4, "ah_drawn": 3, "ah_charged": 3,
}


@dataclass(frozen=True, slots=True)
class History:
    """Extremes (V, V, °C) are None until a reading carried the value; the totals count from the
    first reading: kWh charged and discharged, Ah taken out and put in (all >= 0). ``point`` is the
    last accepted reading (monotonic time, V, A) the next interval starts from; it is not saved (after
    a restart the first reading starts a new interval) and not compared."""

    min_cell_voltage: float | None = None
    max_cell_voltage: float | None = None
    min_voltage: float | None = None
    max_voltage: float | None = None
    min_temperature: float | None = None
    max_temperature: float | None = None
    charged_energy: float = 0.0
    discharged_energy: float = 0.0
    ah_drawn: float = 0.0
    ah_charged: float = 0.0
    # Not part of what the history is: two with the same figures are equal wherever they stand.
    point: tuple[float, float | None, float | None] | None = field(default=None, compare=False)


def _low(old: float | None, values: list[float]) -> float | None:
    return min([*values, *([] if old is None else [old])], default=None)


def _high(old: float | None, values: list[float]) -> float | None:
    return max([*values, *([] if old is None else [old])], default=None)


def trapezoid(a: float, b: float, span: float) -> tuple[float, float]:
    """The area under a straight line from ``a`` to ``b`` over ``span``, as (the part above zero,
    the part below zero), both >= 0: a line that crosses zero is split where it crosses."""
    if a >= 0 and b >= 0:
        return (a + b) / 2 * span, 0.0
    if a <= 0 and b <= 0:
        return 0.0, -(a + b) / 2 * span
    before = a / (a - b)  # the share of the span before the crossing
    first, second = a * before * span / 2, b * (1 - before) * span / 2
    return (first, -second) if a > 0 else (second, -first)


def update(history: History, sample: Sample, now: float, *, stale_after: float, cells_held: bool = False) -> History:
    """``history`` with one fresh, accepted reading taken in at ``now`` (s, monotonic). The interval
    since the last accepted reading counts only when it is at most ``stale_after`` s and both ends
    carry the current (and the voltage, for kWh). ``cells_held``: charge control held a cell of this
    reading back as physically impossible; its cells and its pack voltage then go into no extreme."""
    cells = [] if cells_held else list(sample.cell_voltages or ())
    volts = [] if cells_held or sample.voltage is None else [sample.voltage]
    temps = list(sample.temperatures or ())
    h = replace(
        history,
        min_cell_voltage=_low(history.min_cell_voltage, cells),
        max_cell_voltage=_high(history.max_cell_voltage, cells),
        min_voltage=_low(history.min_voltage, volts),
        max_voltage=_high(history.max_voltage, volts),
        min_temperature=_low(history.min_temperature, temps),
        max_temperature=_high(history.max_temperature, temps),
        point=(now, sample.voltage, sample.current),
    )
    if history.point is None or sample.current is None:
        return h
    then, voltage, current = history.point
    dt = now - then
    if current is None or not 0 < dt <= stale_after:
        return h
    charged, drawn = trapezoid(current, sample.current, dt / 3600.0)
    h = replace(h, ah_charged=h.ah_charged + charged, ah_drawn=h.ah_drawn + drawn)
    if voltage is None or sample.voltage is None:
        return h
    into, out = trapezoid(voltage * current, sample.voltage * sample.current, dt / 3.6e6)
    return replace(h, charged_energy=h.charged_energy + into, discharged_energy=h.discharged_energy + out)


def full_cycles(history: History, capacity: float | None) -> float | None:
    """Full cycles by throughput: the Ah taken out over ``capacity`` (Ah); None without a capacity."""
    return history.ah_drawn / capacity if capacity else None


def to_dict(history: History) -> dict[str, Any]:
    """The saved form: the extremes and totals, rounded (see ``_DIGITS``)."""
    out: dict[str, Any] = {}
    for name in (*_EXTREMES, *_TOTALS):
        value = getattr(history, name)
        out[name] = None if value is None else round(value, _DIGITS[name])
    return out


def from_dict(data: Any) -> History:
    """The history in a saved form; raises ValueError for anything that is not one."""
    if not isinstance(data, dict):
        raise ValueError(f"not an object: {data!r}")
    values: dict[str, float | None] = {}
    for name in (*_EXTREMES, *_TOTALS):
        value = data.get(name)
        if value is None and name in _EXTREMES:
            values[name] = None
            continue
        if value is None and name in _ADDED_LATER and name not in data:
            value = 0.0
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} = {value!r} is not a finite number")
        if name in _TOTALS and value < 0:
            raise ValueError(f"{name} = {value!r} is negative")
        values[name] = float(value)
    h = History(**values)
    for low, high in (("min_cell_voltage", "max_cell_voltage"), ("min_voltage", "max_voltage"),
                      ("min_temperature", "max_temperature")):
        a, b = getattr(h, low), getattr(h, high)
        if (a is None) != (b is None) or (a is not None and a > b):
            raise ValueError(f"{low} = {a!r} does not go with {high} = {b!r}")
    return h
