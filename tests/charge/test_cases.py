"""The cases a real owner meets (restarts, a crash loop, glitches, a drifted SoC, clouds over a
feed-in charger, a top balance with a weak cell, the over-voltage hold under noise, CVL's steps,
the fail-safe on a quiet night), each run in closed loop and its figure held to its bound."""

from __future__ import annotations

import pytest

from dbus_bms.charge.config import ChargeConfig
from dbus_bms.sim import cases

CFG = ChargeConfig()


def check(figure: cases.Figure) -> None:
    assert figure.holds, str(figure)


def test_a_restart_with_a_feed_in_charger_keeps_the_peak_cell_within_10_mv_of_its_limit():
    check(cases.restart_with_feed_in(CFG))


def test_a_crash_loop_every_45_s_delays_float_by_minutes_at_most():
    check(cases.crash_loop(CFG))


def test_one_glitch_reading_in_bulk_cuts_nothing():
    check(cases.glitch_in_bulk(CFG))


def test_one_glitch_reading_in_bulk_leaves_ccl_alone():
    check(cases.glitch_in_bulk_ccl(CFG))


def test_one_glitch_reading_in_float_keeps_float():
    check(cases.glitch_in_float(CFG))


def test_a_glitch_as_the_first_reading_after_a_restart_does_not_hold_cvl_down():
    check(cases.glitch_at_a_restart(CFG))


def test_a_drifted_soc_gives_at_most_one_absorption_a_day():
    check(cases.drifted_soc(CFG))


def test_clouds_with_a_feed_in_charger_keep_the_peak_cell_within_10_mv_of_its_limit():
    check(cases.clouds_with_feed_in(CFG))


def test_a_top_balance_with_a_weak_cell_ends():
    check(cases.top_balance_with_a_weak_cell(CFG))


def test_cvl_does_not_hunt_in_an_over_voltage_hold_with_reading_noise():
    check(cases.hunting_in_an_over_voltage_hold(CFG))


def test_cvl_moves_in_bounded_steps_except_for_cuts():
    check(cases.largest_cvl_step(CFG))


def test_the_fail_safe_does_not_black_out_a_full_pack_within_the_hour():
    check(cases.fail_safe_on_a_quiet_night(CFG))


@pytest.mark.parametrize("figure, holds", [
    (cases.Figure("x", "peak cell", 3.46, "V", 3.46), True),
    (cases.Figure("x", "peak cell", 3.4601, "V", 3.46), False),
    (cases.Figure("x", "DCL 0 after", 59.0, "min", 60.0, at_least=True), False),
])
def test_a_figure_holds_within_its_bound_and_names_itself(figure, holds):
    assert figure.holds is holds
    assert str(figure).startswith("x: ") and figure.what in str(figure)
