"""Days of sun, load and weather for the charge loop, as functions of simulated time.

Currents scale with the pack's capacity (C-rate), so a profile fills a 100 Ah 12 V pack as it
fills a 280 Ah 48 V one. Time 0 is midnight of the first day.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

DAY = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Conditions:
    """The world around the pack at one moment."""

    charge_available: float  # A the chargers could deliver into the DC bus (sun, grid)
    load: float  # A the house wants from the DC bus (inverter input)
    ambient: float  # °C around the pack


Profile = Callable[[float], Conditions]


def _hour(t: float) -> float:
    return (t % DAY) / 3600.0


def _pv(hour: float, peak: float) -> float:
    # A clear day: a sine bell from sunrise at 6:00 to sunset at 18:00.
    return peak * math.sin(math.pi * (hour - 6.0) / 12.0) if 6.0 < hour < 18.0 else 0.0


def _house(hour: float, capacity: float) -> float:
    # Fridge and standby all day, a bump for breakfast and a bigger one for the evening.
    load = 0.025
    if 6.5 <= hour < 8.0:
        load += 0.03
    if 17.5 <= hour < 22.0:
        load += 0.05
    return load * capacity


def solar_day(t: float, capacity: float) -> Conditions:
    """PV peaking at 0.35 C, enough to fill the pack by early afternoon, and a modest house load."""
    h = _hour(t)
    ambient = 18.0 + 6.0 * math.cos(2 * math.pi * (h - 15.0) / 24.0)
    return Conditions(_pv(h, 0.35 * capacity), _house(h, capacity), ambient)


def constant_load(t: float, capacity: float) -> Conditions:
    """A steady 0.05 C discharge, recharged from the grid at up to 0.3 C from 22:00 to 6:00."""
    h = _hour(t)
    grid = 0.3 * capacity if h >= 22.0 or h < 6.0 else 0.0
    return Conditions(grid, 0.05 * capacity, 20.0)


def cold_night(t: float, capacity: float) -> Conditions:
    """The solar day outdoors in winter: -6 °C before dawn, +12 °C in the early afternoon."""
    h = _hour(t)
    ambient = 3.0 + 9.0 * math.cos(2 * math.pi * (h - 14.0) / 24.0)
    return Conditions(_pv(h, 0.35 * capacity), _house(h, capacity), ambient)


PROFILES: dict[str, Callable[[float, float], Conditions]] = {
    "solar-day": solar_day,
    "constant-load": constant_load,
    "cold-night": cold_night,
}


def get_profile(name: str, capacity_ah: float) -> Profile:
    """The named profile for a pack of ``capacity_ah``; KeyError names the known ones."""
    try:
        fn = PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None
    return lambda t: fn(t, capacity_ah)
