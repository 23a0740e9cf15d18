"""``combine``: several members' readings and own limits as one battery, checked rule by rule on real
``Sample`` and ``Limits`` objects, and the promises of the shares as properties over drawn groups."""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.charge.types import Limits
from dbus_bms.group.combine import GROUP_MODEL, GroupSpec, Member, combine
from dbus_bms.group.shares import FLOOR
from dbus_bms.model import ALARM_ALARM, ALARM_OK, ALARM_WARNING, Sample

PARALLEL = GroupSpec("parallel", 1)
_THOROUGH = os.environ.get("DBUS_BMS_THOROUGH") == "1"
PROPERTY = settings(max_examples=2000 if _THOROUGH else 300, derandomize=not _THOROUGH, deadline=None)


def limits(cvl: float | None = 55.2, ccl: float = 100.0, dcl: float = 150.0, *, stale: bool = False,
           ccl_reason: str = "Max charge current", dcl_reason: str = "Max discharge current",
           mode: str = "Bulk") -> Limits:
    return Limits(cvl, ccl, dcl, ccl > 0, dcl > 0, mode, ccl_reason, dcl_reason, stale)


def sample(capacity: float | None = 280.0, current: float = 0.0, *, voltage: float = 53.0, soc: float = 50.0,
           cells: list[float] | None = None, charge_fet: bool | None = True, discharge_fet: bool | None = True,
           **more) -> Sample:
    return Sample(voltage=voltage, current=current, soc=soc, capacity_full=capacity,
                  capacity_remaining=None if capacity is None else capacity * soc / 100.0,
                  cell_voltages=cells if cells is not None else [voltage / 16] * 16,
                  charge_enabled=charge_fet, discharge_enabled=discharge_fet, **more)


def member(name: str, s: Sample | None = None, lim: Limits | None = None, online: bool = True) -> Member:
    return Member(name, sample() if s is None else s, limits() if lim is None else lim, online)


# --- The group as one battery ----------------------------------------------------------------------


def test_parallel_sums_and_weights_the_online_members():
    a = sample(280.0, 60.0, voltage=53.2, soc=80.0, soh=100.0, temperatures=[20.0, 21.0], mosfet_temperature=30.0,
               alarms={"HighCellVoltage": ALARM_WARNING, "LowSoc": ALARM_OK}, balancing=False,
               conditions=("cell over-voltage warning",), cycles=12)
    b = sample(100.0, 20.0, voltage=53.0, soc=40.0, soh=90.0, temperatures=[25.0], mosfet_temperature=35.0,
               alarms={"HighCellVoltage": ALARM_ALARM}, balancing=True, charge_fet=False, conditions=(), cycles=40)
    r = combine([member("pack1", a), member("pack2", b)], PARALLEL)
    g = r.sample
    assert g is not None
    assert g.voltage == pytest.approx(53.1)
    assert g.current == pytest.approx(80.0)
    assert g.power == pytest.approx(53.2 * 60.0 + 53.0 * 20.0)
    assert g.capacity_full == pytest.approx(380.0)
    assert g.capacity_remaining == pytest.approx(224.0 + 40.0)
    assert g.soc == pytest.approx((80.0 * 280.0 + 40.0 * 100.0) / 380.0)
    assert g.soh == pytest.approx((100.0 * 280.0 + 90.0 * 100.0) / 380.0)
    assert g.temperatures == [20.0, 21.0, 25.0]
    assert g.mosfet_temperature == 35.0
    assert g.alarms == {"HighCellVoltage": ALARM_ALARM, "LowSoc": ALARM_OK}
    assert g.charge_enabled is True and g.discharge_enabled is True
    assert g.balancing is True
    assert g.cell_voltages is None and g.cell_balancing is None
    assert g.conditions == ("pack1: cell over-voltage warning",)
    assert g.cycles == 40
    assert g.device is not None and g.device.model == GROUP_MODEL


def test_soc_is_the_plain_mean_when_a_capacity_is_unknown():
    r = combine([member("a", sample(None, soc=80.0)), member("b", sample(100.0, soc=40.0))], PARALLEL)
    assert r.sample is not None and r.sample.soc == pytest.approx(60.0)


def test_the_lowest_and_highest_cell_are_named_by_member_and_cell():
    a = sample(cells=[3.30, 3.31, 3.29])
    b = sample(cells=[3.32, 3.35, 3.28])
    r = combine([member("pack1", a), member("pack2", b)], PARALLEL)
    assert r.min_cell == (3.28, "pack2 C3")
    assert r.max_cell == (3.35, "pack2 C2")


