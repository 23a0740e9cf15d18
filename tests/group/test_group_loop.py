"""A parallel group in closed loop: the bank's physics split the current the chargers and the load put
through it, each member's own charge control and ``combine`` set the limits the system obeys, and no
member's cell goes over its own limit. A silenced member drops out of the group, or, below the
group's minimum, puts it in its fail-safe."""

from __future__ import annotations

import math

import pytest

from dbus_bms.cli import main
from dbus_bms.sim.charge_loop import DVCC
from dbus_bms.sim.group_loop import GroupTrace, Silence, run_group
from dbus_bms.sim.loop_pack import LoopPack
from dbus_bms.sim.parallel_bank import ParallelBank, three_pack_bank
from dbus_bms.sim.profiles import Conditions

START = 7 * 3600.0  # the solar day's sun is coming up, the bank at 40 %
# A charger that could give more than the group takes: CCL binds, the split has to be right.
STRONG = lambda t: Conditions(charge_available=400.0, load=10.0, ambient=20.0)  # noqa: E731


# --- The bank ---------------------------------------------------------------------------------------


def _pair(**second) -> ParallelBank:
    return ParallelBank([LoopPack(cells=4, capacity_ah=100.0, soc_percent=50.0, seed=1, soc_spread=0.0),
                         LoopPack(cells=4, capacity_ah=100.0, soc_percent=50.0, seed=1, soc_spread=0.0, **second)])


def test_every_pack_sits_at_the_bus_voltage_and_the_currents_add_up():
    bank = three_pack_bank()
    for total in (150.0, 0.0, -80.0):
        currents, bus = bank.split(total)
        assert sum(currents) == pytest.approx(total, abs=1e-6)
        for p, r, amps in zip(bank.packs, bank.links, currents):
            assert p.open_circuit_voltage + amps * (p.total_resistance + r) == pytest.approx(bus, abs=1e-6)


def test_the_lower_resistance_and_the_emptier_pack_take_more():
    low_r = _pair(resistance=[0.0005] * 4)
    currents, _ = low_r.split(100.0)
    assert currents[1] > currents[0] > 0
    emptier = _pair(soc=[40.0] * 4)
    currents, _ = emptier.split(100.0)
    assert currents[1] > currents[0]
    # At rest the fuller pack charges the emptier one through the bus.
    currents, _ = emptier.split(0.0)
    assert currents[0] < 0 < currents[1] and sum(currents) == pytest.approx(0.0, abs=1e-9)


def test_a_pack_with_its_charge_fet_open_takes_no_charge_but_still_discharges():
    bank = three_pack_bank()
    bank.packs[0].protection.charge_fet = False
    currents, _ = bank.split(100.0)
    assert currents[0] == 0.0 and sum(currents) == pytest.approx(100.0, abs=1e-6)
    currents, _ = bank.split(-100.0)
    assert currents[0] < 0


def test_a_current_no_fet_lets_through_does_not_flow():
    bank = three_pack_bank()
    for p in bank.packs:
        p.protection.discharge_fet = False
    currents, _ = bank.split(-50.0)
    assert currents == [0.0, 0.0, 0.0]


# --- The group in closed loop -----------------------------------------------------------------------


@pytest.fixture(scope="module", params=["solar-day", "strong charger"])
def charged(request) -> GroupTrace:
    profile = "solar-day" if request.param == "solar-day" else STRONG
    return run_group(6.0, profile, start=START if request.param == "solar-day" else 0.0, charger=DVCC)


def test_charging_from_40_percent_no_member_cell_goes_over_its_own_limit(charged):
    for k, name in enumerate(charged.names):
        top, cell, hour = charged.max_cell(k)
        assert top <= charged.cell_max_voltage[k] + 0.010, f"{name} cell {cell} at {top:.3f} V at {hour:.2f} h"
    # The weak cell did get there: the limits held it, not a bank that never filled.
    assert charged.max_cell(1)[0] > charged.cell_max_voltage[1] - 0.010
    assert min(charged.member_soc[-1]) > 80.0


def test_the_bank_current_stays_within_the_group_limits_and_each_pack_within_its_own(charged):
    for i in range(1, len(charged.t)):
        assert charged.current[i] <= (charged.ccl[i] or 0.0) + 1e-6
        assert charged.current[i] >= -(charged.dcl[i] or 0.0) - 1e-6
        if charged.charger_current[i] > 0:
            # The chargers hold the bus at CVL (above it only packs fuller than that, the chargers off).
            assert charged.bus_voltage[i] <= (charged.cvl[i] or 0.0) + 1e-6
        for k in range(len(charged.names)):
            # The shares are measured a reading earlier: a pack may run a little over a limit that has just fallen.
            own = charged.member_ccl[i - 1][k] or 0.0
            assert charged.member_current[i][k] <= own * 1.03 + 0.5


