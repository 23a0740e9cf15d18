"""The history: what a reading adds (extremes, and energy meters by trapezoid), its saved form, and the
file that keeps it across restarts."""

from __future__ import annotations

import json
import logging
import math
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.config import ConfigError, parse_config
from dbus_bms.history import History, from_dict, full_cycles, to_dict, trapezoid
from dbus_bms.history import update as update_at
from dbus_bms.history_store import DEFAULT_INTERVAL, HistoryStore
from dbus_bms.model import Sample

_THOROUGH = os.environ.get("DBUS_BMS_THOROUGH") == "1"
STALE_AFTER = 10.0
MIN_SAVE_SPACING = DEFAULT_INTERVAL


def update(history: History, sample: Sample, dt: float | None, **kw) -> History:
    """``history`` with ``sample`` taken in ``dt`` s after the reading before (None: the first)."""
    now = 0.0 if history.point is None or dt is None else history.point[0] + dt
    return update_at(history, sample, now, stale_after=STALE_AFTER, **kw)


def totals(h: History) -> tuple[float, ...]:
    return h.charged_energy, h.discharged_energy, h.ah_drawn, h.ah_charged


def reading(cells=(3.30, 3.31, 3.29), voltage=9.9, current=0.0, temps=(21.0, 23.5)) -> Sample:
    return Sample(voltage=voltage, current=current, cell_voltages=list(cells) if cells is not None else None,
                  temperatures=list(temps) if temps is not None else None)


def test_a_first_reading_sets_every_extreme_and_counts_nothing():
    h = update(History(), reading(current=-50.0), None)
    assert (h.min_cell_voltage, h.max_cell_voltage) == (3.29, 3.31)
    assert (h.min_voltage, h.max_voltage) == (9.9, 9.9)
    assert (h.min_temperature, h.max_temperature) == (21.0, 23.5)
    assert totals(h) == (0.0, 0.0, 0.0, 0.0)


def test_extremes_widen_and_never_narrow():
    h = update(History(), reading(), None)
    h = update(h, reading(cells=(3.20, 3.45, 3.30), voltage=9.95, temps=(30.0, 19.5)), 1.0)
    h = update(h, reading(cells=(3.30, 3.30, 3.30), voltage=9.9, temps=(22.0, 22.0)), 1.0)
    assert (h.min_cell_voltage, h.max_cell_voltage) == (3.20, 3.45)
    assert (h.min_voltage, h.max_voltage) == (9.9, 9.95)
    assert (h.min_temperature, h.max_temperature) == (19.5, 30.0)


def test_a_reading_without_a_value_leaves_its_extremes():
    h = update(History(), reading(), None)
    assert update(h, Sample(), 1.0) == h
    assert update(History(), Sample(), None) == History()


def test_held_cells_and_their_pack_voltage_go_into_no_extreme():
    h = update(History(), reading(), None)
    held = update(h, reading(cells=(3.30, 4.90, 3.29), voltage=11.5, temps=(40.0, 41.0)), 1.0, cells_held=True)
    assert (held.max_cell_voltage, held.max_voltage) == (3.31, 9.9)
    assert held.max_temperature == 41.0  # checked on its own; no check held it


def test_the_meters_integrate_by_trapezoid_between_two_readings():
    h = update(History(), reading(voltage=50.0, current=-10.0), None)
    h = update(h, reading(voltage=50.0, current=-30.0), 9.0)  # 20 A for 9 s, 1 kW
    assert (h.ah_drawn, h.discharged_energy) == (pytest.approx(0.05), pytest.approx(0.0025))
    assert (h.ah_charged, h.charged_energy) == (0.0, 0.0)
    h = update(h, reading(voltage=52.0, current=-30.0), 3.6)  # 1500 W to 1560 W
    assert h.discharged_energy == pytest.approx(0.0025 + 1530 * 3.6 / 3.6e6)


def test_an_interval_that_crosses_zero_is_split_between_charge_and_discharge():
    h = update(History(), reading(voltage=50.0, current=-10.0), None)
    h = update(h, reading(voltage=50.0, current=30.0), 8.0)  # through 0 A after 2 s
    assert h.ah_drawn == pytest.approx(10 * 2 / 2 / 3600)
    assert h.ah_charged == pytest.approx(30 * 6 / 2 / 3600)
    assert h.discharged_energy == pytest.approx(500 * 2 / 2 / 3.6e6)
    assert h.charged_energy == pytest.approx(1500 * 6 / 2 / 3.6e6)