def test_no_sample_before_any_member_has_a_reading_and_the_group_waits_in_its_fail_safe():
    never = [Member("a", None, None, False), Member("b", None, None, False)]
    r = combine(never, PARALLEL)
    assert r.sample is None and r.min_cell is None
    assert r.limits.stale and r.limits.ccl == 0 and r.limits.dcl == 0
    assert (r.online, r.offline) == (0, 2)


# --- Shares and current limits ----------------------------------------------------------------------


def test_shares_follow_capacity_while_the_current_is_small():
    ms = [member("a", sample(280.0, 0.5)), member("b", sample(120.0, 0.3))]
    r = combine(ms, PARALLEL)
    assert r.charge_shares == pytest.approx((0.7, 0.3))
    # Each takes its share: the group may take 100/0.7 before pack a is at its 100 A.
    assert r.limits.ccl == pytest.approx(math.floor(100 / 0.7 * 10) / 10)
    assert r.limits.charge_limitation == "a: Max charge current"


def test_shares_are_equal_without_capacities():
    r = combine([member("a", sample(None)), member("b", sample(None)), member("c", sample(None))], PARALLEL)
    assert r.charge_shares == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert r.limits.ccl == pytest.approx(300.0)


def test_shares_follow_the_measured_currents_once_they_are_large_enough():
    # Equal packs, but b's lower state of charge pulls three quarters of the current.
    ms = [member("a", sample(200.0, 25.0), limits(ccl=100.0)), member("b", sample(200.0, 75.0), limits(ccl=100.0))]
    r = combine(ms, PARALLEL)
    assert r.charge_shares == pytest.approx((0.25, 0.75))
    assert r.limits.ccl == pytest.approx(133.3)
    assert r.limits.charge_limitation == "b: Max charge current"
    # Discharging the other way round: the measured split is the charge split, not the discharge one.
    assert r.discharge_shares == pytest.approx((0.5, 0.5))


def test_a_pack_that_takes_nearly_nothing_still_counts_with_its_floor_share():
    ms = [member("a", sample(200.0, 99.0)), member("b", sample(200.0, 1.0), limits(ccl=10.0))]
    r = combine(ms, PARALLEL)
    assert r.charge_shares == pytest.approx((0.99, FLOOR * 0.5))
    assert r.limits.ccl == pytest.approx(10.0 / (FLOOR * 0.5))
    assert r.limits.charge_limitation == "b: Max charge current"


def test_a_member_whose_fet_is_open_takes_no_share_and_the_group_limit_drops_in_the_same_call():
    closed = [member("a", sample(280.0)), member("b", sample(280.0))]
    both = combine(closed, PARALLEL)
    assert both.limits.ccl == pytest.approx(200.0)
    opened = [closed[0], member("b", sample(280.0, charge_fet=False), limits(ccl=100.0))]
    r = combine(opened, PARALLEL)
    assert r.charge_shares == (1.0, None)
    assert r.limits.ccl == pytest.approx(100.0)
    assert r.blocking_charge == 1 and r.blocking_discharge == 0
    # Its discharge FET still conducts: it keeps its discharge share.
    assert r.discharge_shares == pytest.approx((0.5, 0.5))
    assert r.limits.allow_charge


def test_every_fet_open_allows_nothing_in_that_direction():
    ms = [member(n, sample(discharge_fet=False)) for n in ("a", "b")]
    r = combine(ms, PARALLEL)
    assert r.limits.dcl == 0 and not r.limits.allow_discharge
    assert r.discharge_shares == (None, None)
    assert r.limits.ccl > 0 and r.blocking_discharge == 2


def test_a_member_at_ccl_0_with_its_fet_closed_stops_the_group_charging():
    cut = limits(ccl=0.0, ccl_reason="Cell 3.65 V high")
    r = combine([member("pack1"), member("pack2", lim=cut), member("pack3")], PARALLEL)
    assert r.limits.ccl == 0 and not r.limits.allow_charge
    assert r.limits.charge_limitation == "pack2: Cell 3.65 V high"
    assert r.blocking_charge == 1
    assert r.limits.dcl > 0


def test_the_reason_names_the_member_that_binds():
    ms = [member("pack1", sample(280.0), limits(ccl=140.0, dcl=200.0)),
          member("pack2", sample(280.0), limits(ccl=40.0, ccl_reason="Cell 3.52 V high", dcl=20.0,
                                                dcl_reason="Cell 2.95 V low"))]
    r = combine(ms, PARALLEL)
    assert r.limits.ccl == pytest.approx(80.0) and r.limits.charge_limitation == "pack2: Cell 3.52 V high"
    assert r.limits.dcl == pytest.approx(40.0) and r.limits.discharge_limitation == "pack2: Cell 2.95 V low"


