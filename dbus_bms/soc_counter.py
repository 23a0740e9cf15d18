"""SoC by counting: dbus-bms's own coulomb counter for a BMS whose counter drifts, pure.

It starts from the BMS's SoC when nothing was saved, then integrates the measured current of the
accepted readings by trapezoid (``history.trapezoid``), the charge put in times the charge
efficiency (what a LiFePO4 cell stores of it; the rest goes into heat), the charge taken out in
full, against the pack's capacity. An interval longer than ``stale_after`` counts nothing, as in
the energy meters. It is clamped to 0..100 % and set to 100 % when charge control declares the pack
full (absorption done: ``reached_full``), which takes out whatever error the count gathered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from .history import trapezoid
from .model import BmsSettings, Sample

DEFAULT_EFFICIENCY = 0.99
# The saved form's precision (%): 0.001 % of a 280 Ah pack is 3 mAh.
_DIGITS = 3


@dataclass(frozen=True, slots=True)
class SocCount:
    """``soc`` (%) is None until a start (the BMS's SoC, or a full charge); ``capacity`` (Ah) the one
    it was last counted against, None while there is none; ``point`` the last accepted reading
    (monotonic time, A), not saved: after a restart the first reading starts a new interval."""

    soc: float | None = None
    capacity: float | None = None
    point: tuple[float, float] | None = None


def capacity_of(sample: Sample, settings: BmsSettings | None = None) -> float | None:
    """The capacity to count against (Ah): the BMS's full capacity, else its nominal capacity
    (``settings``, or those the reading carries); None when it reports neither."""
    if sample.capacity_full:
        return sample.capacity_full
    settings = sample.bms_settings or settings
    return settings.nominal_capacity if settings is not None and settings.nominal_capacity else None


def reached_full(since_full_before: float | None, since_full_after: float | None) -> bool:
    """Whether charge control declared the pack full in the step between the two values of its
    time since the last full charge (``ChargeState.since_full``): it starts again from 0 then."""
    return since_full_after is not None and (since_full_before is None or since_full_after < since_full_before)


def count(
    counter: SocCount, sample: Sample, now: float, *, capacity: float | None, efficiency: float,
    stale_after: float, full: bool = False,
) -> SocCount:
    """``counter`` with one fresh, accepted reading taken in at ``now`` (s, monotonic). ``capacity``:
    Ah (``capacity_of``), None: nothing is counted; ``full``: charge control declared the pack
    full at this reading (``reached_full``)."""
    soc = counter.soc
    if soc is None:
        soc = sample.soc
    elif counter.point is not None and sample.current is not None and capacity:
        then, current = counter.point
        dt = now - then
        if 0 < dt <= stale_after:
            charged, drawn = trapezoid(current, sample.current, dt / 3600.0)
            soc = min(100.0, max(0.0, soc + (charged * efficiency - drawn) / capacity * 100.0))
    if full:
        soc = 100.0
    point = None if sample.current is None else (now, sample.current)
    return replace(counter, soc=soc, capacity=capacity, point=point)


def published(sample: Sample, counter: SocCount) -> Sample:
    """The reading as it is published with the count: its SoC, remaining and full capacity (and so
    /ConsumedAmphours and /TimeToGo) the counter's; as it is while the counter has no SoC or capacity."""
    if counter.soc is None or not counter.capacity:
        return sample
    remaining = counter.capacity * counter.soc / 100.0
    return replace(sample, soc=round(counter.soc, 1), capacity_remaining=round(remaining, 2),
                   capacity_full=counter.capacity, consumed_ah=round(remaining - counter.capacity, 3))


def to_dict(counter: SocCount) -> dict[str, Any] | None:
    """The saved form; None while there is nothing to save."""
    return None if counter.soc is None else {"soc": round(counter.soc, _DIGITS)}


def from_dict(data: Any) -> SocCount:
    """The counter in a saved form; raises ValueError for anything that is not one."""
    if not isinstance(data, dict):
        raise ValueError(f"not an object: {data!r}")
    soc = data.get("soc")
    if isinstance(soc, bool) or not isinstance(soc, (int, float)) or not math.isfinite(soc) or not 0 <= soc <= 100:
        raise ValueError(f"soc = {soc!r} is not a number from 0 to 100")
    return SocCount(soc=float(soc))