@pytest.mark.parametrize(("a", "b"), [(3.0, 5.0), (-3.0, -5.0), (4.0, -1.0), (-1.0, 4.0), (0.0, -2.0), (0.0, 0.0)])
def test_the_split_trapezoid_keeps_the_net_area_and_both_parts_apart(a, b):
    above, below = trapezoid(a, b, 2.0)
    assert above >= 0 and below >= 0
    assert above - below == pytest.approx(a + b)
    assert (above > 0) == (max(a, b) > 0) and (below > 0) == (min(a, b) < 0)


def test_nothing_is_counted_over_a_gap_or_without_current():
    h = update(History(), reading(voltage=50.0, current=-20.0), None)
    assert totals(update(h, reading(voltage=50.0, current=-20.0), STALE_AFTER + 0.1)) == (0.0, 0.0, 0.0, 0.0)
    assert totals(update(h, reading(voltage=50.0, current=-20.0), 0.0)) == (0.0, 0.0, 0.0, 0.0)
    at_the_bound = update(h, reading(voltage=50.0, current=-20.0), STALE_AFTER)
    assert at_the_bound.ah_drawn == pytest.approx(20 * STALE_AFTER / 3600)
    no_current = update(h, Sample(voltage=50.0, cell_voltages=[3.3]), 5.0)
    assert totals(no_current) == (0.0, 0.0, 0.0, 0.0)
    # Nor the interval after it: one end of it carries no current.
    assert totals(update(no_current, reading(voltage=50.0, current=-20.0), 5.0)) == (0.0, 0.0, 0.0, 0.0)
    no_voltage = update(h, Sample(current=-16.0), 10.0)
    assert (no_voltage.discharged_energy, no_voltage.ah_drawn) == (0.0, pytest.approx(0.05))


def test_after_a_gap_the_next_interval_counts_again():
    h = update(History(), reading(voltage=50.0, current=-36.0), None)
    h = update(h, reading(voltage=50.0, current=-36.0), 3600.0)  # a gap: nothing known
    h = update(h, reading(voltage=50.0, current=-36.0), 10.0)
    assert h.ah_drawn == pytest.approx(0.1) and h.discharged_energy == pytest.approx(0.005)


def test_full_cycles_are_the_charge_taken_out_over_the_capacity():
    h = History(ah_drawn=700.0, ah_charged=690.0)
    assert full_cycles(h, 280.0) == pytest.approx(2.5)
    assert full_cycles(h, None) is None and full_cycles(h, 0.0) is None


def test_a_file_of_an_earlier_version_loads_with_the_charged_ah_at_zero():
    old = {k: v for k, v in to_dict(History(charged_energy=1.5, ah_drawn=30.0)).items() if k != "ah_charged"}
    h = from_dict(old)
    assert (h.charged_energy, h.ah_drawn, h.ah_charged) == (1.5, 30.0, 0.0)


@settings(max_examples=200 if _THOROUGH else 20, derandomize=not _THOROUGH, deadline=None)
@given(st.lists(st.tuples(st.lists(st.floats(2.5, 3.65), min_size=1, max_size=4), st.floats(-20, 60),
                          st.floats(-200, 200)), min_size=1, max_size=20))
def test_the_extremes_are_those_of_the_readings_and_survive_the_saved_form(readings):
    h = History()
    for cells, temp, current in readings:
        h = update(h, reading(cells=cells, voltage=round(sum(cells), 2), current=current, temps=(temp,)), 1.0)
    every_cell = [v for cells, _, _ in readings for v in cells]
    assert (h.min_cell_voltage, h.max_cell_voltage) == (min(every_cell), max(every_cell))
    assert (h.min_temperature, h.max_temperature) == (min(t for _, t, _ in readings), max(t for _, t, _ in readings))
    assert min(totals(h)) >= 0
    back = from_dict(json.loads(json.dumps(to_dict(h))))
    assert back.min_cell_voltage == round(h.min_cell_voltage, 3)
    assert back.max_temperature == round(h.max_temperature, 1)
    assert to_dict(back) == to_dict(h)


def test_a_fresh_history_round_trips():
    assert from_dict(to_dict(History())) == History()


