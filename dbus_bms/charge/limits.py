"""Charge limits v1: CVL from the cell count, CCL/DCL as the minimum of every limit, and the fail-safe.

``step`` is pure: the app passes the fresh sample (or None) and the time; the state carries the
last good sample, so a BMS that goes quiet is handled here, in the same state machine.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..model import Sample
from .config import ChargeConfig
from .tables import interpolate
from .types import Limits


@dataclass(frozen=True, slots=True)
class ChargeState:
    last: Sample | None = None
    last_time: float | None = None
    last_dcl: float | None = None
    last_cvl: float | None = None


def initial_state() -> ChargeState:
    return ChargeState()


def _binding(candidates: list[tuple[float, str]]) -> tuple[float, str]:
    """The lowest limit and its reason (the first named wins a tie)."""
    value, reason = min(candidates, key=lambda c: c[0])
    return max(0.0, round(value, 2)), reason


def _charge_current(s: Sample, cfg: ChargeConfig) -> tuple[float, str]:
    top = cfg.max_charge_current
    c = [(top, "Max charge current")]
    if s.max_cell is not None:
        c.append((top * interpolate(cfg.ccl_cell_voltage, s.max_cell), "Cell voltage"))
    temps = s.temperatures or []
    if temps:
        if min(temps) <= cfg.min_charge_temperature:
            c.append((0.0, "Temperature (cold)"))
        c.append((top * interpolate(cfg.ccl_temperature, min(temps)), "Temperature (cold)"))
        c.append((top * interpolate(cfg.ccl_temperature, max(temps)), "Temperature (hot)"))
    elif not cfg.charge_without_temperature:
        c.append((0.0, "No temperature reading"))
    if s.mosfet_temperature is not None:
        c.append((top * interpolate(cfg.ccl_mosfet_temperature, s.mosfet_temperature), "MOSFET temperature"))
    if s.charge_enabled is False:
        c.append((0.0, "BMS charge FET off"))
    return _binding(c)


def _discharge_current(s: Sample, cfg: ChargeConfig) -> tuple[float, str]:
    top = cfg.max_discharge_current
    c = [(top, "Max discharge current")]
    if s.min_cell is not None:
        c.append((top * interpolate(cfg.dcl_cell_voltage, s.min_cell), "Cell voltage"))
    temps = s.temperatures or []
    if temps:
        c.append((top * interpolate(cfg.dcl_temperature, min(temps)), "Temperature (cold)"))
        c.append((top * interpolate(cfg.dcl_temperature, max(temps)), "Temperature (hot)"))
    if s.mosfet_temperature is not None:
        c.append((top * interpolate(cfg.dcl_mosfet_temperature, s.mosfet_temperature), "MOSFET temperature"))
    if s.discharge_enabled is False:
        c.append((0.0, "BMS discharge FET off"))
    return _binding(c)


def step(sample: Sample | None, state: ChargeState, cfg: ChargeConfig, now: float) -> tuple[Limits, ChargeState]:
    if sample is not None:
        state = replace(state, last=sample, last_time=now)
    last = state.last
    if last is None or state.last_time is None:
        return Limits(None, 0.0, 0.0, False, False, "Waiting for BMS", "No data from the BMS yet",
                      "No data from the BMS yet", True), state
    cells = len(last.cell_voltages) if last.cell_voltages else 0
    cvl = round(cells * cfg.cell_max_voltage, 3) if cells else state.last_cvl
    age = now - state.last_time
    if age <= cfg.stale_after:
        ccl, charge_reason = _charge_current(last, cfg)
        dcl, discharge_reason = _discharge_current(last, cfg)
        state = replace(state, last_dcl=dcl, last_cvl=cvl)
        return Limits(cvl, ccl, dcl, ccl > 0, dcl > 0, "Bulk", charge_reason, discharge_reason, False), state
    # Stable texts: a reason that ticks every second would be a D-Bus signal every second.
    silent = f"Fail-safe: no BMS data for over {cfg.stale_after:g} s"
    grace = interpolate(cfg.failsafe_grace, last.min_cell) if last.min_cell is not None else 0.0
    if age - cfg.stale_after < grace:
        dcl = min(state.last_dcl or 0.0, cfg.failsafe_discharge_current)
        discharge_reason = f"{silent}, limited for {grace:.0f} s"
    else:
        dcl = 0.0
        discharge_reason = silent
    # Never raise the charge voltage on data we no longer trust.
    known = [c for c in (cvl, state.last_cvl) if c is not None]
    cvl = min(known) if known else None
    return Limits(cvl, 0.0, dcl, False, dcl > 0, "Bulk (fail-safe)", silent, discharge_reason, True), state
