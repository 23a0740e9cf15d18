"""The charge stages and the cell over-voltage controller, step by step on constructed samples."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.charge.config import ChargeConfig
from dbus_bms.charge.limits import step
from dbus_bms.charge.state import ChargeState, Mode, initial_state, restore, snapshot
from dbus_bms.charge.store import ChargeStore
from dbus_bms.model import Sample

CFG = ChargeConfig()


def pack(cells, soc=90.0) -> Sample:
    return Sample(cell_voltages=list(cells), temperatures=[20.0], soc=soc, charge_enabled=True, discharge_enabled=True)


def full(v=3.45, spread=0.0):
    return pack([v] * 15 + [v + spread])


# A daemon that has been running a while: CVL has long climbed from where a start seeds it, so
# nothing but the stage and the over-voltage control sets it (the start is tested on its own).
RUNNING = replace(initial_state(), last_cvl=100.0, published_cvl=100.0)


def drive(samples, cfg=CFG, state: ChargeState | None = None, t0=0.0, dt=1.0):
    """Steps through ``samples`` (one per dt); returns the limits and the final state."""
    state = state or RUNNING
    out = []
    for i, s in enumerate(samples):
        lim, state = step(s, state, cfg, t0 + i * dt)
        out.append(lim)
    return out, state


def test_bulk_absorption_float_transition_float():
    out, state = drive([pack([3.30] * 16)] * 5 + [full()] * 2000)
    modes = [lim.charge_mode for lim in out]
    assert modes[0] == "Bulk" and modes[5] == "Absorption"
    assert modes.index("Float transition") == 5 + 900  # absorption_time at the target
    assert out[5].cvl == pytest.approx(16 * 3.45)
    ramp = [lim.cvl for lim, m in zip(out, modes) if m == "Float transition"]
    drops = [a - b for a, b in zip(ramp, ramp[1:])]
    assert all(d == pytest.approx(16 * CFG.float_transition_rate, abs=0.001) for d in drops)  # CVL is in mV
    assert (ramp[0] - ramp[-1]) / (len(ramp) - 1) == pytest.approx(16 * CFG.float_transition_rate, rel=0.02)
    assert modes[-1] == "Float" and out[-1].cvl == pytest.approx(16 * 3.375)
    assert state.since_full is not None


def test_absorption_clock_runs_only_while_the_cells_are_together():
    together, apart = full(spread=0.005), full(spread=0.020)
    _, state = drive([full()] * 400)
    assert state.mode is Mode.ABSORPTION and state.absorption_elapsed == 399
    _, state = drive([together] * 10, state=state, t0=400)
    assert state.absorption_elapsed == 409
    _, state = drive([apart], state=state, t0=410)
    assert state.absorption_elapsed == 0  # a drift beyond the threshold starts it over


@pytest.mark.parametrize(
    "why, sample",
    [
        ("spread", pack([3.33] * 15 + [3.41])),
        ("low cell", pack([3.35] * 15 + [3.24])),
    ],
)
def test_float_goes_back_to_bulk(why, sample):
    state = replace(RUNNING, mode=Mode.FLOAT, mode_text="Float", since_full=100.0)
    out, state = drive([pack([3.36] * 16), sample], state=state)
    assert out[0].charge_mode == "Float" and out[1].charge_mode == "Bulk"
    # CVL climbs from float at the rise rate, not in one step to the bulk target.
    assert out[0].cvl <= out[1].cvl <= out[0].cvl + 16 * CFG.cvl_rise_rate + 0.001


def test_float_goes_back_to_bulk_after_the_highest_cell_rested_low():
    state = replace(RUNNING, mode=Mode.FLOAT, mode_text="Float", since_full=100.0)
    rested = pack([3.31] * 16)  # under rebulk_rest_voltage, SoC 90 %
    out, state = drive([rested] * 1802, state=state)
    modes = [lim.charge_mode for lim in out]
    assert modes.index("Bulk") == CFG.rebulk_rest_time
    # A load step that lifts it back over the rest voltage starts the clock over.
    state = replace(RUNNING, mode=Mode.FLOAT, mode_text="Float", since_full=100.0)
    out, state = drive(([rested] * 1000 + [pack([3.33] * 16)]) * 3, state=state)
    assert all(lim.charge_mode == "Float" for lim in out)


def test_float_goes_back_to_bulk_when_a_fifth_of_the_capacity_was_taken_out():
    state = replace(RUNNING, mode=Mode.FLOAT, mode_text="Float", since_full=100.0, discharged=0.0)
    # 100 Ah at 20 A: a fifth is out after 3600 s; 3.34 V is above the rest voltage throughout.
    load = replace(pack([3.34] * 16), current=-20.0, capacity_full=100.0)
    out, _ = drive([load] * 3700, state=state)
    assert [lim.charge_mode for lim in out].index("Bulk") == pytest.approx(3600, abs=2)
    # Charging back counts down: 10 Ah out, 10 Ah in, 10 Ah out again is 10 Ah, not 20.
    state = replace(RUNNING, mode=Mode.FLOAT, mode_text="Float", since_full=100.0, discharged=0.0)
    charge = replace(load, current=20.0)
    out, state = drive([load] * 1800 + [charge] * 1800 + [load] * 1800, state=state)
    assert all(lim.charge_mode == "Float" for lim in out) and state.discharged == pytest.approx(0.1, abs=0.001)


def test_a_low_soc_only_halves_what_the_cells_must_show():
    state = replace(RUNNING, mode=Mode.FLOAT, mode_text="Float", since_full=100.0)
    out, _ = drive([pack([3.31] * 16, soc=40)] * 1000, state=state)
    assert [lim.charge_mode for lim in out].index("Bulk") == CFG.rebulk_rest_time / 2
    out, _ = drive([pack([3.34] * 16, soc=10)] * 3000, state=state)
    assert all(lim.charge_mode == "Float" for lim in out)  # the cells say full: SoC alone does nothing


def test_over_voltage_control_cuts_at_once_holds_then_ramps():
    runaway = pack([3.40] * 15 + [3.50])
    out, state = drive([runaway])
    excess = 3.50 - 3.45
    # To where the cell would sit the deadband under its limit.
    assert out[0].cvl == pytest.approx(15 * 3.40 + 3.50 - 16 * (excess + CFG.ovp_deadband))
    assert out[0].charge_mode == "Absorption (cell OVP)"
    calm = pack([3.40] * 15 + [3.42])
    out, _ = drive([calm] * 200, state=state, t0=1.0)
    held = [lim.cvl for lim in out[:59]]
    assert held == [out[0].cvl] * 59  # hold 60 s after the cut
    rising = [lim.cvl for lim in out[59:]]
    steps = [b - a for a, b in zip(rising, rising[1:]) if b != a]
    assert steps and all(s == pytest.approx(16 * CFG.ovp_recovery_rate, abs=1e-3) for s in steps[:-1])
    assert out[-1].cvl <= 16 * 3.45


def test_over_voltage_recovery_slows_as_the_highest_cell_nears_its_limit():
    _, state = drive([pack([3.40] * 15 + [3.50])])
    # 1 mV of headroom beyond the deadband: 0.01 mV/s per cell instead of 0.1.
    near = pack([3.40] * 15 + [3.45 - CFG.ovp_deadband - 0.001])
    _, state = drive([near] * 60, state=state, t0=1.0)
    before = state.ovp_cvl
    _, state = drive([near] * 140, state=state, t0=61.0)
    assert state.ovp_cvl - before == pytest.approx(16 * CFG.ovp_recovery_gain * 0.001 * 140, abs=0.0005)
    # Within the deadband it holds.
    inside = pack([3.40] * 15 + [3.45 - CFG.ovp_deadband])
    _, held = drive([inside] * 300, state=state, t0=201.0)
    assert held.ovp_cvl == state.ovp_cvl


def test_over_voltage_cut_leaves_the_drop_compensation_out():
    # Near full there is little current and little cable drop: the pack itself is where CVL goes.
    cfg = replace(CFG, voltage_drop=0.4)
    runaway = pack([3.40] * 15 + [3.46])
    out, _ = drive([runaway], cfg=cfg)
    assert out[0].cvl == pytest.approx(15 * 3.40 + 3.46 - 16 * (0.010 + CFG.ovp_deadband), abs=0.001)


def test_over_voltage_control_watches_float_too():
    # A generous drop compensation lifts the float voltage at the cells; a cell ahead of the others
    # (not so far that the pack goes back to bulk) passes its limit there.
    cfg = replace(CFG, voltage_drop=0.5)
    state = replace(RUNNING, mode=Mode.FLOAT, mode_text="Float", since_full=100.0)
    out, state = drive([pack([3.40] * 15 + [3.43]), pack([3.40] * 15 + [3.46])], cfg=cfg, state=state)
    assert [lim.charge_mode for lim in out] == ["Float", "Float (cell OVP)"]
    assert out[0].cvl == pytest.approx(16 * CFG.cell_float_voltage + 0.5)
    assert out[1].cvl == pytest.approx(15 * 3.40 + 3.46 - 16 * (0.010 + CFG.ovp_deadband), abs=0.001)


def test_absorption_ends_unfinished_when_the_highest_cell_sags_below_float():
    _, state = drive([full()] * 300)
    assert state.mode is Mode.ABSORPTION
    out, state = drive([pack([3.38] * 16), pack([3.37] * 16)], state=state, t0=300)
    assert [lim.charge_mode for lim in out] == ["Absorption", "Bulk"]
    assert state.absorption_elapsed == 0


def test_a_spread_of_exactly_the_threshold_counts_as_together():
    # 3.450 - 3.440 is a hair over 0.010 in binary floating point; the BMS meant 10 mV.
    out, _ = drive([pack([3.44] * 15 + [3.45])] * 902)
    assert out[-1].charge_mode == "Float transition"


@settings(max_examples=30, deadline=None)
@given(dt=st.sampled_from([0.5, 2.0, 5.0]), seconds=st.integers(36, 180).map(lambda k: 10.0 * k))
def test_timers_and_ramps_do_not_depend_on_the_poll_interval(dt, seconds):
    # Both runs end with a poll at the same moment, `seconds` after the first.
    out, state = drive([full()] * (round(seconds / dt) + 1), dt=dt)
    ref_out, ref = drive([full()] * (round(seconds) + 1), dt=1.0)
    assert state.mode == ref.mode and state.absorption_elapsed == ref.absorption_elapsed
    assert out[-1].cvl == pytest.approx(ref_out[-1].cvl, abs=0.002)


def test_periodic_top_balance_raises_the_target_then_waits_its_days():
    cfg = replace(CFG, top_balance_days=7, ccl_cell_voltage=CFG.ccl_cell_voltage)
    out, state = drive([pack([3.30] * 16)], cfg=cfg)
    assert out[0].charge_mode == "Bulk + top balance" and out[0].cvl == pytest.approx(16 * 3.55)
    assert out[0].ccl == cfg.max_charge_current
    out, state = drive([full(3.55)] * 3000, cfg=cfg, state=state, t0=1)
    assert state.mode is Mode.FLOAT and state.since_top_balance is not None and not state.top_balance
    _, state = drive([full(3.375)] * 10, cfg=cfg, state=state, t0=3001)  # the cells settle at float
    out, state = drive([pack([3.30] * 15 + [3.24], soc=50)] * 1000, cfg=cfg, state=state, t0=4000)
    assert out[0].charge_mode == "Bulk" and out[-1].cvl == pytest.approx(16 * 3.45)
    state = replace(state, since_top_balance=7 * 86400.0)
    out, _ = drive([pack([3.30] * 16, soc=50)], cfg=cfg, state=state, t0=5000)
    assert out[0].charge_mode == "Bulk + top balance"


def test_a_top_balance_ends_on_the_float_ramp_not_on_a_cut():
    cfg = replace(CFG, top_balance_days=7)
    # At the top-balance voltage the cells sit 100 mV over cell_max_voltage; the ramp takes them
    # down, the cells following CVL as a charger holds them there.
    out, state = drive([full(3.55)] * 901, cfg=cfg)
    for t in range(901, 3000):
        # Full cells rest high: they lag the falling CVL by 20 mV.
        lim, state = step(full(min(3.55, round(out[-1].cvl / 16 + 0.020, 3))), state, cfg, float(t))
        out.append(lim)
    modes = [lim.charge_mode for lim in out]
    ramp = [lim.cvl for lim, m in zip(out, modes) if m == "Float transition + top balance"]
    assert ramp[0] == pytest.approx(16 * 3.55) and not any("cell OVP" in m for m in modes[:-1000])
    assert all(0 <= a - b <= 16 * CFG.float_transition_rate + 0.001 for a, b in zip(ramp, ramp[1:]))
    assert modes[-1] == "Float" and not state.top_balance


def test_drop_compensation_is_added_to_what_is_published():
    out, _ = drive([pack([3.30] * 16)], cfg=replace(CFG, voltage_drop=0.3))
    assert out[0].cvl == pytest.approx(16 * 3.45 + 0.3)


def test_a_restart_in_absorption_resumes_it(tmp_path):
    store = ChargeStore(tmp_path / "charge.json")
    _, state = drive([full()] * 500)
    assert state.mode is Mode.ABSORPTION
    store.save(state, wall_now=1_000_000.0)
    resumed = ChargeStore(tmp_path / "charge.json").load(wall_now=1_000_060.0)
    assert resumed.mode is Mode.ABSORPTION and resumed.absorption_elapsed == 499  # whole seconds kept
    out, _ = drive([full()] * 500, state=resumed, t0=10_000)
    assert [lim.charge_mode for lim in out].index("Float transition") == 900 - 499


def test_saving_writes_on_events_not_on_polls(tmp_path):
    store = ChargeStore(tmp_path / "charge.json")
    state = initial_state()
    for i in range(3 * 3600):
        _, state = step(full() if i > 10 else pack([3.3] * 16), state, CFG, float(i))
        store.save(state, wall_now=1_700_000_000.0 + i)
    # bulk, absorption every 15 s (60), float transition, float: not 10,800 writes
    assert store.writes <= 70 and state.mode is Mode.FLOAT


def test_a_damaged_state_file_starts_in_bulk(tmp_path, caplog):
    path = tmp_path / "charge.json"
    path.write_text('{"mode": "SIDEWAYS"}')
    assert ChargeStore(path).load(0.0) == initial_state()
    assert "cannot use the saved charge state" in caplog.text


def test_snapshot_round_trip_keeps_dates():
    state = replace(RUNNING, mode=Mode.FLOAT, since_full=3600.0, since_top_balance=86400.0)
    back = restore(snapshot(state, 10_000_000.0), 10_000_000.0)
    # Event times are kept to the minute.
    assert back.mode is Mode.FLOAT and abs(back.since_full - 3600) <= 30 and abs(back.since_top_balance - 86400) <= 30


def test_a_state_dir_that_cannot_be_written_is_said_once_and_charging_goes_on(tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    store = ChargeStore(blocker / "charge.json")
    state = initial_state()
    for i in range(200):
        _, state = step(full(), state, CFG, float(i))
        assert not store.save(state, wall_now=1_700_000_000.0 + i)
    assert state.mode is Mode.ABSORPTION
    assert caplog.text.count("cannot save the charge state") == 1


def test_a_drifted_soc_does_not_hold_a_full_pack_in_absorption():
    # A JK whose counter drifted says 40 % with every cell at 3.45 V: the cells are what is true.
    out, state = drive([pack([3.45] * 16, soc=40)] * 902)
    modes = [lim.charge_mode for lim in out]
    assert modes[0] == "Absorption" and modes.index("Float transition") == 900
    # Nor sends it back to bulk, on the float voltage or off it: only the cells can.
    out, _ = drive([pack([3.375] * 16, soc=40)] * 1000 + [pack([3.37] * 16, soc=40)] * 1000, state=state, t0=902)
    assert out[-1].charge_mode == "Float"
