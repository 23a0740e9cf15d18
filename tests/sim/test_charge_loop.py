"""The closed-loop simulator: pack physics, the BMS's own protection, and chargers and inverter
that obey the published limits. The charge algorithm itself is a black box here."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from dbus_bms.charge.config import ChargeConfig
from dbus_bms.charge.tables import make_table
from dbus_bms.cli import main
from dbus_bms.sim.charge_loop import Trace, run
from dbus_bms.sim.loop_pack import MAX_CELL_SOC, BmsProtection, LoopPack, loop_ocv
from dbus_bms.sim.pack import ocv
from dbus_bms.sim.profiles import Conditions, get_profile

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
    for line in ("max cell voltage", "charge modes", "final", "min", "unserved load", str(png)):
        assert line in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_cli_takes_the_charge_settings_from_a_config(tmp_path: Path, capsys):
    config = tmp_path / "dbus-bms.yaml"
    config.write_text("charge:\n  max_charge_current: 10\nbatteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n")
    assert main(["simulate-charge", "--hours", "2", "--profile", "constant-load", "--config", str(config)]) == 0
    assert "max cell voltage" in capsys.readouterr().out
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
