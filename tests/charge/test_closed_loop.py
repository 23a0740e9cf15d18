"""Charge control in closed loop: randomised packs, balancers, cables and days, with chargers and an
inverter that take up the published limits (obeying CCL or, feed-in MPPTs, ignoring it), restarts,
crash loops and reading noise, and the properties the algorithm promises checked at every step of
every run.

The examples are derandomised so CI sees the same packs on every run; DBUS_BMS_THOROUGH=1 draws
200 fresh ones per property instead (a few minutes).
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dbus_bms.charge.config import ChargeConfig
from dbus_bms.charge.tables import make_table
from dbus_bms.sim.charge_loop import Charger, Trace, run
from dbus_bms.sim.loop_pack import BmsProtection, LoopPack
from dbus_bms.sim.profiles import Conditions, get_profile

CFG = ChargeConfig()
DT = 10.0  # the algorithm's timers are in seconds, so a coarse step tests the same behaviour
_THOROUGH = os.environ.get("DBUS_BMS_THOROUGH") == "1"
# No shrinking: each example is a day of simulation, and the failing pack is reported as drawn.
LOOP = settings(
    max_examples=200 if _THOROUGH else 6,
    derandomize=not _THOROUGH,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)

balancers = st.sampled_from([("passive", 0.05), ("passive", 0.1), ("active", 0.6), ("active", 2.0)])
packs = st.fixed_dictionaries(
    {
        "cells": st.sampled_from([4, 8, 16]),
        "capacity_ah": st.sampled_from([100.0, 280.0]),
        "seed": st.integers(0, 10_000),
        "soc_percent": st.floats(20, 70),
        "soc_spread": st.floats(0.0, 3.0),
        "capacity_spread": st.floats(0.0, 0.04),
        "balancer": balancers,
    }
)
profiles = st.sampled_from(["solar-day", "constant-load", "cold-night"])


# The system around the pack: how the chargers take the limits, a weak cell, the BMS's reading
# noise, the room's temperature, and what the daemon goes through.
systems = st.fixed_dictionaries(
    {
        "charger": st.builds(Charger, obeys_ccl=st.booleans(), offset=st.sampled_from([-0.003, 0.0, 0.003]),
                             uptake=st.sampled_from([0.0, 3.0])),
        "weak_cell": st.sampled_from([None, 0, 3]),
        "noise": st.sampled_from([0.0, 0.002]),
        "warmer": st.sampled_from([-6.0, 0.0, 12.0]),
        "restarts": st.sampled_from(["none", "hourly", "crash loop 45 s", "crash loop 300 s"]),
    }
)
SYSTEM_DT = 5.0  # the chargers' 3 s uptake needs a step under it to be seen as it is
# Each example is 20 h at that finer step: fewer of them in the default run.
SYSTEM_LOOP = settings(LOOP, max_examples=200 if _THOROUGH else 4)


def in_system(spec: dict, system: dict, profile: str, hours: float = 20) -> Trace:
    spec = dict(spec, weak_cell=system["weak_cell"], reading_noise=system["noise"])
    mode, amps = spec.pop("balancer", ("passive", 0.1))
    base = get_profile(profile, spec.get("capacity_ah", 280.0))
    warmer = system["warmer"]

    def conditions(t: float) -> Conditions:
        cond = base(t)
        return replace(cond, ambient=cond.ambient + warmer)

    pack = LoopPack(**spec, temperature=conditions(0.0).ambient,
                    protection=BmsProtection(balance_mode=mode, balance_current=amps))
    kind = system["restarts"]
    restarts = [h * 3600.0 + 600.0 for h in range(int(hours))] if kind == "hourly" else []
    every = float(kind.split()[-2]) if kind.startswith("crash loop") else 0.0
    return run(hours, conditions, CFG, pack=pack, dt=SYSTEM_DT, charger=system["charger"], restarts=restarts,
               restart_every=every)


def make_pack(spec: dict) -> LoopPack:
    spec = dict(spec)
    mode, amps = spec.pop("balancer", ("passive", 0.1))
    return LoopPack(**spec, protection=BmsProtection(balance_mode=mode, balance_current=amps))


def simulate(spec: dict, profile, hours: float = 26, cfg: ChargeConfig = CFG, **kw) -> Trace:
    return run(hours, profile, cfg, pack=make_pack(spec), dt=DT, **kw)


def stage(mode: str) -> str:
    """The stage without its suffixes (cell OVP, top balance, fail-safe)."""
    return mode.split(" (")[0].split(" +")[0]


def entries(trace: Trace, name: str) -> list[int]:
    modes = [stage(m) for m in trace.charge_mode]
    return [i for i in range(1, len(modes)) if modes[i] == name and modes[i - 1] != name]


@LOOP
@given(packs, profiles, st.floats(0.0, 0.3))
def test_no_cell_passes_the_limit_by_more_than_10_mv(spec, profile, drop):
    # The cable drops `drop` volts at full charge current and the settings compensate exactly that:
    # at lower currents the compensation overshoots, and the cell controller has to catch it.
    cfg = replace(CFG, voltage_drop=drop)
    trace = simulate(spec, profile, cfg=cfg, drop_compensation=drop)
    assert max(max(v) for v in trace.cell_voltages) <= CFG.cell_max_voltage + 0.010
    assert trace.fet_openings(trace.charge_fet) == 0  # the BMS never had to step in


@LOOP
@given(packs, st.sampled_from(["solar-day", "constant-load"]))
def test_a_top_balance_takes_the_cells_to_its_voltage_and_no_further(spec, profile):
    cfg = replace(CFG, top_balance_days=1)
    trace = simulate(spec, profile, cfg=cfg)
    assert any("+ top balance" in m for m in trace.charge_mode)
    assert max(max(v) for v in trace.cell_voltages) <= cfg.top_balance_cell_voltage + 0.010
    assert trace.fet_openings(trace.charge_fet) == 0


@LOOP
@given(packs, profiles, st.floats(0.0, 0.3))
def test_cvl_stays_under_its_bound_and_moves_without_oscillating(spec, profile, drop):
    cfg = replace(CFG, voltage_drop=drop)
    trace = simulate(spec, profile, cfg=cfg, drop_compensation=drop)
    n = spec["cells"]
    assert all(c <= n * cfg.cell_max_voltage + drop for c in trace.cvl)
    ramp = n * cfg.ovp_recovery_rate * DT + 0.001  # + the millivolt CVL is published in
    for i in range(len(trace.cvl) - 1):
        a, b = trace.cvl[i], trace.cvl[i + 1]
        if stage(trace.charge_mode[i]) != stage(trace.charge_mode[i + 1]):
            continue  # a stage change moves CVL on purpose (back to bulk after a night)
        # Up: never faster than the recovery ramp.
        assert b - a <= ramp, f"CVL rose {b - a:.3f} V in {DT:g} s at {trace.t[i] / 3600:.3f} h"
        # Down: the float ramp, or a cut to where the pack is, less cells × the (10 mV at most)
        # excess; the cut leaves the drop compensation out.
        floor = min(a - n * cfg.float_transition_rate * DT,
                    trace.reported_voltage[i + 1] - cfg.ovp_gain * n * 0.010) - 0.001
        assert b >= floor, f"CVL fell {a - b:.3f} V in {DT:g} s at {trace.t[i] / 3600:.3f} h"
    # No limit cycle: CVL turns from rising to falling at most once per recovery hold, and in
    # these runs far less.
    turns = sum(1 for a, b, c in zip(trace.cvl, trace.cvl[1:], trace.cvl[2:]) if b > a and c < b)
    assert turns <= trace.t[-1] / cfg.ovp_recovery_hold / 10


@LOOP
@given(st.integers(0, 10_000), st.sampled_from([4, 8, 16]), st.sampled_from([100.0, 280.0]),
       st.sampled_from(["solar-day", "constant-load"]))
def test_a_balanced_pack_floats_after_the_absorption_time(seed, cells, capacity, profile):
    spec = dict(cells=cells, capacity_ah=capacity, seed=seed, soc_spread=0.0, capacity_spread=0.0)
    trace = simulate(spec, profile)
    start = entries(trace, "Absorption")[0]
    done = entries(trace, "Float transition")[0]
    # The clock counts from the first poll at the target; the next poll switches.
    assert CFG.absorption_time <= (done - start) * DT <= CFG.absorption_time + 2 * DT
    assert entries(trace, "Float")


@LOOP
@given(st.integers(0, 10_000), st.sampled_from([8, 16]), st.floats(2.0, 6.0), balancers,
       st.sampled_from(["solar-day", "constant-load"]))
def test_a_runaway_cell_keeps_the_pack_out_of_float(seed, cells, ahead, balancer, profile):
    socs = [50.0] * cells
    socs[seed % cells] += ahead  # one cell fuller than the rest: it reaches the top first
    trace = simulate(dict(cells=cells, seed=seed, soc=socs, capacity_spread=0.0, balancer=balancer), profile)
    assert any("(cell OVP)" in m for m in trace.charge_mode)  # the controller held that cell
    spread = [round(hi - lo, 4) for hi, lo in zip(trace.reported_max_cell, trace.reported_min_cell)]  # mV, as reported
    for i in entries(trace, "Float transition"):
        assert spread[i] <= CFG.absorption_cell_diff, f"float with the cells {spread[i] * 1000:.0f} mV apart"
    for i, mode in enumerate(trace.charge_mode):
        if stage(mode) in ("Float transition", "Float"):
            assert spread[i] < CFG.rebulk_cell_diff
    assert max(max(v) for v in trace.cell_voltages) <= CFG.cell_max_voltage + 0.010


@LOOP
@given(st.integers(0, 10_000), st.sampled_from([4, 16]), st.floats(0.15, 0.9))
def test_a_restart_in_the_middle_of_absorption_resumes_it(seed, cells, fraction):
    spec = dict(cells=cells, capacity_ah=100.0, seed=seed, soc_spread=0.0, capacity_spread=0.0)
    plain = simulate(spec, "solar-day", hours=16)
    start = entries(plain, "Absorption")[0]
    restart = plain.t[start] + fraction * CFG.absorption_time
    trace = simulate(spec, "solar-day", hours=16, restarts=[restart])
    assert entries(trace, "Absorption")[0] == start
    done = entries(trace, "Float transition")[0]
    # At most the minute the saved state rounds away is repeated; starting over would take the
    # whole absorption time again after the restart.
    assert (done - start) * DT <= CFG.absorption_time + 60 + 2 * DT < (restart - plain.t[start]) + CFG.absorption_time


@LOOP
@given(packs)
def test_no_charging_at_or_below_the_minimum_temperature(spec):
    trace = simulate(spec, "cold-night", hours=36)
    cold = [i for i, temp in enumerate(trace.reported_min_temperature) if temp <= CFG.min_charge_temperature]
    assert cold, "the night was not cold enough to test anything"
    assert all(trace.ccl[i] == 0 and trace.current[i] <= 0 for i in cold)


@LOOP
@given(packs, st.floats(0.1, 0.5))
def test_no_discharging_at_or_below_the_minimum_cell_voltage(spec, c_rate):
    # A table that would still allow full current at the minimum, so the pack gets there under
    # load: the minimum stops discharge on its own.
    cfg = replace(CFG, dcl_cell_voltage=make_table([(2.70, 0.0), (2.75, 1.0)]))
    spec = dict(spec, soc_percent=8.0)
    blackout = lambda t: Conditions(charge_available=0.0, load=c_rate * spec["capacity_ah"], ambient=20.0)  # noqa: E731
    trace = simulate(spec, blackout, hours=2, cfg=cfg)
    empty = [i for i, v in enumerate(trace.reported_min_cell) if v <= CFG.cell_min_voltage]
    assert empty, "the pack never ran down to the minimum"
    assert all(trace.dcl[i] == 0 and trace.current[i] >= 0 for i in empty)
    assert trace.fet_openings(trace.discharge_fet) == 0  # the BMS never had to step in


@SYSTEM_LOOP
@given(packs, systems, st.sampled_from(["solar-day", "constant-load"]))
def test_whatever_the_chargers_and_the_events_no_cell_runs_past_its_limit(spec, system, profile):
    trace = in_system(spec, system, profile)
    # Each step holds its cell voltages for 5 s: a cell over the bound in any step was there for
    # longer than the controller's one poll to react.
    top, cell, hour = trace.max_cell()
    assert top <= CFG.cell_max_voltage + 0.010, f"peak cell {top:.4f} V (cell {cell}) at {hour:.2f} h"
    assert not any(trace.cell_voltages[i][j] >= trace.cell_ovp for i in range(len(trace.t))
                   for j in range(trace.cells)), "the BMS's over-voltage protection tripped"
    assert trace.fet_openings(trace.charge_fet) == 0
    # Float only with the cells together (as reported, noise and all), never while one runs away.
    spread = [hi - lo for hi, lo in zip(trace.reported_max_cell, trace.reported_min_cell)]
    for i in trace.entries("Float transition"):
        assert spread[i] <= CFG.absorption_cell_diff + 2 * system["noise"] + 1e-9, (
            f"float with the cells {spread[i] * 1000:.0f} mV apart at {trace.t[i] / 3600:.2f} h")
    # Every reversal is a write to every charger: a few an hour at most, and one per restart.
    restarts_per_hour = len(trace.restarts) / (trace.t[-1] / 3600.0)
    reversals = trace.cvl_reversals_per_hour()
    assert reversals <= 4.0 + 2 * restarts_per_hour, f"CVL reversals {reversals:.1f} per hour"


@SYSTEM_LOOP
@given(st.integers(0, 10_000), st.sampled_from([4, 8, 16]), systems)
def test_a_pack_that_can_balance_floats_whatever_the_chargers_and_the_events(seed, cells, system):
    # No weak cell: one with a fifth less capacity can keep a pack from balancing in a day, and
    # then absorption rightly goes on.
    system = dict(system, weak_cell=None)
    spec = dict(cells=cells, capacity_ah=100.0, seed=seed, soc_spread=0.5, capacity_spread=0.0,
                balancer=("active", 2.0))
    trace = in_system(spec, system, "solar-day")
    assert trace.time_to_float() is not None, f"time to float: never (modes {trace.hours_per_mode()})"


@pytest.mark.parametrize("cells", [4, 8, 16])
def test_at_the_daemons_1_s_poll_an_empty_pack_takes_the_charge_offered(cells):
    # The default poll interval: whatever climbs CVL at a rate per second must climb at 1 s steps
    # too, where each step's rise is a fraction of a millivolt on a small pack.
    pack = LoopPack(cells=cells, capacity_ah=100.0, soc_percent=30.0, soc_spread=0.0, capacity_spread=0.0)
    trace = run(1, lambda t: Conditions(charge_available=20.0, load=0.0, ambient=20.0), CFG, dt=1.0, pack=pack)
    offered = 20.0 / 100.0 * 100.0  # % of capacity in the hour
    assert pack.pack_soc - 30.0 >= 0.9 * offered, (
        f"took {pack.pack_soc - 30.0:.1f} % of the {offered:.0f} % offered; CVL {trace.cvl[0]} → {trace.cvl[-1]} V")
