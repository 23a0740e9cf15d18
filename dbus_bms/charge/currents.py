"""Charge and discharge current limits (CCL, DCL): the lowest of every limit, each with its reason.

Reductions are applied in the cycle that sees them. Rising limits recover in three stages so a
cell that sits at a table's knee does not switch the chargers on and off every poll: from 0 only
once the limit is worth it (a share of the maximum), then a hold after the last reduction, then a
ramp in A/s.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import Sample
from .config import ChargeConfig
from .tables import Table, interpolate


@dataclass(frozen=True, slots=True)
class Shaped:
    value: float
    reason: str
    cut_at: float | None


def _binding(candidates: list[tuple[float, str]]) -> tuple[float, str]:
    """The lowest limit and its reason (the first named wins a tie)."""
    value, reason = min(candidates, key=lambda c: c[0])
    return max(0.0, round(value, 2)), reason


def _fraction(table: Table | None, x: float | None) -> float | None:
    return None if table is None or x is None else interpolate(table, x)


def _shared(s: Sample, top: float, temperature: Table, mosfet: Table | None, soc: Table | None) -> list[tuple[float, str]]:
    """The limits both directions have: temperature at the coldest and the warmest sensor, the
    MOSFET temperature and the optional SoC table."""
    c = []
    if s.temperatures:
        c.append((top * interpolate(temperature, min(s.temperatures)), "Temperature (cold)"))
        c.append((top * interpolate(temperature, max(s.temperatures)), "Temperature (hot)"))
    for table, x, reason in ((mosfet, s.mosfet_temperature, "MOSFET temperature"), (soc, s.soc, "SoC")):
        fraction = _fraction(table, x)
        if fraction is not None:
            c.append((top * fraction, reason))
    return c


def charge_current(s: Sample, cfg: ChargeConfig, cell_shift: float = 0.0) -> tuple[float, str]:
    """CCL before recovery shaping. ``cell_shift`` moves the cell-voltage table up by that much
    during a top balance, whose higher target the normal table would otherwise block."""
    top = cfg.max_charge_current
    # The BMS's own over-current protection first: charge control's maximum is already cut to it
    # (ceilings), and where the two are one the BMS's is the reason.
    bms = s.bms_settings.max_charge_current if s.bms_settings else None
    c = [(bms, "BMS settings")] if bms else []
    c.append((top, "Max charge current"))
    if s.max_cell is not None:
        c.append((top * interpolate(cfg.ccl_cell_voltage, s.max_cell - cell_shift), "Cell voltage"))
    if s.temperatures:
        if min(s.temperatures) <= cfg.min_charge_temperature:
            c.append((0.0, "Temperature (cold)"))
    elif not cfg.charge_without_temperature:
        c.append((0.0, "No temperature reading"))
    c += _shared(s, top, cfg.ccl_temperature, cfg.ccl_mosfet_temperature, cfg.ccl_soc)
    if s.charge_enabled is False:
        c.append((0.0, "BMS charge FET off"))
    return _binding(c)


def discharge_current(s: Sample, cfg: ChargeConfig) -> tuple[float, str]:
    """DCL before recovery shaping."""
    top = cfg.max_discharge_current
    bms = s.bms_settings.max_discharge_current if s.bms_settings else None
    c = [(bms, "BMS settings")] if bms else []
    c.append((top, "Max discharge current"))
    if s.min_cell is not None:
        # Whatever the table says: a cell at the configured minimum is empty.
        if s.min_cell <= cfg.cell_min_voltage:
            c.append((0.0, "Cell voltage"))
        c.append((top * interpolate(cfg.dcl_cell_voltage, s.min_cell), "Cell voltage"))
    c += _shared(s, top, cfg.dcl_temperature, cfg.dcl_mosfet_temperature, cfg.dcl_soc)
    if s.discharge_enabled is False:
        c.append((0.0, "BMS discharge FET off"))
    return _binding(c)


def shape(
    raw: float, reason: str, prev: float | None, prev_reason: str, cut_at: float | None,
    maximum: float, cfg: ChargeConfig, now: float, dt: float,
) -> Shaped:
    """The limit to publish: ``raw`` at once when lower, otherwise recovering towards it."""
    if prev is None or raw <= prev:
        return Shaped(raw, reason, now if prev is not None and raw < prev else cut_at)
    recovering = f"{prev_reason.removesuffix(' (recovering)')} (recovering)"
    if prev == 0 and raw < cfg.current_recovery_threshold * maximum:
        return Shaped(0.0, recovering, cut_at)
    if cut_at is not None and now - cut_at < cfg.current_recovery_hold:
        return Shaped(prev, recovering, cut_at)
    value = min(raw, round(prev + cfg.current_recovery_rate * dt, 2))
    return Shaped(value, reason if value >= raw else recovering, cut_at)
