"""Charge limits v1 and the fail-safe: examples and properties over random samples."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbus_bms.charge.config import ChargeConfig
from dbus_bms.charge.limits import initial_state, step
from dbus_bms.charge.tables import interpolate, make_table
from dbus_bms.model import Sample

CFG = ChargeConfig()


def pack(cells=(3.30,) * 16, temps=(20.0, 21.0), mosfet=25.0, charge=True, discharge=True) -> Sample:
    return Sample(cell_voltages=list(cells), temperatures=list(temps) if temps is not None else None,
                  mosfet_temperature=mosfet, charge_enabled=charge, discharge_enabled=discharge)


def limits_for(sample: Sample, cfg: ChargeConfig = CFG):
    limits, _ = step(sample, initial_state(), cfg, now=100.0)
    return limits


def test_a_healthy_pack_gets_the_configured_maxima():
    lim = limits_for(pack())
    # At a start CVL begins at the cells plus the start margin, and climbs from there.
    assert lim.cvl == pytest.approx(16 * (3.30 + CFG.cvl_start_margin))
    assert (lim.ccl, lim.dcl) == (CFG.max_charge_current, CFG.max_discharge_current)
    assert lim.allow_charge and lim.allow_discharge and not lim.stale
    assert (lim.charge_limitation, lim.discharge_limitation) == ("Max charge current", "Max discharge current")


def test_high_cell_tapers_charge_current_and_names_the_reason():
    lim = limits_for(pack(cells=[3.30] * 15 + [3.45]))
    assert lim.ccl == pytest.approx(0.2 * CFG.max_charge_current)
    assert lim.charge_limitation == "Cell voltage"


@pytest.mark.parametrize("cold", [0.0, -5.0])
def test_no_charging_at_or_below_the_minimum_temperature(cold):
    lim = limits_for(pack(temps=(cold, 15.0)))
    assert lim.ccl == 0 and not lim.allow_charge
    assert lim.charge_limitation == "Temperature (cold)"
    assert lim.dcl > 0


def test_no_temperature_reading_blocks_charging_by_default_and_can_be_allowed():
    assert limits_for(pack(temps=None)).ccl == 0
    assert limits_for(pack(temps=None)).charge_limitation == "No temperature reading"
    assert limits_for(pack(temps=None), replace(CFG, charge_without_temperature=True)).ccl == CFG.max_charge_current


def test_fet_off_means_zero_with_the_bms_named():
    lim = limits_for(pack(charge=False, discharge=False))
    assert (lim.ccl, lim.dcl) == (0, 0)
    assert lim.charge_limitation == "BMS charge FET off" and lim.discharge_limitation == "BMS discharge FET off"
    assert not lim.allow_charge and not lim.allow_discharge


def test_the_minimum_cell_voltage_stops_discharge_whatever_the_table():
    lenient = replace(CFG, dcl_cell_voltage=make_table([(2.5, 0.0), (2.6, 1.0)]))
    assert limits_for(pack(cells=[2.91] + [3.2] * 15), lenient).dcl == CFG.max_discharge_current
    lim = limits_for(pack(cells=[2.90] + [3.2] * 15), lenient)
    assert lim.dcl == 0 and lim.discharge_limitation == "Cell voltage" and not lim.allow_discharge


def test_dcl_is_zero_at_the_minimum_cell_voltage():
    lim = limits_for(pack(cells=[3.2] * 15 + [CFG.cell_min_voltage]))
    assert lim.dcl == 0 and not lim.allow_discharge and lim.discharge_limitation == "Cell voltage"


def test_waiting_for_the_first_sample_allows_nothing():
    lim, _ = step(None, initial_state(), CFG, now=0.0)
    assert lim.stale and lim.ccl == 0 and lim.dcl == 0 and lim.cvl is None


def run(samples_at: dict[float, Sample], until: float, dt: float = 1.0, cfg: ChargeConfig = CFG):
    """Steps from t=0 to ``until``; a sample arrives at each listed time, none otherwise."""
    state, out, t = initial_state(), {}, 0.0
    while t <= until:
        lim, state = step(samples_at.get(t), state, cfg, t)
        out[t] = lim
        t += dt
    return out


def test_fail_safe_timeline_for_a_full_pack():
    out = run({0.0: pack(cells=[3.35] * 16)}, until=7300)
    assert not out[10].stale and out[10].ccl > 0
    assert out[11].stale and out[11].ccl == 0 and not out[11].allow_charge
    assert out[11].dcl == CFG.failsafe_discharge_current and out[11].allow_discharge
    assert out[11].cvl == out[0].cvl  # stays valid so the GX keeps us as BMS, never raised
    # A full pack keeps its essential loads for two hours, not minutes.
    assert out[7200].dcl > 0 and out[7211].dcl == 0 and not out[7211].allow_discharge
    assert out[7211].charge_mode == "Bulk (fail-safe)"
    assert out[11].charge_limitation == out[7211].charge_limitation == "Fail-safe: no BMS data for over 10 s"
    assert out[11].discharge_limitation == out[7199].discharge_limitation  # stable: no signal every second
    assert out[7211].discharge_limitation == "Fail-safe: no BMS data for over 10 s"


def test_fail_safe_cuts_discharge_at_once_for_a_pack_near_empty():
    out = run({0.0: pack(cells=[3.10] * 16)}, until=20)
    assert out[11].stale and out[11].dcl == 0 and out[11].ccl == 0


def test_grace_grows_with_the_last_known_cell_voltage():
    out = run({0.0: pack(cells=[3.225] * 16)}, until=3700)  # half way: 3600 s of grace
    assert out[3600].dcl > 0 and out[3611].dcl == 0


def test_a_fresh_sample_ends_the_fail_safe_and_currents_recover_gently():
    out = run({0.0: pack(), **{float(t): pack() for t in range(30, 100)}}, until=99)
    assert out[29].stale and not out[30].stale and out[30].charge_mode == "Bulk"
    # Charging resumes once the hold after the fail-safe's cut has passed, then ramps.
    assert out[30].ccl == 0 and out[30].charge_limitation.endswith("(recovering)")
    ccl = [out[float(t)].ccl for t in range(30, 100)]
    assert ccl == sorted(ccl) and ccl[-1] == CFG.max_charge_current
    assert max(b - a for a, b in zip(ccl, ccl[1:])) <= CFG.current_recovery_rate
    assert out[40.0].ccl == 0 and out[41.0].ccl > 0  # cut at 11 s, held 30 s


cells = st.lists(st.floats(2.5, 3.8), min_size=4, max_size=24)
temps = st.one_of(st.none(), st.lists(st.floats(-30, 70), min_size=1, max_size=4))


@given(cells, temps, st.floats(-30, 110), st.booleans(), st.booleans())
def test_limits_stay_in_range_and_agree_with_the_allow_flags(cv, tv, mosfet, chg, dis):
    lim = limits_for(Sample(cell_voltages=cv, temperatures=tv, mosfet_temperature=mosfet,
                            charge_enabled=chg, discharge_enabled=dis))
    assert 0 <= lim.ccl <= CFG.max_charge_current and 0 <= lim.dcl <= CFG.max_discharge_current
    assert lim.allow_charge == (lim.ccl > 0) and lim.allow_discharge == (lim.dcl > 0)
    assert lim.cvl <= len(cv) * CFG.cell_max_voltage + 1e-9
    if min(cv) <= CFG.cell_min_voltage or not dis:
        assert lim.dcl == 0
    if tv is None or min(tv) <= CFG.min_charge_temperature or not chg:
        assert lim.ccl == 0


@given(cells, st.floats(0, 0.5))
def test_a_higher_top_cell_never_raises_the_charge_current(cv, rise):
    higher = list(cv)
    higher[cv.index(max(cv))] += rise
    assert limits_for(pack(cells=higher)).ccl <= limits_for(pack(cells=cv)).ccl


readings = st.tuples(
    st.floats(3.2, 3.7),  # highest cell
    st.floats(2.7, 3.3),  # lowest cell
    st.floats(-10, 60),  # cell temperature
    st.floats(20, 95),  # MOSFET temperature
    st.booleans(),  # the poll brought a reading
)


@given(st.lists(readings, min_size=2, max_size=30), st.sampled_from([0.5, 1.0, 5.0]))
def test_every_reduction_appears_in_the_same_step_and_no_limit_exceeds_the_tables(seq, dt):
    state, published = initial_state(), None
    for i, (top, bottom, temp, mosfet, fresh) in enumerate(seq):
        s = pack(cells=[bottom] + [3.3] * 14 + [top], temps=(temp,), mosfet=mosfet)
        lim, state = step(s if fresh else None, state, CFG, i * dt)
        if fresh:
            allowed = limits_for(s)  # what the tables allow for this reading alone
            assert lim.ccl <= allowed.ccl and lim.dcl <= allowed.dcl
            if published is not None and allowed.ccl < published.ccl:
                assert lim.ccl == allowed.ccl
            if published is not None and allowed.dcl < published.dcl:
                assert lim.dcl == allowed.dcl
        published = lim


@given(st.lists(st.tuples(st.floats(-10, 500), st.floats(-1, 2)), min_size=1, max_size=8, unique_by=lambda p: p[0]))
def test_interpolation_stays_within_the_table(points):
    table = make_table(sorted(points))
    ys = [y for _, y in table]
    for x in (-100, table[0][0], (table[0][0] + table[-1][0]) / 2, table[-1][0], 1000):
        assert min(ys) - 1e-9 <= interpolate(table, x) <= max(ys) + 1e-9


def test_tables_reject_x_that_does_not_increase():
    with pytest.raises(ValueError):
        make_table([(3.4, 1.0), (3.4, 0.5)])