def test_cvl_is_the_lowest_of_the_online_members_and_the_mode_is_that_members():
    ms = [member("a", lim=limits(cvl=55.2)), member("b", lim=limits(cvl=54.4, mode="Absorption")),
          member("c", lim=limits(cvl=53.0), online=False)]
    r = combine(ms, PARALLEL)
    assert r.limits.cvl == 54.4 and r.limits.charge_mode == "Absorption"


def test_no_cvl_while_an_online_member_has_none_of_its_own():
    r = combine([member("a"), member("b", lim=limits(cvl=None, mode="Waiting for BMS"))], PARALLEL)
    assert r.limits.cvl is None


def test_an_offline_member_is_dropped_with_its_capacity():
    gone = Member("c", sample(100.0, soc=10.0), limits(ccl=0.0, dcl=5.0, stale=True), False)
    ms = [member("a", sample(280.0, soc=60.0)), member("b", sample(120.0, soc=60.0)), gone]
    r = combine(ms, GroupSpec("parallel", 2))
    assert (r.online, r.offline) == (2, 1)
    assert r.sample is not None and r.sample.capacity_full == pytest.approx(400.0) and r.sample.soc == 60.0
    assert r.charge_shares[2] is None and r.discharge_shares[2] is None
    assert r.charge_shares[:2] == pytest.approx((0.7, 0.3))
    assert not r.limits.stale and r.limits.ccl == pytest.approx(142.8)
    assert r.blocking_charge == 0


def test_a_member_whose_limits_are_stale_is_offline_whatever_it_is_flagged():
    ms = [member("a"), member("b", lim=limits(ccl=0.0, stale=True))]
    r = combine(ms, PARALLEL)
    assert (r.online, r.offline) == (1, 1)
    assert r.limits.ccl == pytest.approx(100.0)


def test_below_min_members_the_group_is_in_its_own_fail_safe():
    grace = limits(ccl=0.0, dcl=30.0, stale=True, dcl_reason="Fail-safe: no BMS data for over 60 s, limited for 600 s",
                   mode="Bulk (fail-safe)")
    ms = [member("a", sample(280.0), limits(cvl=55.2, dcl=150.0)),
          Member("b", sample(280.0), grace, False), Member("c", sample(280.0), grace, False)]
    r = combine(ms, GroupSpec("parallel", 2))
    why = "Fail-safe: only 1 of 3 packs online (at least 2 needed)"
    assert r.limits.stale and r.limits.ccl == 0 and not r.limits.allow_charge
    assert r.limits.charge_limitation == why
    # Discharge over all three from their own limits: b and c allow 30 A each at a third of the current.
    assert r.limits.dcl == pytest.approx(90.0) and r.limits.allow_discharge
    assert r.limits.discharge_limitation == f"{why}; b: {grace.discharge_limitation}"
    assert r.limits.cvl == 55.2 and r.limits.charge_mode == "Bulk (fail-safe)"
    assert r.discharge_shares == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert (r.online, r.offline) == (1, 2)


def test_the_fail_safe_stops_discharge_once_a_members_grace_is_over():
    over = limits(ccl=0.0, dcl=0.0, stale=True, dcl_reason="Fail-safe: no BMS data for over 60 s")
    ms = [member("a"), Member("b", sample(), over, False)]
    r = combine(ms, GroupSpec("parallel", 2))
    assert r.limits.dcl == 0 and not r.limits.allow_discharge


def test_an_unknown_wiring_is_refused():
    with pytest.raises(ValueError, match="wiring"):
        combine([member("a")], GroupSpec("ring", 1))


# --- Series -----------------------------------------------------------------------------------------


SERIES = GroupSpec("series", 3)


def test_series_adds_voltages_and_takes_the_weakest_members_capacity():
    ms = [member("a", sample(280.0, 30.0, voltage=53.0, soc=70.0)),
          member("b", sample(280.0, 30.0, voltage=52.0, soc=40.0)),
          member("c", sample(300.0, 30.0, voltage=53.5, soc=60.0))]
    g = combine(ms, SERIES).sample
    assert g is not None
    assert g.voltage == pytest.approx(158.5)
    assert g.current == pytest.approx(30.0)
    assert g.soc == 40.0 and g.capacity_remaining == pytest.approx(112.0) and g.capacity_full == 280.0


def test_series_currents_are_the_tightest_members_and_one_open_fet_opens_the_string():
    ms = [member("a", lim=limits(ccl=100.0, dcl=150.0)),
          member("b", lim=limits(ccl=60.0, dcl=150.0, ccl_reason="Cell 3.50 V high")),
          member("c", lim=limits(ccl=100.0, dcl=90.0, dcl_reason="Low SoC"))]
    r = combine(ms, SERIES)
    assert r.limits.ccl == 60.0 and r.limits.charge_limitation == "b: Cell 3.50 V high"
    assert r.limits.dcl == 90.0 and r.limits.discharge_limitation == "c: Low SoC"
    assert r.charge_shares == (1.0, 1.0, 1.0)
    ms[2] = member("c", sample(charge_fet=False), limits(ccl=100.0))
    r = combine(ms, SERIES)
    assert r.limits.ccl == 0 and not r.limits.allow_charge and r.limits.charge_limitation == "c: charge FET open"