@pytest.mark.parametrize("data", [
    [], "x", {"min_cell_voltage": 3.3}, {**to_dict(History()), "charged_energy": -1.0},
    {**to_dict(History()), "charged_energy": "1"}, {**to_dict(History()), "ah_drawn": math.nan},
    {**to_dict(History()), "discharged_energy": True}, {**to_dict(History()), "ah_charged": None},
    {**to_dict(History()), "ah_charged": -0.5},
    {**to_dict(History()), "min_voltage": 50.0, "max_voltage": 49.0},
    {**to_dict(History()), "min_temperature": 20.0},
])
def test_a_damaged_saved_form_is_refused(data):
    with pytest.raises(ValueError):
        from_dict(data)


def test_the_store_writes_only_a_change_at_most_once_a_spacing_and_the_rest_at_a_stop(tmp_path):
    path = tmp_path / "history-house.json"
    store = HistoryStore(path)
    assert store.load() == History()
    first = update(History(), reading(), None)
    assert store.save(first, 1000.0) and store.writes == 1
    assert not store.save(first, 1030.0)  # unchanged: no write
    wider = update(first, reading(cells=(3.10, 3.31, 3.29)), 1.0)
    assert not store.save(wider, 1000.0 + MIN_SAVE_SPACING - 1)  # changed, but too soon after the last write
    assert store.writes == 1 and from_dict(json.loads(path.read_text())) == first
    widest = update(wider, reading(cells=(3.05, 3.31, 3.29)), 1.0)
    assert store.save(widest, 1000.0 + MIN_SAVE_SPACING) and store.writes == 2
    last = update(widest, reading(cells=(3.00, 3.31, 3.29)), 1.0)
    assert not store.save(last, 1000.0 + MIN_SAVE_SPACING + 1)
    assert store.flush(1000.0 + MIN_SAVE_SPACING + 2) and not store.flush(1000.0 + MIN_SAVE_SPACING + 3)
    assert HistoryStore(path).load() == last


def test_a_store_on_an_earlier_file_writes_nothing_until_it_changes(tmp_path):
    path = tmp_path / "history-house.json"
    h = update(History(), reading(), None)
    assert HistoryStore(path).save(h, 0.0)
    again = HistoryStore(path)
    assert again.load() == h
    assert not again.save(h, 100.0) and not again.flush(200.0) and again.writes == 0


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"charged_energy": -5}'])
def test_a_damaged_file_starts_a_fresh_history_and_says_so(tmp_path, caplog, content):
    path = tmp_path / "history-house.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="dbus_bms"):
        assert HistoryStore(path).load() == History()
    assert "cannot use the saved history" in caplog.text and "starting a fresh one" in caplog.text


def test_a_link_at_the_file_is_not_followed(tmp_path, caplog):
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps(to_dict(update(History(), reading(), None))))
    path = tmp_path / "history-house.json"
    path.symlink_to(target)
    with caplog.at_level(logging.WARNING, logger="dbus_bms"):
        assert HistoryStore(path).load() == History()
    assert "symbolic link" in caplog.text


def test_a_write_that_fails_is_logged_once_and_tried_again(tmp_path, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("")
    store = HistoryStore(blocked / "history-house.json")  # its directory is a file: every write fails
    h = update(History(), reading(), None)
    with caplog.at_level(logging.WARNING, logger="dbus_bms"):
        assert not store.save(h, 0.0)
        assert not store.save(update(h, reading(cells=(3.0, 3.3)), 1.0), MIN_SAVE_SPACING)
    assert caplog.text.count("cannot save the history") == 1 and store.writes == 0


def test_a_day_of_changes_costs_at_most_86400_over_the_interval_writes(tmp_path):
    store = HistoryStore(tmp_path / "history-house.json", 300.0)
    h = update(History(), reading(current=-50.0), None)
    for second in range(0, 86400, 10):
        h = update(h, reading(current=-50.0), 10.0)
        store.save(h, 1_800_000_000.0 + second)
    assert store.writes == 86400 / 300.0
    assert HistoryStore(tmp_path / "history-house.json").load().ah_drawn == pytest.approx(h.ah_drawn, abs=50 * 300 / 3600)


def test_history_interval_defaults_to_a_minute_and_is_checked_with_its_line():
    serial = "batteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n"
    assert parse_config(serial).history_interval == DEFAULT_INTERVAL == 60.0
    assert parse_config("history_interval: 5\n" + serial).history_interval == 5.0
    for value, message in (("0.5", "out of range 1 to 3600 s"), ("3601", "out of range"), ("often", "expected a number")):
        with pytest.raises(ConfigError) as err:
            parse_config(f"state_dir: /tmp\nhistory_interval: {value}\n" + serial)
        [issue] = err.value.errors
        assert (issue.line, issue.key) == (2, "history_interval") and message in issue.message
