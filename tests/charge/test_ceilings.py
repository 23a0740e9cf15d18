"""The BMS's own protection settings as ceilings: charge control stays inside them whatever the
config asks, in closed loop against a simulated pack whose BMS reports its settings, and step by step."""

from __future__ import annotations

import dataclasses

from dbus_bms.charge.ceilings import bounded, exceeded
from dbus_bms.charge.config import ChargeConfig
from dbus_bms.charge.limits import step
from dbus_bms.charge.state import initial_state
from dbus_bms.model import BmsSettings, Sample
from dbus_bms.sim.charge_loop import run
from dbus_bms.sim.loop_pack import BmsProtection, LoopPack

LAX = ChargeConfig(cell_max_voltage=3.55, ccl_cell_voltage=((3.50, 1.0), (3.60, 0.0)))


def test_a_bms_ovp_of_3_50_v_holds_cvl_under_16_x_3_50_v_with_cell_max_3_55_in_closed_loop():
    pack = LoopPack(cells=16, capacity_ah=100.0, soc_percent=85.0, seed=3, reports_settings=True,
                    protection=BmsProtection(cell_ovp=3.50, cell_ovp_recover=3.40))
    trace = run(6.0, "constant-load", LAX, pack=pack, dt=5.0)
    cvls = [c for c in trace.cvl if c is not None]
    assert max(cvls) < 16 * 3.50
    assert max(cvls) <= 16 * (3.50 - LAX.bms_margin) + 1e-9
    top, _, _ = trace.max_cell()
    assert top < 3.50
    assert all(trace.charge_fet), "the BMS had to open its charge FET"


def test_without_the_bms_settings_the_same_pack_trips_its_bms():
    # The control for the test above: the same run, the BMS not telling its settings.
    pack = LoopPack(cells=16, capacity_ah=100.0, soc_percent=85.0, seed=3,
                    protection=BmsProtection(cell_ovp=3.50, cell_ovp_recover=3.40))
    trace = run(6.0, "constant-load", LAX, pack=pack, dt=5.0)
    assert not all(trace.charge_fet) or trace.max_cell()[0] >= 3.50


def test_the_bms_current_limits_cap_ccl_and_dcl():
    bms = BmsSettings(max_charge_current=40.0, max_discharge_current=60.0)
    cells = [3.30] * 16
    sample = Sample(voltage=sum(cells), current=0.0, soc=50, cell_voltages=cells, temperatures=[20.0],
                    mosfet_temperature=25.0, bms_settings=bms)
    cfg = ChargeConfig(current_recovery_hold=0.0, current_recovery_rate=10000.0)
    state, limits = initial_state(), None
    for t in range(5):
        limits, state = step(sample, state, cfg, 1000.0 + t)
    assert limits.ccl == 40.0 and limits.dcl == 60.0


def test_an_under_voltage_protection_above_the_configured_floor_ends_discharge_before_the_bms_trips():
    cfg = ChargeConfig(cell_min_voltage=2.90)
    bms = BmsSettings(cell_uvp=3.00)
    assert bounded(cfg, bms).cell_min_voltage == 3.03
    cells = [3.02] * 16
    sample = Sample(voltage=sum(cells), current=-10.0, soc=5, cell_voltages=cells, temperatures=[20.0],
                    mosfet_temperature=25.0, bms_settings=bms)
    limits, _ = step(sample, initial_state(), cfg, 1000.0)
    assert limits.dcl == 0 and not limits.allow_discharge


def test_settings_that_cannot_be_right_are_ignored_and_said_so():
    cfg = ChargeConfig()
    nonsense = BmsSettings(cell_ovp=2.5, cell_uvp=3.5)
    assert bounded(cfg, nonsense) == cfg
    words = exceeded(cfg, nonsense)
    assert any("over-voltage protection of 2.5 V" in w and "ignored" in w for w in words)
    assert any("under-voltage protection of 3.5 V" in w and "ignored" in w for w in words)


def test_exceeded_names_each_setting_beyond_the_bms():
    cfg = dataclasses.replace(LAX, max_charge_current=200.0, min_charge_temperature=-5.0)
    bms = BmsSettings(cell_ovp=3.50, max_charge_current=100.0, charge_min_temperature=2.0)
    words = exceeded(cfg, bms)
    assert any(w.startswith("cell_max_voltage 3.55 V") and "3.47 V" in w for w in words)
    assert any(w.startswith("max_charge_current 200 A") for w in words)
    assert any(w.startswith("min_charge_temperature -5 °C") for w in words)
    assert exceeded(ChargeConfig(), BmsSettings(cell_ovp=3.65, max_charge_current=150.0)) == []


def test_a_fail_safe_step_keeps_the_last_readings_bms_ceiling():
    bms = BmsSettings(cell_ovp=3.50)
    cells = [3.40] * 16
    sample = Sample(voltage=sum(cells), current=5.0, soc=90, cell_voltages=cells, temperatures=[20.0],
                    mosfet_temperature=25.0, bms_settings=bms)
    state = initial_state()
    for t in range(3):
        limits, state = step(sample, state, LAX, 1000.0 + t)
    limits, state = step(None, state, LAX, 1003.0)
    assert limits.cvl is not None and limits.cvl <= 16 * 3.47
