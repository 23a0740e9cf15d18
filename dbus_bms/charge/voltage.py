"""The charge voltage (CVL): bulk → absorption → float transition → float, and the cell
over-voltage controller that holds CVL down while one cell runs ahead of the others.

Every rate and timer here is in seconds of the clock the daemon passes, so the behaviour does not
depend on the poll interval.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..model import Sample
from .config import ChargeConfig
from .state import ChargeState, Mode


@dataclass(frozen=True, slots=True)
class Voltage:
    cvl: float  # without drop compensation, unrounded: a climb adds fractions of a millivolt per poll
    mode_text: str


def _spread(high: float, low: float) -> float:
    # To a tenth of a millivolt: cells come in whole millivolts, and 3.450 - 3.440 in binary
    # floating point is a hair over the 10 mV it is.
    return round(high - low, 4)


def top_balance_due(state: ChargeState, cfg: ChargeConfig) -> bool:
    if cfg.top_balance_days <= 0:
        return False
    return state.since_top_balance is None or state.since_top_balance >= cfg.top_balance_days * 86400


def target_cell_voltage(state: ChargeState, cfg: ChargeConfig) -> float:
    return cfg.top_balance_cell_voltage if state.top_balance else cfg.cell_max_voltage


def _wants_bulk(s: Sample, state: ChargeState, cfg: ChargeConfig) -> bool:
    """Float or its transition gives way to a fresh charge, on what the cells say.

    The BMS's SoC only shortens the rest time and the share: a counter that drifted low (a JK
    reading 40 % on a full pack) would otherwise send the pack round absorption at every load
    step.
    """
    assert s.min_cell is not None and s.max_cell is not None
    hint = 0.5 if s.soc is not None and s.soc < cfg.rebulk_soc else 1.0
    if state.rest_low >= hint * cfg.rebulk_rest_time and s.max_cell < cfg.rebulk_rest_voltage:
        return True
    if state.discharged is not None and state.discharged >= hint * cfg.rebulk_discharged:
        return True
    if s.min_cell < cfg.rebulk_cell_voltage:
        return True
    return _spread(s.max_cell, s.min_cell) >= cfg.rebulk_cell_diff


def _advance(s: Sample, state: ChargeState, cfg: ChargeConfig, dt: float) -> ChargeState:
    """The timers and counters moved on by ``dt`` seconds of this reading."""
    assert s.max_cell is not None
    since_full = None if state.since_full is None else state.since_full + dt
    since_top = None if state.since_top_balance is None else state.since_top_balance + dt
    since_cut = None if state.ovp_since_cut is None else state.ovp_since_cut + dt
    floating = state.mode in (Mode.FLOAT, Mode.FLOAT_TRANSITION)
    rest_low = state.rest_low + dt if floating and s.max_cell < cfg.rebulk_rest_voltage else 0.0
    discharged = state.discharged
    if s.current is not None and s.capacity_full:
        # Net charge out since the last full charge: charging back fills the count down to 0.
        discharged = max(0.0, (discharged or 0.0) - s.current * dt / 3600.0 / s.capacity_full)
    tb_elapsed = None if state.top_balance_elapsed is None else state.top_balance_elapsed + dt
    return replace(state, since_full=since_full, since_top_balance=since_top, ovp_since_cut=since_cut,
                   rest_low=rest_low, discharged=discharged, top_balance_elapsed=tb_elapsed,
                   top_balance_since_best=state.top_balance_since_best + dt,
                   top_balance_note_for=max(0.0, state.top_balance_note_for - dt))


def _top_balance_over(state: ChargeState, cfg: ChargeConfig, spread: float) -> tuple[ChargeState, str]:
    """Tracks a top balance's progress from its first absorption; why it must end now, or ""."""
    if state.top_balance_elapsed is None:
        return replace(state, top_balance_elapsed=0.0, top_balance_best=spread, top_balance_since_best=0.0), ""
    if state.top_balance_best is None or spread <= round(state.top_balance_best - cfg.top_balance_progress, 4):
        state = replace(state, top_balance_best=spread, top_balance_since_best=0.0)
    if state.top_balance_elapsed >= cfg.top_balance_max_time:
        return state, f"top balance stopped after {cfg.top_balance_max_time / 3600:g} h"
    if state.top_balance_since_best >= cfg.top_balance_stall_time:
        return state, "top balance stopped: spread not closing"
    return state, ""


