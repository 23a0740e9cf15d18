"""The cases a real owner meets, each as a closed-loop run and the one figure it is judged by.

A restart with a feed-in charger, a crash loop, a glitch reading in bulk, in float and as the
first reading after a restart, a BMS whose SoC has drifted, clouds over a feed-in charger, a top
balance with a weak cell, the over-voltage hold under reading noise, the largest step of CVL, and
the fail-safe on a quiet night. The tests assert each figure against its bound (a figure of inf:
it never happened within the run); ``bench/bench_charge.py`` prints them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..charge.config import ChargeConfig
from .charge_loop import DVCC, FEED_IN, Glitch, Trace, run
from .loop_pack import BmsProtection, LoopPack
from .profiles import DAY, Clouds, Profile, get_profile, with_load_steps

HOUR = 3600.0
DT = 5.0
CAPACITY = 280.0
# The runs begin at dawn, with the pack where a night of house load left it: the night before
# has nothing to show, and leaving it out halves the time the cases take.
DAWN = 6 * HOUR
MORNING_SOC = 35.0


@dataclass(frozen=True, slots=True)
class Figure:
    """A case's result: ``value`` in ``unit``, good while at most (or, ``at_least``, at least) ``bound``."""

    case: str
    what: str
    value: float
    unit: str
    bound: float
    at_least: bool = False

    @property
    def holds(self) -> bool:
        return self.value >= self.bound if self.at_least else self.value <= self.bound

    def __str__(self) -> str:
        sign = "≥" if self.at_least else "≤"
        return f"{self.case}: {self.what} {self.value:.4g} {self.unit} (bound {sign} {self.bound:g} {self.unit})"


def _pack(*, balanced: bool = False, weak: bool = False, noise: float = 0.0, soc_drift: float = 0.0,
          balancer: tuple[str, float] = ("passive", 0.1), soc: float = MORNING_SOC) -> LoopPack:
    spread = {"soc_spread": 0.0, "capacity_spread": 0.0} if balanced else {}
    mode, amps = balancer
    return LoopPack(cells=16, capacity_ah=CAPACITY, seed=0, soc_percent=soc, weak_cell=3 if weak else None,
                    reading_noise=noise, soc_drift=soc_drift, temperature=get_profile("solar-day", CAPACITY)(DAWN).ambient,
                    protection=BmsProtection(balance_mode=mode, balance_current=amps), **spread)  # type: ignore[arg-type]


def _solar() -> Profile:
    return get_profile("solar-day", CAPACITY)


def _run(until: float, profile: Profile, cfg: ChargeConfig, pack: LoopPack, **kw: Any) -> Trace:
    """From dawn of day one to ``until`` (s since its midnight), DVCC's chargers unless given."""
    kw.setdefault("charger", DVCC)
    return run((until - DAWN) / HOUR, profile, cfg, pack=pack, dt=DT, start=DAWN, **kw)


def restart_with_feed_in(cfg: ChargeConfig) -> Figure:
    """Restarts every hour through the day while the over-voltage control holds a runaway cell,
    with a DC-coupled MPPT that ignores CCL: the start must not step CVL back up."""
    trace = _run(16 * HOUR, _solar(), cfg, _pack(), charger=FEED_IN, restarts=[h * HOUR + 7 * 60 for h in range(9, 16)])
    return Figure("restart-feed-in", "peak cell", trace.max_cell()[0], "V", cfg.cell_max_voltage + 0.010)


def crash_loop(cfg: ChargeConfig) -> Figure:
    """A daemon that crashes every 45 s all day: float comes when it would without the crashes."""
    plain = _run(16 * HOUR, _solar(), cfg, _pack(balanced=True))
    looped = _run(16 * HOUR, _solar(), cfg, _pack(balanced=True), restart_every=45.0)
    on_time = plain.time_to_float()
    assert on_time is not None, "the pack without crashes never floated: the case tests nothing"
    late = looped.time_to_float()
    delay = math.inf if late is None else (late - on_time) * 60.0
    return Figure("crash-loop", "float later by", delay, "min", 5.0)


def _glitched(cfg: ChargeConfig, at: float, until: float) -> tuple[Trace, Trace]:
    plain = _run(until, _solar(), cfg, _pack(balanced=True))
    glitched = _run(until, _solar(), cfg, _pack(balanced=True), glitches=[Glitch(at, cell=5)])
    return plain, glitched


def _cvl_cut(plain: Trace, glitched: Trace, at: float) -> float:
    """How far CVL went below the glitch-free run in the half hour from ``at``."""
    i = glitched.t.index(at)
    window = range(i, min(len(plain.t), i + round(0.5 * HOUR / plain.dt)))
    return max(0.0, max((plain.cvl[j] or 0.0) - (glitched.cvl[j] or 0.0) for j in window))


def _bulk_glitch(cfg: ChargeConfig) -> tuple[Trace, Trace, int]:
    at = 9 * HOUR
    plain, glitched = _glitched(cfg, at, at + HOUR)
    i = plain.t.index(at)
    assert plain.stages()[i] == "Bulk", "the glitch did not come in bulk"
    return plain, glitched, i


def glitch_in_bulk(cfg: ChargeConfig) -> Figure:
    """One reading with a cell at 3.60 V during bulk: CVL is not cut."""
    plain, glitched, i = _bulk_glitch(cfg)
    return Figure("glitch-bulk", "CVL cut by the glitch", _cvl_cut(plain, glitched, plain.t[i]), "V", 0.01)


def glitch_in_bulk_ccl(cfg: ChargeConfig) -> Figure:
    """The same glitch: CCL is not cut either (the table would give 0 A at 3.60 V)."""
    plain, glitched, i = _bulk_glitch(cfg)
    window = range(i, min(len(plain.t), i + round(0.5 * HOUR / plain.dt)))
    cut = max(0.0, max((plain.ccl[j] or 0.0) - (glitched.ccl[j] or 0.0) for j in window))
    return Figure("glitch-bulk-ccl", "CCL cut by the glitch", cut, "A", 1.0)


