"""Days of sun, load and weather for the charge loop, as functions of simulated time.

Currents scale with the pack's capacity (C-rate), so a profile fills a 100 Ah 12 V pack as it
fills a 280 Ah 48 V one. Time 0 is midnight of the first day.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, replace

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


@dataclass(frozen=True, slots=True)
class Clouds:
    """Passing clouds: ``per_day`` times between 9:00 and 15:00 (drawn from ``seed``), the charge
    available falls to ``fraction`` of itself for ``seconds``, then comes back in one step, as
    the sun does from behind a cumulus."""

    per_day: int = 12
    fraction: float = 0.05
    seconds: float = 120.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.per_day < 0 or not 0.0 <= self.fraction <= 1.0 or self.seconds <= 0:
            raise ValueError("clouds need per_day >= 0, a fraction between 0 and 1 and seconds > 0")

    def starts(self, day: int) -> list[float]:
        """When the clouds of ``day`` (0 = the first) begin, in seconds since its midnight."""
        rng = random.Random(f"clouds {self.seed} {day}")
        return sorted(rng.uniform(9 * 3600.0, 15 * 3600.0 - self.seconds) for _ in range(self.per_day))


def clouded(profile: Profile, clouds: Clouds) -> Profile:
    """``profile`` with ``clouds`` passing in front of its sun."""
    days: dict[int, list[float]] = {}

    def conditions(t: float) -> Conditions:
        cond = profile(t)
        day = int(t // DAY)
        starts = days.get(day)
        if starts is None:
            starts = days[day] = clouds.starts(day)
        at = t - day * DAY
        if any(start <= at < start + clouds.seconds for start in starts):
            return replace(cond, charge_available=cond.charge_available * clouds.fraction)
        return cond

    return conditions


def with_load_steps(profile: Profile, amps: float, *, every: float = 1800.0, seconds: float = 60.0,
                    start: float = 12 * 3600.0, end: float = 18 * 3600.0) -> Profile:
    """``profile`` with ``amps`` more load for ``seconds`` every ``every`` s between ``start`` and
    ``end`` of each day (s since midnight): a kettle, a pump, a washing machine's heater."""

    def conditions(t: float) -> Conditions:
        cond = profile(t)
        at = t % DAY
        if start <= at < end and (at - start) % every < seconds:
            return replace(cond, load=cond.load + amps)
        return cond

    return conditions


def get_profile(name: str, capacity_ah: float) -> Profile:
    """The named profile for a pack of ``capacity_ah``; KeyError names the known ones."""
    try:
        fn = PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None
    return lambda t: fn(t, capacity_ah)
