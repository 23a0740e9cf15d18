"""Charge control: ``step(sample, state, config, now) -> (limits, state)``, pure.

The app passes the fresh sample, or None when the poll failed, and the time. The state carries
everything else: the last good sample (so a BMS that goes quiet is handled here, in the same state
machine: the fail-safe freezes the charge stage and takes the currents down), the charge stage and
its timers, the cell over-voltage controller, and the published currents for their recovery.
A cell reading the physics rules out waits one poll for confirmation (``plausible``); the state
keeps the raw reading, which is what the BMS said.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..model import Sample
from .ceilings import bounded
from .config import ChargeConfig
from .currents import charge_current, discharge_current, shape
from .plausible import plausible_cells
from .state import ChargeState, initial_state
from .tables import interpolate
from .types import Limits
from .voltage import charge_voltage, target_cell_voltage

__all__ = ["ChargeState", "initial_state", "step"]

# A longer gap between two steps (the loop stalled, the host slept) is not taken as time spent at
# the charge voltage or on a ramp.
_MAX_STEP = 60.0


def step(
    sample: Sample | None, state: ChargeState, cfg: ChargeConfig, now: float, *, distrust: str | None = None
) -> tuple[Limits, ChargeState]:
    """``distrust``: why the last reading is no longer to be trusted whatever its age (another BMS
    answers in its place, its data froze, its cycle failed): the fail-safe applies now."""
    dt = 0.0 if state.prev_time is None else min(max(0.0, now - state.prev_time), _MAX_STEP)
    reported = sample if sample is not None else state.last
    cfg = bounded(cfg, reported.bms_settings if reported is not None else None)
    if sample is not None and distrust is None:
        # A fresh reading: the state takes it in the one copy _fresh makes.
        gap = 0.0 if state.last_time is None else now - state.last_time
        return _fresh(sample, state.last, gap, state, cfg, now, dt)
    if sample is not None:
        state = replace(state, prev_time=now, last=sample, last_time=now)
    else:
        state = replace(state, prev_time=now)
    last = state.last
    if last is None or state.last_time is None:
        return Limits(None, 0.0, 0.0, False, False, "Waiting for BMS", "No data from the BMS yet",
                      "No data from the BMS yet", True), state
    if distrust is not None:
        return _fail_safe(last, state, cfg, now, distrust)
    if now - state.last_time > cfg.stale_after:
        return _fail_safe(last, state, cfg, now, f"no BMS data for over {cfg.stale_after:g} s")
    # A missed poll inside the bound: the last reading stands, nothing moves on.
    return _limits(last, state, cfg), state


def _fresh(
    s: Sample, prev: Sample | None, gap: float, state: ChargeState, cfg: ChargeConfig, now: float, dt: float
) -> tuple[Limits, ChargeState]:
    """``prev`` is the reading before ``s``, ``gap`` seconds earlier: a cell that moved further
    than the physics allows in that time waits for the next reading (``plausible``)."""
    reading = s
    cells, held = state.cells, False
    published, rising = state.published_cvl, state.cvl_rising
    if s.cell_voltages:
        cells, held = plausible_cells(s, prev, state.cells, state.held, gap, cfg, target_cell_voltage(state, cfg))
        if held:
            s = replace(s, cell_voltages=list(cells))
        voltage, state = charge_voltage(s, state, cfg, dt)
        cvl, mode = voltage.cvl, voltage.mode_text
        published, rising = _publish_cvl(published, rising, cvl, len(cells), cfg, dt)
    else:
        cvl, mode = state.last_cvl, state.mode.value
    shift = target_cell_voltage(state, cfg) - cfg.cell_max_voltage
    ccl = shape(*charge_current(s, cfg, shift), state.ccl, state.ccl_reason, state.ccl_cut_at,
                cfg.max_charge_current, cfg, now, dt)
    dcl = shape(*discharge_current(s, cfg), state.dcl, state.dcl_reason, state.dcl_cut_at,
                cfg.max_discharge_current, cfg, now, dt)
    state = replace(state, prev_time=now, last=reading, last_time=now,
                    last_cvl=cvl, published_cvl=published, cvl_rising=rising, cells=cells, held=held,
                    ccl=ccl.value, ccl_reason=ccl.reason, ccl_cut_at=ccl.cut_at, dcl=dcl.value,
                    dcl_reason=dcl.reason, dcl_cut_at=dcl.cut_at, mode_text=mode)
    return _limits(s, state, cfg), state


def _publish_cvl(
    published: float | None, rising: bool, cvl: float, n: int, cfg: ChargeConfig, dt: float
) -> tuple[float, bool]:
    """The published CVL and whether it is catching up: down at once; up only once the computed
    CVL is ``cvl_publish_step`` above it, then after it at the rise rate until it is there. So a
    CVL that wanders by millivolts costs no writes to the chargers, and no published rise exceeds
    the rate."""
    if published is None or cvl <= published:
        return cvl, False
    if not rising and cvl - published < cfg.cvl_publish_step:
        return published, False
    raised = min(cvl, published + cfg.cvl_rise_rate * n * dt)
    return raised, raised < cvl


def _limits(s: Sample, state: ChargeState, cfg: ChargeConfig) -> Limits:
    ccl, dcl = state.ccl or 0.0, state.dcl or 0.0
    cvl = _published_cvl(state, cfg)
    return Limits(cvl, ccl, dcl, ccl > 0, dcl > 0, state.mode_text, state.ccl_reason, state.dcl_reason, False)


def _published_cvl(state: ChargeState, cfg: ChargeConfig) -> float | None:
    """CVL with the drop compensation, in whole millivolts, rounded down: never above its bound."""
    if state.published_cvl is None:
        return None
    return math.floor(round((state.published_cvl + cfg.voltage_drop) * 1000, 6)) / 1000


def _fail_safe(last: Sample, state: ChargeState, cfg: ChargeConfig, now: float, why: str) -> tuple[Limits, ChargeState]:
    """No fresh data for longer than the bound: no charging, discharge limited for a grace time
    that depends on how full the pack was, CVL never raised on data we no longer trust."""
    assert state.last_time is not None
    age = now - state.last_time
    # Stable texts: a reason that ticks every second would be a D-Bus signal every second.
    silent = f"Fail-safe: {why}"
    grace = interpolate(cfg.failsafe_grace, last.min_cell) if last.min_cell is not None else 0.0
    # The grace counts from the moment the data went stale (or was distrusted, if sooner).
    if max(0.0, age - cfg.stale_after) < grace:
        dcl = min(state.dcl or 0.0, cfg.failsafe_discharge_current)
        discharge_reason = f"{silent}, limited for {grace:.0f} s"
    else:
        dcl = 0.0
        discharge_reason = silent
    cut = now if (state.ccl or 0) > 0 else state.ccl_cut_at
    dcl_cut = now if dcl < (state.dcl or 0) else state.dcl_cut_at
    state = replace(state, ccl=0.0, ccl_reason=silent, ccl_cut_at=cut, dcl=dcl, dcl_reason=discharge_reason,
                    dcl_cut_at=dcl_cut)
    cvl = _published_cvl(state, cfg)
    mode = f"{state.mode_text.split(' (')[0]} (fail-safe)"
    return Limits(cvl, 0.0, dcl, False, dcl > 0, mode, silent, discharge_reason, True), state