def charge_voltage(s: Sample, state: ChargeState, cfg: ChargeConfig, dt: float) -> tuple[Voltage, ChargeState]:
    """CVL for a fresh sample with cell voltages, and the state moved on by ``dt`` seconds."""
    cells = s.cell_voltages
    assert cells
    n = len(cells)
    vsum = sum(cells)
    spread = _spread(max(cells), min(cells))
    state = _advance(s, state, cfg, dt)

    mode = state.mode
    if mode in (Mode.FLOAT, Mode.FLOAT_TRANSITION) and (_wants_bulk(s, state, cfg) or top_balance_due(state, cfg)):
        mode = Mode.BULK
        state = replace(state, top_balance=False)
    # Absorption is over, unfinished, once even the highest cell has sagged below the float
    # voltage: the chargers stopped (sunset, a long cloud) and the loads are emptying the pack.
    # The SoC does not end it: at the top, a BMS whose counter has drifted low would restart the
    # absorption clock at every poll, and float would never come.
    if mode is Mode.ABSORPTION and max(cells) < cfg.cell_float_voltage:
        mode = Mode.BULK
    if mode is Mode.BULK and state.mode is not Mode.BULK:
        state = replace(state, absorption_elapsed=0.0, transition_cvl=None, rest_low=0.0)
    if mode is Mode.BULK and not state.top_balance and top_balance_due(state, cfg):
        state = replace(state, top_balance=True, top_balance_elapsed=None, top_balance_best=None)

    target_cell = target_cell_voltage(state, cfg)
    target = n * target_cell
    cvl = target  # the stage's own CVL; the over-voltage control may hold it lower below
    margin = cfg.at_target_margin
    # At the target: the pack there, its highest cell at its limit, or the pack at the CVL the
    # over-voltage control holds it to, full enough to be over the float voltage: the hold is the
    # target while a cell leads, and a pack that rests there charges no further.
    held = state.ovp_cvl if state.ovp_cvl is not None and state.ovp_cvl < target else None
    at_target = (vsum >= target - n * margin or max(cells) >= target_cell - margin
                 or (held is not None and vsum >= held - n * margin and max(cells) >= cfg.cell_float_voltage))

    if mode is Mode.BULK and at_target:
        mode = Mode.ABSORPTION
    if mode is Mode.ABSORPTION:
        elapsed = state.absorption_elapsed
        if spread > cfg.absorption_cell_diff + cfg.absorption_restart_diff:
            elapsed = 0.0
        elif spread <= cfg.absorption_cell_diff and at_target and state.mode is Mode.ABSORPTION:
            elapsed += dt  # time spent at the target, counted from the first poll that saw it
        if elapsed != state.absorption_elapsed:
            state = replace(state, absorption_elapsed=elapsed)
        why = ""
        if state.top_balance:
            state, why = _top_balance_over(state, cfg, spread)
        if elapsed >= cfg.absorption_time or why:
            mode = Mode.FLOAT_TRANSITION
            state = replace(
                state,
                transition_cvl=target if state.ovp_cvl is None else min(target, state.ovp_cvl),
                since_full=0.0,
                discharged=0.0 if state.discharged is not None else None,
                since_top_balance=0.0 if state.top_balance else state.since_top_balance,
                absorption_elapsed=0.0,
                top_balance_elapsed=None,
                top_balance_best=None,
                top_balance_note=why,
                top_balance_note_for=3600.0 if why else 0.0,
            )
    float_cvl = n * cfg.cell_float_voltage
    if mode is Mode.FLOAT_TRANSITION:
        start = state.transition_cvl if state.transition_cvl is not None else cvl
        ramped = start - cfg.float_transition_rate * n * dt if state.mode is Mode.FLOAT_TRANSITION else start
        # Within a microvolt: a ramp summed over many polls carries binary rounding.
        if ramped <= float_cvl + 1e-6:
            mode, ramped = Mode.FLOAT, float_cvl
        # A top balance lasts until float: its higher limit stands while the ramp takes the cells
        # down from it, or the over-voltage control would cut the ramp short.
        state = replace(state, transition_cvl=ramped if mode is Mode.FLOAT_TRANSITION else None,
                        top_balance=state.top_balance and mode is Mode.FLOAT_TRANSITION)
        cvl = ramped
    if mode is Mode.FLOAT:
        cvl = float_cvl
    if mode is not state.mode:
        state = replace(state, mode=mode)

    state = _over_voltage_control(s, state, cfg, dt, cvl, target_cell_voltage(state, cfg))
    ovp = state.ovp_cvl is not None and state.ovp_cvl < cvl
    if ovp:
        cvl = state.ovp_cvl
    cvl = _rise_limited(cvl, state.last_cvl, vsum, cfg, n, dt)
    text = mode.value + (" + top balance" if state.top_balance else "") + (" (cell OVP)" if ovp else "")
    if state.top_balance_note_for > 0:
        text += f" ({state.top_balance_note})"
    return Voltage(cvl, text), state