def test_once_a_member_tapers_the_group_ccl_is_well_under_the_naive_sum(charged):
    tapering = [i for i, reason in enumerate(charged.charge_limitation) if reason.startswith("pack2: Cell")]
    assert tapering
    assert min(charged.ccl[i] / charged.naive_ccl[i] for i in tapering) < 0.7  # type: ignore[operator]
    assert all(c <= n + 1e-6 for c, n in zip(charged.ccl, charged.naive_ccl))  # type: ignore[operator]


def _group_limit(own: list[float | None], shares: tuple[float | None, ...]) -> float:
    bound = min(o / s for o, s in zip(own, shares) if s is not None and o is not None)
    return math.floor(round(bound * 10.0, 6)) / 10.0


def test_when_a_packs_bms_opens_its_charge_fet_the_others_carry_the_current_within_their_own_limits():
    bank = three_pack_bank()
    # Its BMS protects below where its charge control holds the cells: it opens its FET while charging.
    bank.packs[2].protection.cell_ovp, bank.packs[2].protection.cell_ovp_recover = 3.35, 3.33
    trace = run_group(1.0, STRONG, bank=bank)
    opened = [i for i, shares in enumerate(trace.charge_shares) if shares[2] is None]
    assert opened
    for i in opened:
        # In the same step: no share for it, the limit from the two that take the current, and they stay in it.
        assert trace.member_current[i][2] == 0.0
        assert trace.ccl[i] == pytest.approx(_group_limit(trace.member_ccl[i][:2], trace.charge_shares[i][:2]))
        for k in (0, 1):
            assert trace.member_current[i][k] <= (trace.member_ccl[i][k] or 0.0) * 1.03 + 0.5
    # Its FET back on with its own CCL still at 0 (its recovery hold): the group does not charge.
    held = [i for i, own in enumerate(trace.member_ccl) if own[2] == 0.0 and trace.charge_shares[i][2] is not None]
    assert held and all(trace.ccl[i] == 0.0 for i in held)
    assert all(trace.charge_limitation[i].startswith("pack3: ") for i in held)


def test_a_silenced_member_leaves_the_group_online_with_limits_from_the_two_that_remain():
    trace = run_group(0.5, STRONG, min_members=2, silences=[Silence(2, 600.0, 1200.0)])
    during = [i for i, t in enumerate(trace.t) if 700.0 <= t < 1200.0]
    before = [i for i, t in enumerate(trace.t) if 400.0 <= t < 600.0]
    for i in during:
        assert (trace.online[i], trace.offline[i]) == (2, 1) and not trace.stale[i]
        shares = trace.charge_shares[i]
        assert shares[2] is None and sum(shares[:2]) == pytest.approx(1.0)  # type: ignore[arg-type]
        assert trace.ccl[i] == pytest.approx(_group_limit(trace.member_ccl[i][:2], shares[:2]))
        assert trace.dcl[i] == pytest.approx(_group_limit(trace.member_dcl[i][:2], trace.discharge_shares[i][:2]))
        assert trace.charge_limitation[i].startswith(("pack1: ", "pack2: "))
    # Two of the three packs carry the group now: less than with all three, and about their share of it.
    assert max(trace.ccl[i] for i in during) < min(trace.ccl[i] for i in before)  # type: ignore[type-var]
    assert trace.ccl[during[-1]] == pytest.approx(250.0, abs=5.0)
    assert all(trace.online[i] == 3 for i, t in enumerate(trace.t) if t >= 1260.0)


def test_with_min_members_3_a_silenced_member_puts_the_group_in_its_fail_safe():
    trace = run_group(0.5, STRONG, min_members=3, silences=[Silence(2, 600.0, 1200.0)])
    during = [i for i, t in enumerate(trace.t) if 700.0 <= t < 1200.0]
    for i in during:
        assert trace.stale[i] and trace.ccl[i] == 0.0 and trace.online[i] == 2
        assert trace.charge_limitation[i] == "Fail-safe: only 2 of 3 packs online (at least 3 needed)"
        # No charging; discharge within what the silent pack's own fail-safe allows at its share.
        assert trace.current[i] <= 1e-6
        assert trace.dcl[i] == pytest.approx(_group_limit(trace.member_dcl[i], trace.discharge_shares[i]))
        assert trace.dcl[i] < 150.0
    assert not any(trace.stale[i] for i, t in enumerate(trace.t) if t >= 1260.0)


# --- simulate-charge --group ------------------------------------------------------------------------


def test_simulate_charge_group_prints_each_packs_peak_cell(capsys):
    assert main(["simulate-charge", "--hours", "12", "--group", "--cells", "4", "--dt", "10"]) == 0
    out = capsys.readouterr().out
    assert "3 packs in parallel of 4 cells (280, 230 and 100 Ah)" in out
    for name in ("pack1", "pack2", "pack3"):
        assert f"peak cell {name}" in out
    assert "group CCL" in out and "where the members' CCLs add up to" in out


def test_simulate_charge_group_refuses_what_only_a_single_pack_takes(capsys):
    assert main(["simulate-charge", "--hours", "1", "--group", "--glitch", "0.5", "--weak-cell", "2"]) == 2
    assert "does not take --glitch, --weak-cell" in capsys.readouterr().err
