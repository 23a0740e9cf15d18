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
    cvl: float  # without drop compensation
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


def _wants_bulk(s: Sample, cfg: ChargeConfig) -> bool:
    """Float or its transition gives way to a fresh charge."""
    assert s.min_cell is not None and s.max_cell is not None
    # A low SoC counts once the pack is off the float voltage: while the chargers still hold it
    # there, a low SoC is a counter that drifted, and would loop the pack through absorption.
    if s.soc is not None and s.soc < cfg.rebulk_soc and s.max_cell < cfg.cell_float_voltage:
        return True
    if s.min_cell < cfg.rebulk_cell_voltage:
        return True
    return _spread(s.max_cell, s.min_cell) >= cfg.rebulk_cell_diff


def charge_voltage(s: Sample, state: ChargeState, cfg: ChargeConfig, now: float, dt: float) -> tuple[Voltage, ChargeState]:
    """CVL for a fresh sample with cell voltages, and the state moved on by ``dt`` seconds."""
    cells = s.cell_voltages
    assert cells
    n = len(cells)
    vsum = sum(cells)
    spread = _spread(max(cells), min(cells))
    since_full = None if state.since_full is None else state.since_full + dt
    since_top = None if state.since_top_balance is None else state.since_top_balance + dt
    state = replace(state, since_full=since_full, since_top_balance=since_top)

    mode = state.mode
    if mode in (Mode.FLOAT, Mode.FLOAT_TRANSITION) and (_wants_bulk(s, cfg) or top_balance_due(state, cfg)):
        mode = Mode.BULK
        state = replace(state, top_balance=False)
    # Absorption is over, unfinished, once even the highest cell has sagged below the float
    # voltage: the chargers stopped (sunset, a long cloud) and the loads are emptying the pack.
    # The SoC does not end it: at the top, a BMS whose counter has drifted low would restart the
    # absorption clock at every poll, and float would never come.
    if mode is Mode.ABSORPTION and max(cells) < cfg.cell_float_voltage:
        mode = Mode.BULK
    if mode is Mode.BULK and state.mode is not Mode.BULK:
        state = replace(state, absorption_elapsed=0.0, transition_cvl=None)
    if mode is Mode.BULK and not state.top_balance and top_balance_due(state, cfg):
        state = replace(state, top_balance=True)

    target_cell = target_cell_voltage(state, cfg)
    target = n * target_cell
    cvl = target  # the stage's own CVL; the over-voltage control may hold it lower below
    margin = cfg.at_target_margin
    at_target = vsum >= target - n * margin or max(cells) >= target_cell - margin

    if mode is Mode.BULK and at_target:
        mode = Mode.ABSORPTION
    if mode is Mode.ABSORPTION:
        elapsed = state.absorption_elapsed
        if spread > cfg.absorption_cell_diff + cfg.absorption_restart_diff:
            elapsed = 0.0
        elif spread <= cfg.absorption_cell_diff and at_target and state.mode is Mode.ABSORPTION:
            elapsed += dt  # time spent at the target, counted from the first poll that saw it
        state = replace(state, absorption_elapsed=elapsed)
        if elapsed >= cfg.absorption_time:
            mode = Mode.FLOAT_TRANSITION
            state = replace(
                state,
                transition_cvl=target if state.ovp_cvl is None else min(target, state.ovp_cvl),
                since_full=0.0,
                since_top_balance=0.0 if state.top_balance else state.since_top_balance,
                absorption_elapsed=0.0,
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
    state = replace(state, mode=mode)

    state = _over_voltage_control(s, state, cfg, now, dt, target_cell_voltage(state, cfg))
    ovp = state.ovp_cvl is not None and state.ovp_cvl < cvl
    if ovp:
        cvl = state.ovp_cvl
    text = mode.value + (" + top balance" if state.top_balance else "") + (" (cell OVP)" if ovp else "")
    return Voltage(round(cvl, 3), text), state


def _over_voltage_control(
    s: Sample, state: ChargeState, cfg: ChargeConfig, now: float, dt: float, limit: float
) -> ChargeState:
    """Cuts CVL at once when the highest cell passes its limit; after a hold, lets it climb back
    at a rate proportional to the highest cell's headroom under the limit, capped.

    The cut puts the published CVL where the highest cell would sit at the limit if every cell
    had the same resistance: the pack voltage minus cells × the excess. The drop compensation is
    taken out of it, because near full the current, and with it the cable drop, is small: left
    in, it would hold every cell at its limit plus the drop over the cells. The limit is the
    target itself: at CVL = cells × limit a balanced pack has every cell there, which is normal
    absorption, not a cell running away. Float is watched too: a drop compensation or a cell
    that drifts can push a cell past the limit at the float voltage as well.
    """
    cells = s.cell_voltages
    assert cells
    n = len(cells)
    top = n * limit
    excess = max(cells) - limit
    if excess > 0:
        cut = sum(cells) - cfg.voltage_drop - cfg.ovp_gain * n * excess
        held = state.ovp_cvl if state.ovp_cvl is not None else top
        return replace(state, ovp_cvl=max(min(cut, held), n * cfg.cell_min_voltage), ovp_cut_at=now)
    if state.ovp_cvl is None:
        return state
    if state.ovp_cut_at is not None and now - state.ovp_cut_at < cfg.ovp_recovery_hold:
        return state
    # The climb slows as the highest cell nears its limit, so CVL settles just under the cut
    # instead of overshooting into the next one.
    headroom = -excess
    raised = state.ovp_cvl + min(cfg.ovp_recovery_rate, cfg.ovp_recovery_gain * headroom) * n * dt
    return replace(state, ovp_cvl=None, ovp_cut_at=None) if raised >= top else replace(state, ovp_cvl=raised)