def glitch_in_float(cfg: ChargeConfig) -> Figure:
    """One reading with a cell at 3.60 V in float: float is kept, no extra absorption."""
    at = 15 * HOUR
    plain, glitched = _glitched(cfg, at, 18 * HOUR)
    assert plain.stages()[plain.t.index(at)] == "Float", "the glitch did not come in float"
    extra = sum(glitched.absorptions_per_day()) - sum(plain.absorptions_per_day())
    return Figure("glitch-float", "extra absorptions", float(extra), "", 0.0)


def glitch_at_a_restart(cfg: ChargeConfig) -> Figure:
    """The glitch as the first reading after a restart, with nothing before it to check it
    against: a cut may come, but CVL must climb back to where it would have been."""
    at = 10 * HOUR
    plain = _run(at + 2 * HOUR, _solar(), cfg, _pack(balanced=True), restarts=[at])
    glitched = _run(at + 2 * HOUR, _solar(), cfg, _pack(balanced=True), restarts=[at], glitches=[Glitch(at, cell=5)])
    i = glitched.t.index(at)
    back = next((t for t, a, b in zip(glitched.t[i:], glitched.cvl[i:], plain.cvl[i:])
                 if a is not None and b is not None and a >= b - 0.05), math.inf)
    return Figure("glitch-at-restart", "CVL back within 50 mV after", (back - at) / 60.0, "min", 30.0)


def drifted_soc(cfg: ChargeConfig) -> Figure:
    """A pack whose BMS counts 25 % low, full by noon, with a 0.3 C load for a minute every half
    hour of the afternoon: the cells, not the counter, say when to charge again."""
    profile = with_load_steps(_solar(), 0.3 * CAPACITY)
    trace = _run(DAY, profile, cfg, _pack(balanced=True, soc_drift=-25.0))
    return Figure("drifted-soc", "absorptions in a day (most)", float(max(trace.absorptions_per_day())), "", 1.0)


def clouds_with_feed_in(cfg: ChargeConfig) -> Figure:
    """A weak cell, a feed-in MPPT that ignores CCL, and clouds of five minutes that leave in a step:
    the recovery must not climb while the sun is gone."""
    trace = _run(16 * HOUR, _solar(), cfg, _pack(weak=True), charger=FEED_IN,
                 clouds=Clouds(per_day=24, fraction=0.05, seconds=300.0))
    return Figure("clouds-feed-in", "peak cell", trace.max_cell()[0], "V", cfg.cell_max_voltage + 0.010)


def top_balance_with_a_weak_cell(cfg: ChargeConfig) -> Figure:
    """A weekly top balance on a pack with a weak cell: the attempt ends, and the cell is not
    kept at the top-balance voltage day after day."""
    trace = _run(DAY + 18 * HOUR, _solar(), replace(cfg, top_balance_days=7), _pack(weak=True))
    later = trace.hours_with_a_cell_at(cfg.top_balance_cell_voltage - 0.010)[1:]
    return Figure("top-balance-weak-cell", "hours a day at the top after day one",
                  max(later), "h", 0.5)


def hunting_in_an_over_voltage_hold(cfg: ChargeConfig) -> Figure:
    """The over-voltage control holding a runaway cell for hours, with ±2 mV reading noise."""
    trace = _run(16 * HOUR, _solar(), cfg, _pack(noise=0.002))
    return Figure("ovp-hunting", "CVL reversals in the over-voltage hold", trace.cvl_reversals_per_hour("(cell OVP)"),
                  "/h", 4.0)


def largest_cvl_step(cfg: ChargeConfig) -> Figure:
    """A day and a half of sun (an over-voltage hold, float, back to bulk the next morning): CVL's
    largest step in one poll, cuts for a cell over its limit excepted."""
    trace = _run(DAY + 12 * HOUR, _solar(), cfg, _pack(balancer=("active", 2.0)))
    return Figure("largest-cvl-step", "largest CVL step in one poll", abs(trace.largest_cvl_step()[0]), "V",
                  16 * 0.010)


def fail_safe_on_a_quiet_night(cfg: ChargeConfig) -> Figure:
    """A full pack in float whose BMS goes quiet at 17:00: the house is not blacked out within the hour."""
    quiet = 17 * HOUR
    trace = _run(20 * HOUR, _solar(), cfg, _pack(balanced=True), silences=[(quiet, DAY)])
    i = trace.t.index(quiet)
    assert trace.stages()[i] == "Float", "the pack was not full when the BMS went quiet"
    zero = next((t for t, dcl in zip(trace.t[i:], trace.dcl[i:]) if dcl == 0), math.inf)
    return Figure("fail-safe-quiet-night", "DCL 0 after", (zero - quiet) / 60.0, "min", 60.0, at_least=True)


CASES: dict[str, Callable[[ChargeConfig], Figure]] = {
    "restart-feed-in": restart_with_feed_in,
    "crash-loop": crash_loop,
    "glitch-bulk": glitch_in_bulk,
    "glitch-bulk-ccl": glitch_in_bulk_ccl,
    "glitch-float": glitch_in_float,
    "glitch-at-restart": glitch_at_a_restart,
    "drifted-soc": drifted_soc,
    "clouds-feed-in": clouds_with_feed_in,
    "top-balance-weak-cell": top_balance_with_a_weak_cell,
    "ovp-hunting": hunting_in_an_over_voltage_hold,
    "largest-cvl-step": largest_cvl_step,
    "fail-safe-quiet-night": fail_safe_on_a_quiet_night,
}
