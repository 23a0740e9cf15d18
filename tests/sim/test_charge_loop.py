"""The closed-loop simulator: pack physics, the BMS's own protection, and chargers and inverter
that obey the published limits. The charge algorithm itself is a black box here."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from dbus_bms.charge.config import ChargeConfig
from dbus_bms.charge.tables import make_table
from dbus_bms.cli import main
from dbus_bms.sim.charge_loop import Charger, Glitch, Trace, run
from dbus_bms.sim.loop_pack import MAX_CELL_SOC, BmsProtection, LoopPack, loop_ocv
from dbus_bms.sim.pack import ocv
from dbus_bms.sim.profiles import Clouds, Conditions, clouded, get_profile, with_load_steps

CFG = ChargeConfig()
HOUR = 3600.0


def assert_obeyed(trace: Trace) -> None:
    """Every step: CCL, CVL (at the chargers), DCL, the profile and the BMS FETs respected."""
    for i, t in enumerate(trace.t):
        current, charger, served = trace.current[i], trace.charger_current[i], trace.load_served[i]
        where = f"at {t / HOUR:.3f} h"
        assert current <= (trace.ccl[i] or 0.0) + 1e-9 or current <= 0, where
        assert -current <= (trace.dcl[i] or 0.0) + 1e-9, where
        if charger > 0:
            assert trace.bus_voltage[i] <= trace.cvl[i] + 0.001, where
        if current > 0:
            assert trace.voltage[i] <= trace.bus_voltage[i] + 1e-9, where
        assert 0.0 <= charger <= trace.charge_available[i] + 1e-9, where
        assert served >= 0.0 and trace.unserved[i] >= -1e-9, where
        if not trace.charge_fet[i]:
            assert current <= 0.0, where
        if not trace.discharge_fet[i]:
            assert current >= 0.0, where


# --- The pack ------------------------------------------------------------------------------------


def test_the_curve_is_the_shared_one_below_99_percent_and_runs_away_above():
    for soc in (0.0, 2.0, 15.0, 50.0, 87.5, 98.0, 99.0):
        assert loop_ocv(soc) == pytest.approx(ocv(soc), abs=1e-9)
    assert loop_ocv(100.0) >= 3.60
    assert loop_ocv(MAX_CELL_SOC) > 4.0
    points = [loop_ocv(i / 100) for i in range(int(MAX_CELL_SOC * 100) + 1)]
    assert all(b >= a for a, b in zip(points, points[1:]))
    assert loop_ocv(-5.0) == loop_ocv(0.0) and loop_ocv(200.0) == loop_ocv(MAX_CELL_SOC)


def test_constant_current_moves_each_cell_by_current_times_time_over_its_capacity():
    def percent(amps: float, seconds: float, capacity: float) -> float:
        return 100.0 * amps * seconds / 3600.0 / capacity

    pack = LoopPack(cells=8, seed=4, soc_percent=40.0)  # far below the balancer's start voltage
    before = list(pack.soc)
    for _ in range(720):
        pack.advance(5.0, 50.0)
    for cell, start, capacity in zip(pack.soc, before, pack.capacity):
        assert cell - start == pytest.approx(percent(50.0, 3600.0, capacity), rel=1e-9)
    for _ in range(360):
        pack.advance(5.0, -20.0)
    for cell, start, capacity in zip(pack.soc, before, pack.capacity):
        assert cell - start == pytest.approx(percent(50.0, 3600.0, capacity) - percent(20.0, 1800.0, capacity), rel=1e-9)


def test_cell_voltage_is_ocv_plus_current_times_resistance():
    pack = LoopPack(cells=4, seed=2)
    pack.advance(1.0, -30.0)
    sample = pack.sample()
    assert sample.current == -30.0
    for v, soc, r in zip(sample.cell_voltages, pack.soc, pack.resistance):
        assert v == pytest.approx(loop_ocv(soc) - 30.0 * r, abs=0.0006)
    assert sample.voltage == pytest.approx(sum(sample.cell_voltages), abs=0.01)
    assert sample.charge_enabled and sample.discharge_enabled
    assert sample.capacity_full == 280.0 and 0 < sample.capacity_remaining < 280.0


def test_spread_comes_from_the_seed():
    a, b, c = LoopPack(seed=1), LoopPack(seed=1), LoopPack(seed=2)
    assert a.soc == b.soc and a.capacity == b.capacity and a.resistance == b.resistance
    assert a.soc != c.soc
    assert max(a.soc) - min(a.soc) > 0.5 and max(a.capacity) != min(a.capacity)


def test_bms_over_voltage_opens_the_charge_fet_and_it_recovers():
    pack = LoopPack(cells=4, soc=[99.0, 98.0, 98.0, 98.0], protection=BmsProtection(balance_current=0.0))
    steps = 0
    while pack.protection.charge_fet:
        pack.advance(5.0, 20.0)
        steps += 1
        assert steps < 2000, "the full cell never tripped the BMS"
    assert max(pack.cell_voltages()) >= 3.65
    assert pack.sample().charge_enabled is False and pack.sample().discharge_enabled is True
    # The open FET blocks charging whatever is asked, and lets the pack discharge.
    assert pack.advance(5.0, 20.0) == 0.0
    assert pack.advance(5.0, -10.0) == -10.0
    steps = 0
    while not pack.protection.charge_fet:
        pack.advance(5.0, -10.0)
        steps += 1
        assert steps < 2000, "the charge FET never closed again"
    assert max(pack.cell_voltages()) <= 3.55


def test_bms_under_voltage_opens_the_discharge_fet_and_it_recovers():
    pack = LoopPack(cells=4, soc=[2.0, 5.0, 5.0, 5.0], protection=BmsProtection(balance_current=0.0))
    while pack.protection.discharge_fet:
        pack.advance(5.0, -30.0)
    assert min(pack.cell_voltages()) <= 2.50 and pack.sample().discharge_enabled is False
    assert pack.advance(5.0, -30.0) == 0.0
    while not pack.protection.discharge_fet:
        assert pack.advance(5.0, 10.0) == 10.0
    assert min(pack.cell_voltages()) >= 2.90


def test_bms_blocks_charge_below_its_temperature_only_when_configured():
    cold = LoopPack(cells=4, temperature=-3.0, protection=BmsProtection(charge_min_temperature=0.0))
    assert cold.sample().charge_enabled is False
    assert LoopPack(cells=4, temperature=-3.0).sample().charge_enabled is True
    # Warmed past the hysteresis, it charges again.
    for _ in range(400):
        cold.advance(60.0, 0.0, ambient=20.0)
    assert cold.protection.charge_fet


def test_passive_balancer_bleeds_the_high_cells_only_above_its_start_voltage():
    protection = BmsProtection(balance_mode="passive", balance_current=0.5)
    assert protection.balance([3.30, 3.33, 3.31]) == [0.0, 0.0, 0.0]
    assert protection.balance([3.42, 3.45, 3.40]) == [0.5, 0.5, 0.0]
    assert protection.balance([3.452, 3.45, 3.445]) == [0.0, 0.0, 0.0]  # under the 10 mV trigger


def test_active_balancer_moves_charge_from_the_highest_to_the_lowest_cell():
    pack = LoopPack(cells=3, soc=[98.5, 95.0, 96.0],
                    protection=BmsProtection(balance_mode="active", balance_current=2.0))
    before = list(pack.soc)
    pack.advance(3600.0, 0.0)
    assert pack.balancing == [True, True, False]
    assert pack.soc[0] - before[0] == pytest.approx(-2.0 / pack.capacity[0] * 100)
    assert pack.soc[1] - before[1] == pytest.approx(2.0 / pack.capacity[1] * 100)
    assert pack.soc[2] == before[2]


def test_temperature_follows_ambient_with_a_lag():
    pack = LoopPack(cells=4, temperature=20.0)
    pack.advance(1800.0, 0.0, ambient=0.0)
    assert 10.0 < pack.temperature < 20.0
    for _ in range(48):
        pack.advance(1800.0, 0.0, ambient=0.0)
    assert pack.temperature == pytest.approx(0.0, abs=0.1)


# --- Profiles ------------------------------------------------------------------------------------


def test_profiles_have_sun_by_day_grid_by_night_and_frost_before_dawn():
    solar, grid, cold = (get_profile(name, 280.0) for name in ("solar-day", "constant-load", "cold-night"))
    assert solar(3 * HOUR).charge_available == 0.0 and solar(12 * HOUR).charge_available > 90.0
    assert solar(36 * HOUR).charge_available == solar(12 * HOUR).charge_available
    assert 0 < solar(3 * HOUR).load < solar(19 * HOUR).load
    assert grid(2 * HOUR).charge_available > 0 and grid(12 * HOUR).charge_available == 0.0
    assert grid(2 * HOUR).load == grid(12 * HOUR).load > 0
    assert cold(4 * HOUR).ambient < 0.0 < cold(12 * HOUR).ambient
    with pytest.raises(KeyError, match="solar-day"):
        get_profile("sunny", 280.0)


# --- The closed loop -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_days() -> Trace:
    return run(48, "solar-day", CFG)


def test_a_two_day_solar_run_charges_by_day_and_discharges_by_night(two_days):
    trace = two_days
    assert len(trace.t) == 48 * 720 and trace.t[-1] == 48 * HOUR - 5.0
    at = {round(t / HOUR, 4): i for i, t in enumerate(trace.t)}
    for day in (0, 24):
        dawn, afternoon, night = (trace.soc[at[day + h]] for h in (6, 15, 23.5))
        assert afternoon > dawn + 30, (day, dawn, afternoon)
        assert night < afternoon - 10, (day, afternoon, night)
    assert max(trace.soc) > 90.0
    assert trace.unserved_ah() == 0.0
    assert all(trace.cvl) and all(len(v) == 16 for v in trace.cell_voltages)


def test_chargers_and_inverter_obey_the_limits_at_every_step(two_days):
    assert_obeyed(two_days)


@pytest.mark.parametrize("profile", ["constant-load", "cold-night"])
def test_every_profile_is_obeyed(profile):
    assert_obeyed(run(30, profile, CFG, cells=8, seed=3))


def test_dcl_binds_the_inverter_and_the_rest_of_the_load_goes_unserved():
    trace = run(12, "constant-load", replace(CFG, max_discharge_current=5.0))
    assert_obeyed(trace)
    assert min(trace.current) >= -5.0 - 1e-9
    assert trace.unserved_ah() > 0.0


def test_a_cable_drop_keeps_the_pack_under_cvl_compensated_or_not():
    plain = run(12, "solar-day", CFG, drop_compensation=0.5)
    assert_obeyed(plain)
    charging = [i for i, a in enumerate(plain.current) if a > 20]
    assert charging and all(plain.bus_voltage[i] - plain.voltage[i] > 0.09 for i in charging)
    compensated = run(12, "solar-day", replace(CFG, voltage_drop=0.5), drop_compensation=0.5)
    assert_obeyed(compensated)


def test_careless_settings_leave_the_bms_to_stop_the_runaway_cell():
    # A charge voltage above the BMS's protection and no taper: only the BMS stands in the way.
    careless = replace(CFG, cell_max_voltage=3.70, ccl_cell_voltage=make_table([(3.0, 1.0)]))
    trace = run(20, "solar-day", careless)
    assert_obeyed(trace)
    assert trace.fet_openings(trace.charge_fet) >= 1
    assert trace.max_cell()[0] < 3.80
    opened = trace.charge_fet.index(False)
    assert True in trace.charge_fet[opened:], "the charge FET never closed again"


def test_a_given_pack_is_used_and_moved_on():
    pack = LoopPack(cells=4, capacity_ah=100.0, soc_percent=30.0)
    trace = run(2, lambda t: Conditions(charge_available=20.0, load=0.0, ambient=20.0), CFG, pack=pack)
    assert trace.cells == 4 and trace.profile == "custom"
    assert pack.pack_soc > 30.0 + 0.9 * 2 * 20.0 - 2.0
    assert_obeyed(trace)


# --- Plot and command line -----------------------------------------------------------------------


def test_plot_without_matplotlib_says_how_to_get_it(monkeypatch, tmp_path, two_days):
    import sys

    from dbus_bms.sim.plot import MatplotlibMissing, plot

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(MatplotlibMissing, match="pip install matplotlib"):
        plot(two_days, tmp_path / "x.png")


def test_cli_prints_a_summary_and_writes_the_plot(tmp_path: Path, capsys):
    png = tmp_path / "run.png"
    assert main(["simulate-charge", "--hours", "6", "--profile", "solar-day", "--cells", "8", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    for line in ("peak cell", "charge modes", "final", "min", "unserved load", str(png)):
        assert line in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_cli_takes_the_charge_settings_from_a_config(tmp_path: Path, capsys):
    config = tmp_path / "dbus-bms.yaml"
    config.write_text("charge:\n  max_charge_current: 10\nbatteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n")
    assert main(["simulate-charge", "--hours", "2", "--profile", "constant-load", "--config", str(config)]) == 0
    assert "peak cell" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("batteries: []\n")
    assert main(["simulate-charge", "--hours", "2", "--profile", "constant-load", "--config", str(bad)]) == 1


def test_cli_rejects_an_unknown_profile(capsys):
    assert main(["simulate-charge", "--hours", "2", "--profile", "rainy"]) == 2
    assert "solar-day" in capsys.readouterr().err


def test_cli_takes_the_pack_and_its_balancer(capsys):
    args = ["simulate-charge", "--hours", "30", "--profile", "solar-day", "--balancer", "active",
            "--balance-current", "2", "--capacity", "100", "--dt", "10"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "16 × 100 Ah cells, active balancer 2 A" in out
    # A 2 A balancer on 100 Ah cells closes the default spread on day one: the run reaches float.
    assert "Float " in out.split("charge modes")[1].splitlines()[0]
    assert main(["simulate-charge", "--hours", "1", "--profile", "solar-day", "--balance-current", "-1"]) == 2
    assert "--balance-current cannot be negative" in capsys.readouterr().err


# --- Chargers, events and the figures ------------------------------------------------------------


def test_a_feed_in_charger_ignores_ccl_and_follows_cvl():
    # CCL 10 A for the whole run: the obeying chargers keep to it, the feed-in MPPT gives the
    # pack what the sun and CVL allow.
    low = replace(CFG, max_charge_current=10.0)
    obeys = run(12, "solar-day", low, cells=8)
    fed = run(12, "solar-day", low, cells=8, charger=Charger(obeys_ccl=False))
    assert max(obeys.current) <= 10.0 + 1e-9
    assert max(fed.current) > 50.0
    assert all(b <= c + 0.001 for b, c, a in zip(fed.bus_voltage, fed.cvl, fed.charger_current) if a > 0)


def test_chargers_regulate_at_their_offset_from_cvl():
    high = run(12, "solar-day", CFG, cells=8, charger=Charger(offset=0.003))
    at_cvl = [b - c for b, c, a in zip(high.bus_voltage, high.cvl, high.charger_current) if a > 0]
    assert max(at_cvl) == pytest.approx(0.003, abs=1e-6)


@pytest.mark.parametrize("quiet_from", [100.0, 101.0, 102.0])
def test_limits_are_taken_up_on_the_3_s_boundaries_only(quiet_from):
    # At 1 s steps the BMS goes quiet and the fail-safe publishes CCL 0: chargers that take the
    # limits up every 3 s go on charging until the next multiple of 3 s, the others stop at once.
    def sunny(t: float) -> Conditions:
        return Conditions(100.0, 0.0, 20.0)

    def charging(uptake: float) -> tuple[int, list[bool]]:
        trace = run(0.1, sunny, CFG, dt=1.0, pack=LoopPack(cells=16, soc_percent=10.0),
                    charger=Charger(uptake=uptake), silences=[(quiet_from, 3600.0)])
        cut = next(i for i, ccl in enumerate(trace.ccl) if ccl == 0)
        return cut, [a > 0 for a in trace.current]

    cut, at_once = charging(0.0)
    assert all(at_once[:cut]) and not any(at_once[cut:])
    taken_up = -(-cut // 3) * 3  # the first boundary at or after the cut
    assert charging(3.0) == (cut, [True] * taken_up + [False] * (len(at_once) - taken_up))


def test_reading_noise_is_seeded_and_within_its_bound():
    def readings(seed: int) -> list[list[float]]:
        pack = LoopPack(cells=4, seed=seed, reading_noise=0.002)
        return [pack.sample().cell_voltages for _ in range(200)]

    quiet = LoopPack(cells=4, seed=1).sample().cell_voltages
    noisy = readings(1)
    assert noisy == readings(1) and noisy != readings(2)
    assert all(abs(v - q) <= 0.0025 for sample in noisy for v, q in zip(sample, quiet))
    assert len({sample[0] for sample in noisy}) >= 4


def test_a_weak_cell_has_less_capacity_and_more_resistance():
    plain, weak = LoopPack(cells=4, seed=3), LoopPack(cells=4, seed=3, weak_cell=2)
    assert weak.capacity[2] == pytest.approx(0.8 * plain.capacity[2])
    assert weak.resistance[2] == pytest.approx(2.0 * plain.resistance[2])
    assert weak.capacity[:2] == plain.capacity[:2] and weak.soc == plain.soc
    with pytest.raises(ValueError, match="weak_cell 4"):
        LoopPack(cells=4, weak_cell=4)


def test_a_drifted_soc_is_what_the_bms_reports():
    pack = LoopPack(cells=4, soc_percent=90.0, soc_spread=0.0, soc_drift=-25.0)
    assert pack.sample().soc == 65 and pack.pack_soc == pytest.approx(90.0)


def test_clouds_dim_the_sun_at_seeded_times_and_leave_in_one_step():
    sun = get_profile("solar-day", 280.0)
    clouds = Clouds(per_day=6, fraction=0.1, seconds=120.0, seed=4)
    dimmed = clouded(sun, clouds)
    starts = clouds.starts(0)
    assert starts == Clouds(per_day=6, fraction=0.1, seconds=120.0, seed=4).starts(0) != clouds.starts(1)
    for start in starts:
        assert dimmed(start + 60).charge_available == pytest.approx(0.1 * sun(start + 60).charge_available)
    clear = [t for t in range(9 * 3600, 15 * 3600, 60) if not any(s <= t < s + 120 for s in starts)]
    assert all(dimmed(t) == sun(t) for t in clear)
    with pytest.raises(ValueError):
        Clouds(fraction=1.5)


def test_load_steps_add_their_current_for_their_seconds():
    base = get_profile("solar-day", 280.0)
    steps = with_load_steps(base, 50.0, every=1800.0, seconds=60.0)
    assert steps(12 * HOUR + 30).load == base(12 * HOUR + 30).load + 50.0
    assert steps(12 * HOUR + 90).load == base(12 * HOUR + 90).load
    assert steps(11 * HOUR).load == base(11 * HOUR).load


def test_restarts_crash_loops_glitches_and_silences_are_where_they_were_asked():
    trace = run(1, "solar-day", CFG, cells=4, restarts=[600.0], restart_every=1000.0,
                glitches=[Glitch(1200.0, cell=2)], silences=[(1800.0, 1900.0)])
    assert trace.restarts == [600.0, 1000.0, 2000.0, 3000.0]
    assert trace.glitches == [1200.0]
    i = trace.t.index(1200.0)
    assert trace.reported_max_cell[i] == 3.60 and trace.reported_max_cell[i + 1] < 3.4
    assert [t for t, quiet in zip(trace.t, trace.silent) if quiet] == [1800.0 + 5 * k for k in range(20)]
    with pytest.raises(ValueError, match="glitch cell 4"):
        run(1, "solar-day", CFG, cells=4, glitches=[Glitch(10.0, cell=4)])


def test_the_figures_count_absorptions_reversals_and_steps():
    trace = Trace(profile="x", dt=3600.0, cells=1, cell_max_voltage=3.45, cell_ovp=3.65)
    trace.t = [h * 3600.0 for h in range(30)]
    trace.charge_mode = (["Bulk"] * 3 + ["Absorption"] * 2 + ["Float"] * 5 + ["Absorption (cell OVP)"] * 4
                         + ["Float"] * 16)
    trace.cvl = [50.0, 52.0, 55.0, 55.2, 55.1, 54.0, 54.0, 54.0, 54.0, 54.0, 55.0, 54.0, 54.5, 54.4] + [54.0] * 16
    trace.reported_max_cell = [3.3] * 11 + [3.5] + [3.4] * 18
    trace.cell_voltages = [[3.3]] * 12 + [[3.56]] * 2 + [[3.3]] * 16
    assert trace.absorptions_per_day() == [2, 0]
    assert trace.time_to_float() == 5.0
    # Turns at 4 (up → down), 10 (down → up), 11, 12 and 13; the last four in the OVP hold (4 h).
    assert trace.cvl_reversals_per_hour() == pytest.approx(5 / 30)
    assert trace.cvl_reversals_per_hour("(cell OVP)") == pytest.approx(4 / 4)
    assert trace.largest_cvl_step() == (3.0, 2.0)  # the -1.0 at 11 h is a cut: a cell was over
    assert trace.hours_with_a_cell_at(3.55) == [2.0, 0.0]


# --- simulate-charge's options -------------------------------------------------------------------


def summary(capsys, *args: str) -> dict[str, str]:
    assert main(["simulate-charge", *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    return {line[:18].strip(): line[18:] for line in lines[1:]}


def test_cli_profile_defaults_to_a_solar_day(capsys):
    assert main(["simulate-charge", "--hours", "1", "--cells", "4"]) == 0
    assert capsys.readouterr().out.startswith("1 h of solar-day, 4 ×")


def test_cli_prints_the_figures(capsys):
    out = summary(capsys, "--hours", "30", "--capacity", "100", "--balancer", "active", "--balance-current", "2")
    assert out["peak cell"].startswith("3.4")
    assert out["time to float"].endswith(" h"), f"time to float: {out['time to float']}"
    assert 10.0 < float(out["time to float"].split()[0]) < 20.0
    assert out["absorptions"] == "1 0 (per day)"  # the second day's 6 h end before the sun is up
    assert "per hour; largest step" in out["CVL reversals"]
    assert out["events"] == "none"


def test_cli_feed_in_charger_ignores_ccl(capsys):
    obeys = summary(capsys, "--hours", "11", "--cells", "8", "--charger", "obeys", "--charger-offset", "-3")
    fed = summary(capsys, "--hours", "11", "--cells", "8", "--charger", "feed-in", "--charger-offset", "3")
    assert obeys["chargers"].startswith("obey CCL, regulate at CVL -3 mV, take the limits up every 3 s")
    assert fed["chargers"].startswith("feed-in, ignore CCL, regulate at CVL +3 mV")


def test_cli_events_are_run_and_reported(capsys, tmp_path: Path):
    png = tmp_path / "events.png"
    out = summary(capsys, "--hours", "12", "--cells", "8", "--clouds", "6", "--restart-every", "3600",
                  "--glitch", "9.5", "--noise", "2", "--weak-cell", "3", "--plot", str(png))
    assert out["events"] == "6 clouds a day, 11 restarts, glitch at 9.5 h, ±2 mV reading noise, weak cell 3"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_refuses_a_step_the_model_cannot_resolve(capsys):
    assert main(["simulate-charge", "--hours", "2", "--dt", "10"]) == 0
    capsys.readouterr()
    assert main(["simulate-charge", "--hours", "2", "--dt", "10.5"]) == 2
    err = capsys.readouterr().err
    assert "--dt 10.5 s is too coarse" in err and "10 mV" in err


@pytest.mark.parametrize("args, message", [
    (["--weak-cell", "17"], "--weak-cell 17 is not one of the 16 cells"),
    (["--glitch", "5"], "--glitch takes an hour within the run"),
    (["--noise", "-1"], "cannot be negative"),
    (["--restart-every", "-5"], "cannot be negative"),
])
def test_cli_rejects_bad_event_options(capsys, args, message):
    assert main(["simulate-charge", "--hours", "2", *args]) == 2
    assert message in capsys.readouterr().err
