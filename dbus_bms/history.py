"""A battery's history as the GX shows it (``/History/*``): the extremes it went through and the
energy in and out, kept from fresh readings that passed every check, and its saved form.

Nothing here is taken from a reading that was refused, stale or distrusted: the caller hands
``update`` only readings charge control took in. The energy and charge counts integrate each
reading over the time since the one before; after a gap (``dt`` None) nothing is known of what
flowed meanwhile, so nothing is counted for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from .model import Sample

_EXTREMES = (
    "min_cell_voltage", "max_cell_voltage", "min_voltage", "max_voltage", "min_temperature", "max_temperature",
)
_TOTALS = ("charged_energy", "discharged_energy", "ah_drawn")
# The saved form's precision: finer than any BMS reports the extremes, and coarse enough on the
# totals that a pack at rest saves nothing (V, °C, kWh, Ah).
_DIGITS = {
    "min_cell_voltage": 3, "max_cell_voltage": 3, "min_voltage": 2, "max_voltage": 2, "min_temperature": 1,
    "max_temperature": 1, "charged_energy": 2, "discharged_energy": 2, "ah_drawn": 1,
}


@dataclass(frozen=True, slots=True)
class History:
    """Extremes (V, V, °C) are None until a reading carried the value; the totals count from the
    first reading: kWh charged and discharged, Ah taken out (>= 0)."""

    min_cell_voltage: float | None = None
    max_cell_voltage: float | None = None
    min_voltage: float | None = None
    max_voltage: float | None = None
    min_temperature: float | None = None
    max_temperature: float | None = None
    charged_energy: float = 0.0
    discharged_energy: float = 0.0
    ah_drawn: float = 0.0


def _low(old: float | None, values: list[float]) -> float | None:
    return min([*values, *([] if old is None else [old])], default=None)


def _high(old: float | None, values: list[float]) -> float | None:
    return max([*values, *([] if old is None else [old])], default=None)


def update(history: History, sample: Sample, dt: float | None, *, cells_held: bool = False) -> History:
    """``history`` with one fresh, accepted reading taken in. ``dt``: seconds since the reading
    before, None after a gap. ``cells_held``: charge control held a cell of this reading back as
    physically impossible; its cells and its pack voltage then go into no extreme."""
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
    )
    if dt is None or dt <= 0 or sample.current is None:
        return h
    drawn = max(0.0, -sample.current) * dt / 3600.0
    h = replace(h, ah_drawn=h.ah_drawn + drawn)
    if sample.voltage is None:
        return h
    kwh = sample.voltage * sample.current * dt / 3.6e6
    if kwh >= 0:
        return replace(h, charged_energy=h.charged_energy + kwh)
    return replace(h, discharged_energy=h.discharged_energy - kwh)


def to_dict(history: History) -> dict[str, Any]:
    """The saved form: every field, rounded (see ``_DIGITS``)."""
    out: dict[str, Any] = {}
    for f in fields(History):
        value = getattr(history, f.name)
        out[f.name] = None if value is None else round(value, _DIGITS[f.name])
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