def test_series_cvl_keeps_every_member_under_its_own_given_the_others_voltages():
    ms = [member("a", sample(voltage=54.0), limits(cvl=55.2)),
          member("b", sample(voltage=55.0), limits(cvl=55.2, mode="Absorption")),
          member("c", sample(voltage=53.0), limits(cvl=56.0))]
    r = combine(ms, SERIES)
    # b reaches 55.2 V when the string is 0.2 V higher than now.
    assert r.limits.cvl == pytest.approx(162.2)
    assert r.limits.charge_mode == "Absorption"
    # With the others all over their own CVLs, the sum of the CVLs caps it: they are to come down.
    over = [member(n, sample(voltage=55.5), limits(cvl=55.2)) for n in "abc"]
    assert combine(over, SERIES).limits.cvl == pytest.approx(165.6)


def test_series_needs_every_member_whatever_min_members_says():
    ms = [member("a"), member("b"), Member("c", sample(), limits(ccl=0.0, dcl=0.0, stale=True), False)]
    r = combine(ms, GroupSpec("series", 1))
    assert r.limits.stale and r.limits.ccl == 0 and r.limits.dcl == 0
    assert r.limits.charge_limitation == "Fail-safe: only 2 of 3 packs online (at least 3 needed)"


# --- Properties -------------------------------------------------------------------------------------

drawn_members = st.lists(
    st.fixed_dictionaries({
        "capacity": st.one_of(st.none(), st.floats(50.0, 400.0)),
        "current": st.floats(-300.0, 300.0),
        "ccl": st.floats(0.0, 300.0),
        "dcl": st.floats(0.0, 300.0),
        "charge_fet": st.sampled_from([True, True, False, None]),
        "discharge_fet": st.sampled_from([True, True, False, None]),
        "online": st.booleans(),
    }),
    min_size=1, max_size=5,
)


def _group(drawn: list[dict]) -> list[Member]:
    return [Member(f"pack{i}", sample(d["capacity"], d["current"], charge_fet=d["charge_fet"],
                                      discharge_fet=d["discharge_fet"]),
                   limits(ccl=d["ccl"], dcl=d["dcl"]), d["online"]) for i, d in enumerate(drawn, 1)]


@PROPERTY
@given(drawn_members)
def test_split_by_the_shares_no_member_exceeds_its_own_limit(drawn):
    ms = _group(drawn)
    r = combine(ms, PARALLEL)
    for group, shares, own in ((r.limits.ccl, r.charge_shares, "ccl"), (r.limits.dcl, r.discharge_shares, "dcl")):
        assert group is not None and group >= 0 and not math.isnan(group)
        taking = [(m, s) for m, s in zip(ms, shares) if s is not None]
        if not taking:
            assert group == 0
            continue
        total = sum(s for _, s in taking)
        for m, s in taking:
            assert group * s / total <= getattr(m.limits, own) + 1e-6
        # Never the naive sum of what the members allow.
        assert group <= sum(getattr(m.limits, own) for m, _ in taking) + 1e-6


@PROPERTY
@given(st.lists(st.floats(50.0, 400.0), min_size=2, max_size=5), st.floats(1.0, 300.0))
def test_equal_limits_with_unequal_shares_stay_under_the_naive_n_times_min(capacities, ccl):
    ms = [member(f"p{i}", sample(c), limits(ccl=ccl)) for i, c in enumerate(capacities)]
    r = combine(ms, PARALLEL)
    assert r.limits.ccl is not None
    if max(capacities) - min(capacities) > 1.0:
        assert r.limits.ccl < ccl * len(ms)
    assert r.limits.ccl <= ccl * len(ms) + 1e-6


@PROPERTY
@given(drawn_members, st.integers(1, 5), st.sampled_from(["parallel", "series"]))
def test_limits_are_never_negative_or_nan_and_counts_add_up(drawn, needed, wiring):
    ms = _group(drawn)
    r = combine(ms, GroupSpec(wiring, needed))
    for value in (r.limits.ccl, r.limits.dcl):
        assert value is not None and value >= 0 and not math.isnan(value)
    assert r.online + r.offline == len(ms)
    assert not r.limits.allow_charge or r.limits.ccl > 0
    assert not r.limits.allow_discharge or r.limits.dcl > 0
    assert len(r.charge_shares) == len(r.discharge_shares) == len(ms)
    if r.limits.stale:
        assert r.limits.ccl == 0
