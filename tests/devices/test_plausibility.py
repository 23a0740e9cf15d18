"""The reading judge on constructed readings: every window, every relation, identity pinning and
frozen data, with the messages an owner reads in the log."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from dbus_bms.devices.plausibility import FOREIGN, FROZEN, IMPLAUSIBLE, ReadingJudge, Verdict
from dbus_bms.model import BmsSettings, DeviceInfo, Sample

NAN, INF = math.nan, math.inf


def good(**changes) -> Sample:
    """A 16-cell LFP pack discharging at 12.5 A, as a JK02_32S reports it."""
    cells = [3.301, 3.302, 3.300, 3.303] * 4
    sample = Sample(
        voltage=52.85,
        current=-12.5,
        soc=55.0,
        soh=100.0,
        capacity_remaining=154.0,
        capacity_full=280.0,
        cycles=12,
        cell_voltages=cells,
        temperatures=[21.5, 22.0],
        mosfet_temperature=25.0,
        bms_settings=BmsSettings(max_charge_current=150.0, max_discharge_current=200.0),
        device=DeviceInfo(model="JK_PB2A16S20P", serial="A"),
    )
    return replace(sample, **changes)


def refusal(sample: Sample, judge: ReadingJudge | None = None) -> Verdict:
    verdict = (judge or ReadingJudge()).judge(sample)
    assert verdict is not None, f"accepted: {sample}"
    return verdict


def test_a_real_pack_passes():
    assert ReadingJudge().judge(good()) is None


def test_a_bms_that_sends_no_values_passes():
    assert ReadingJudge().judge(Sample()) is None


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"voltage": NAN}, "voltage = nan V"),
        ({"voltage": INF}, "voltage = inf V"),
        ({"voltage": 0.0}, "voltage = 0.00 V is not above 0 V"),
        ({"voltage": 1000.5}, "voltage = 1000.50 V is outside 0..1000 V"),
        ({"current": NAN}, "current = nan A"),
        ({"current": -INF}, "current = -inf A"),
        ({"current": 5000.5, "bms_settings": None}, "current = 5000.50 A is outside -5000..5000 A"),
        ({"power": NAN}, "power = nan W"),
        ({"power": 6e6}, "power = 6000000 W is outside -5000000..5000000 W"),
        ({"soc": NAN}, "soc = nan %"),
        ({"soc": 255.0}, "soc = 255 % is outside 0..100 %"),
        ({"soc": -1.0}, "soc = -1 % is outside 0..100 %"),
        ({"soh": 137.0}, "soh = 137 % is outside 0..100 %"),
        ({"soh": INF}, "soh = inf %"),
        ({"capacity_remaining": NAN}, "capacity remaining = nan Ah"),
        ({"capacity_remaining": -0.5}, "capacity remaining = -0.5 Ah is outside 0..100000 Ah"),
        ({"capacity_full": 0.0}, "capacity full = 0.0 Ah is not above 0 Ah"),
        ({"capacity_full": 4294967.295}, "capacity full = 4294967.3 Ah is outside 0..100000 Ah"),
        ({"cycles": 4294967295}, "cycles = 4294967295 is outside 0..100000"),
        ({"cell_voltages": [3.3, 3.3, NAN] + [3.3] * 13}, "cell 3 = nan V"),
        ({"cell_voltages": [0.0] + [3.3] * 15}, "cell 1 = 0.000 V is outside 0.5..5.0 V"),
        ({"cell_voltages": [3.3] * 15 + [65.535]}, "cell 16 = 65.535 V is outside 0.5..5.0 V"),
        ({"temperatures": [21.0, NAN]}, "temperature 2 = nan °C"),
        ({"temperatures": [-200.0]}, "temperature 1 = -200.0 °C is outside -50..120 °C"),
        ({"temperatures": [3276.7]}, "temperature 1 = 3276.7 °C is outside -50..120 °C"),
        ({"mosfet_temperature": 121.0}, "mosfet temperature = 121.0 °C is outside -50..120 °C"),
        ({"mosfet_temperature": -INF}, "mosfet temperature = -inf °C"),
        ({"bms_settings": BmsSettings(max_charge_current=NAN)}, "BMS charge current limit = nan A"),
        ({"bms_settings": BmsSettings(max_discharge_current=-1.0)}, "BMS discharge current limit = -1.0 A is outside 0..5000 A"),
        ({"bms_settings": BmsSettings(cell_ovp=36.5)}, "BMS cell over-voltage protection = 36.500 V is outside 0.5..5.0 V"),
        ({"bms_settings": BmsSettings(charge_min_temperature=-INF)}, "BMS charge under-temperature protection = -inf °C"),
    ],
)
def test_every_value_must_be_a_finite_number_in_its_window(changes, message):
    verdict = refusal(good(**changes))
    assert verdict.kind == IMPLAUSIBLE
    assert message in verdict.problems


def test_a_value_that_is_no_number_is_named():
    assert refusal(good(soc="55")).problems == ("soc = '55' is not a number",)


@pytest.mark.parametrize("value", [0.5, 5.0, 1.5, 4.35])
def test_the_cell_window_holds_lto_to_li_ion(value):
    cells = [value] * 16
    assert ReadingJudge().judge(good(cell_voltages=cells, voltage=round(sum(cells), 3))) is None


@pytest.mark.parametrize(
    "limits", [{"soc": 0.0, "capacity_remaining": 0.0}, {"soc": 100.0, "soh": 0.0}, {"temperatures": [-50.0, 120.0]}]
)
def test_the_window_ends_are_inside(limits):
    assert ReadingJudge().judge(good(**limits)) is None


def test_cell_count_is_1_to_64():
    assert refusal(good(cell_voltages=[], voltage=52.85)).problems == ("cell count = 0 is outside 1..64",)
    cells = [3.3] * 65
    assert "cell count = 65 is outside 1..64" in refusal(good(cell_voltages=cells, voltage=sum(cells))).problems
    cells = [3.3] * 64
    assert ReadingJudge().judge(good(cell_voltages=cells, voltage=sum(cells))) is None


def test_a_monitors_consumed_charge_is_zero_or_less():
    assert ReadingJudge().judge(good(consumed_ah=-101.2)) is None
    assert refusal(good(consumed_ah=3.0)).problems == ("consumed Ah = 3.0 Ah is outside -100000..0 Ah",)


def test_cell_resistances_are_judged_one_per_cell():
    ohms = [0.0002] * 16
    assert ReadingJudge().judge(good(cell_resistances=ohms)) is None
    assert refusal(good(cell_resistances=[*ohms[:15], 2.5])).problems == (
        "cell 16 resistance = 2.5000 Ω is outside 0..1 Ω",)
    assert refusal(good(cell_resistances=[float("nan")] * 16)).kind == "implausible"
    assert refusal(good(cell_resistances=ohms[:8])).problems == ("8 cell resistances for 16 cells",)


def test_the_sum_of_the_cells_must_match_the_pack_voltage():
    total = sum(good().cell_voltages)  # 52.824 V
    # The BMS measures the pack at its terminals: under load a volt apart is normal.
    assert ReadingJudge().judge(good(voltage=total + 0.99)) is None
    assert ReadingJudge().judge(good(voltage=total - 0.99)) is None
    verdict = refusal(good(voltage=total + 3.0))
    assert verdict.problems == ("sum of cells 52.82 V against pack 55.82 V (more than 2.79 V apart)",)
    # A lost cell (16 cells sent, 15 of them summed into the pack voltage) is caught.
    assert refusal(good(voltage=total - 3.3)).kind == IMPLAUSIBLE


def test_the_sum_tolerance_grows_with_a_high_voltage_pack():
    cells = [3.3] * 64  # 211.2 V; 5 % of the pack voltage is over 10 V
    assert ReadingJudge().judge(good(cell_voltages=cells, voltage=211.2 + 10.0)) is None
    assert refusal(good(cell_voltages=cells, voltage=211.2 + 12.0)).kind == IMPLAUSIBLE


def test_current_within_three_times_the_bms_own_limit():
    # Charge limit 150 A, discharge limit 200 A: a surge passes, a misread does not.
    assert ReadingJudge().judge(good(current=450.0)) is None
    assert ReadingJudge().judge(good(current=-600.0)) is None
    assert refusal(good(current=450.5)).problems == ("current = 450.50 A is over 3 × the BMS's charge limit of 150 A",)
    assert refusal(good(current=-600.5)).problems == (
        "current = -600.50 A is over 3 × the BMS's discharge limit of 200 A",
    )
    # Without limits from the BMS only the physical window applies.
    assert ReadingJudge().judge(good(current=4999.0, bms_settings=None)) is None


def test_remaining_capacity_at_most_one_and_a_half_times_the_full_one():
    assert ReadingJudge().judge(good(capacity_remaining=420.0)) is None
    assert refusal(good(capacity_remaining=420.5)).problems == (
        "capacity remaining 420.5 Ah is over 1.5 × capacity full 280.0 Ah",
    )


def test_a_long_list_of_problems_is_cut_short():
    verdict = refusal(good(cell_voltages=[0.0] * 16))
    assert len(verdict.problems) == 16
    assert verdict.message == (
        "cell 1 = 0.000 V is outside 0.5..5.0 V, cell 2 = 0.000 V is outside 0.5..5.0 V, "
        "cell 3 = 0.000 V is outside 0.5..5.0 V and 13 more"
    )


def test_relations_are_judged_only_on_values_in_their_windows():
    # A NaN pack voltage is reported as such, not as a sum that does not match.
    assert refusal(good(voltage=NAN)).problems == ("voltage = nan V",)


# --- Identity ---------------------------------------------------------------------------------


def test_the_serial_of_the_first_accepted_reading_is_pinned():
    judge = ReadingJudge()
    assert judge.judge(good()) is None
    verdict = refusal(good(device=DeviceInfo(serial="B")), judge)
    assert verdict.kind == FOREIGN and verdict.message == "serial 'B' is not the pinned 'A'"
    # Still refused later, and ours is still accepted: the pin is for the life of the judge.
    assert refusal(good(device=DeviceInfo(serial="B")), judge).kind == FOREIGN
    assert judge.judge(good()) is None


def test_a_serial_first_seen_later_is_pinned_then():
    judge = ReadingJudge()
    assert judge.judge(good(device=None)) is None
    assert judge.judge(good(device=DeviceInfo(serial="A"))) is None
    assert refusal(good(device=DeviceInfo(serial="B")), judge).kind == FOREIGN
    # A reading that does not carry the serial is not compared on it.
    assert judge.judge(good(device=DeviceInfo())) is None


def test_another_serial_is_foreign_even_when_its_values_are_implausible():
    judge = ReadingJudge()
    judge.judge(good())
    assert refusal(good(device=DeviceInfo(serial="B"), soc=255.0), judge).kind == FOREIGN


def test_the_cell_count_is_pinned():
    judge = ReadingJudge()
    cells = [3.3] * 8
    assert judge.judge(good(cell_voltages=cells, voltage=26.4)) is None
    verdict = refusal(good(), judge)
    assert verdict.kind == FOREIGN and verdict.message == "16 cells where the BMS had 8"
    assert judge.judge(good(cell_voltages=None)) is None


def test_a_refused_reading_pins_nothing():
    judge = ReadingJudge()
    assert refusal(good(device=DeviceInfo(serial="B"), soc=255.0), judge).kind == IMPLAUSIBLE
    assert refusal(good(cell_voltages=[3.3] * 8), judge).kind == IMPLAUSIBLE  # sum against pack
    assert judge.judge(good()) is None
    assert (judge.serial, judge.cell_count) == ("A", 16)


# --- Frozen data --------------------------------------------------------------------------------


def test_a_reading_repeated_while_current_flows_is_frozen():
    judge = ReadingJudge(frozen_polls=3)
    for _ in range(3):  # the first reading and two repeats
        assert judge.judge(good()) is None
    verdict = refusal(good(), judge)
    assert verdict.kind == FROZEN
    assert verdict.message == "cells and current unchanged for 3 polls at -12.50 A"
    # It stays refused while nothing moves, and counts on.
    assert refusal(good(), judge).message == "cells and current unchanged for 4 polls at -12.50 A"
    # Any change ends it.
    assert judge.judge(good(current=-12.51)) is None
    assert judge.judge(good(current=-12.51)) is None


def test_a_change_in_one_cell_starts_the_count_again():
    judge = ReadingJudge(frozen_polls=2)
    moved = good().cell_voltages[:]
    moved[7] += 0.001
    for cells in (None, None, moved, moved, None, None):
        assert judge.judge(good(cell_voltages=cells or good().cell_voltages)) is None, cells
    assert refusal(good(), judge).kind == FROZEN


def test_other_values_do_not_keep_a_frozen_reading_alive():
    # Cells and current are what a hung firmware repeats; a SoC ticking on its own does not count.
    judge = ReadingJudge(frozen_polls=2)
    for soc in (55.0, 56.0):
        assert judge.judge(good(soc=soc)) is None
    assert refusal(good(soc=57.0), judge).kind == FROZEN


@pytest.mark.parametrize("current", [0.0, 0.49, -0.49, None])
def test_a_pack_at_rest_may_repeat_itself(current):
    judge = ReadingJudge(frozen_polls=2)
    for _ in range(10):
        assert judge.judge(good(current=current)) is None


def test_frozen_polls_0_never_refuses():
    judge = ReadingJudge()
    for _ in range(500):
        assert judge.judge(good()) is None


def test_an_implausible_reading_neither_breaks_nor_extends_a_frozen_run():
    judge = ReadingJudge(frozen_polls=2)
    assert judge.judge(good()) is None
    assert refusal(good(soc=255.0), judge).kind == IMPLAUSIBLE
    assert judge.judge(good()) is None
    assert refusal(good(), judge).kind == FROZEN