def _rise_limited(cvl: float, prev: float | None, vsum: float, cfg: ChargeConfig, n: int, dt: float) -> float:
    """CVL rises at most at ``cvl_rise_rate``; at a start (no CVL yet) from the cells' sum plus
    the start margin, never in one step to the target."""
    if prev is None:
        return min(cvl, vsum + n * cfg.cvl_start_margin)
    return min(cvl, max(prev, prev + cfg.cvl_rise_rate * n * dt))


def _over_voltage_control(
    s: Sample, state: ChargeState, cfg: ChargeConfig, dt: float, stage_cvl: float, limit: float
) -> ChargeState:
    """Cuts CVL at once when the highest cell passes its limit; after a hold, lets it climb back
    at a rate proportional to the highest cell's headroom beyond the deadband, capped, and only
    while the pack charges at CVL.

    The cut puts the published CVL where the highest cell would sit the deadband under its limit
    if every cell had the same resistance: the pack voltage minus cells × (excess + deadband).
    The drop compensation is taken out of it, because near full the current, and with it the
    cable drop, is small: left in, it would hold every cell at its limit plus the drop over the
    cells. The limit is the target itself: at CVL = cells × limit a balanced pack has every cell
    there, which is normal absorption, not a cell running away. Float is watched too: a drop
    compensation or a cell that drifts can push a cell past the limit at the float voltage too.

    The climb waits while the pack is not charging or sits below CVL (a load, a cloud, a charger
    at its current limit): the cell's headroom then says nothing about the CVL it can take, and
    CVL stays at what held it before the sag.
    """
    cells = s.cell_voltages
    assert cells
    n = len(cells)
    vsum = sum(cells)
    excess = max(cells) - limit
    if excess > 0:
        cut = vsum - cfg.voltage_drop - cfg.ovp_gain * n * (excess + cfg.ovp_deadband)
        held = min(x for x in (state.ovp_cvl, state.last_cvl, n * limit) if x is not None)
        return replace(state, ovp_cvl=max(min(cut, held), n * cfg.cell_min_voltage), ovp_since_cut=0.0)
    if state.ovp_cvl is None:
        return state
    if state.ovp_cvl >= stage_cvl:
        # The stage's own CVL is lower (the float ramp, float): the hold no longer binds.
        return replace(state, ovp_cvl=None, ovp_since_cut=None)
    if state.ovp_since_cut is not None and state.ovp_since_cut < cfg.ovp_recovery_hold:
        return state
    headroom = -excess - cfg.ovp_deadband
    charging = s.current is None or s.current > cfg.ovp_recovery_min_current
    if headroom <= 0 or not charging or vsum < state.ovp_cvl - n * cfg.at_target_margin:
        return state
    # The climb slows as the highest cell nears the deadband, so CVL settles just under the cut
    # instead of overshooting into the next one.
    raised = state.ovp_cvl + min(cfg.ovp_recovery_rate, cfg.ovp_recovery_gain * headroom) * n * dt
    top = n * limit
    return replace(state, ovp_cvl=None, ovp_since_cut=None) if raised >= top else replace(state, ovp_cvl=raised)
