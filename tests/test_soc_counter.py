"""SoC by counting: the pure counter, its saved form and file, its config keys, and days of closed loop
against a simulated BMS whose own SoC drifts."""

from __future__ import annotations

import json
import logging

import pytest

from dbus_bms.charge.config import ChargeConfig
from dbus_bms.charge.limits import initial_state, step
from dbus_bms.config import ConfigError, parse_config
from dbus_bms.model import BmsSettings, Sample
from dbus_bms.sim.charge_loop import DVCC, pack_dispatch
from dbus_bms.sim.loop_pack import BmsProtection, LoopPack
from dbus_bms.sim.profiles import DAY, get_profile
from dbus_bms.soc_counter import (
    DEFAULT_EFFICIENCY, SocCount, capacity_of, count, from_dict, published, reached_full, to_dict,
)
from dbus_bms.soc_store import SocStore

STALE_AFTER = 10.0


def counted(counter: SocCount, current: float, now: float, *, capacity: float | None = 100.0, soc: float | None = 50.0,
            efficiency: float = 1.0, full: bool = False) -> SocCount:
    return count(counter, Sample(current=current, soc=soc), now, capacity=capacity, efficiency=efficiency,
                 stale_after=STALE_AFTER, full=full)


def test_it_starts_from_the_bms_soc_and_counts_the_current_against_the_capacity():
    c = counted(SocCount(), -36.0, 0.0, soc=80.0)
    assert c.soc == 80.0
    for n in range(1, 11):  # 36 A out for 10 s of a 100 Ah pack: 0.1 Ah, 0.1 %
        c = counted(c, -36.0, float(n), soc=12.0)
    assert c.soc == pytest.approx(79.9)  # the BMS's SoC only started it


def test_charge_counts_times_the_efficiency_and_discharge_in_full():
    c = counted(SocCount(soc=50.0), 360.0, 0.0)
    c = counted(c, 360.0, 10.0, efficiency=0.9)  # 1 Ah in, 0.9 Ah stored
    assert c.soc == pytest.approx(50.9)
    c = counted(c, -360.0, 20.0, efficiency=0.9)  # through 0 A half way: 0.25 Ah in, 0.25 Ah out
    assert c.soc == pytest.approx(50.9 + 0.25 * 0.9 - 0.25)


def test_a_gap_counts_nothing_and_neither_does_a_reading_without_current_or_capacity():
    c = counted(SocCount(soc=50.0), -100.0, 0.0)
    assert counted(c, -100.0, STALE_AFTER + 1).soc == 50.0
    assert counted(c, -100.0, 0.0).soc == 50.0
    assert counted(c, -100.0, 5.0, capacity=None).soc == 50.0
    silent = count(c, Sample(soc=50.0), 5.0, capacity=100.0, efficiency=1.0, stale_after=STALE_AFTER)
    assert silent.soc == 50.0 and counted(silent, -100.0, 10.0).soc == 50.0  # one end without a current


def test_it_stays_within_0_and_100_and_a_full_charge_sets_100():
    c = counted(SocCount(soc=99.9), 3600.0, 0.0)
    assert counted(c, 3600.0, 10.0).soc == 100.0
    c = counted(SocCount(soc=0.1), -3600.0, 0.0)
    assert counted(c, -3600.0, 10.0).soc == 0.0
    assert counted(SocCount(soc=62.0), 5.0, 0.0, full=True).soc == 100.0
    assert counted(SocCount(), 5.0, 0.0, soc=None, full=True).soc == 100.0


def test_without_a_bms_soc_nothing_starts_until_a_full_charge():
    c = counted(SocCount(), -10.0, 0.0, soc=None)
    assert c.soc is None and to_dict(c) is None
    assert published(Sample(soc=None, current=-10.0), c).soc is None


def test_full_is_when_charge_control_starts_its_time_since_full_again():
    assert reached_full(None, 0.0) and reached_full(86400.0, 0.0) and reached_full(86400.0, 3.0)
    assert not reached_full(None, None) and not reached_full(10.0, 15.0) and not reached_full(0.0, 0.0)


def test_the_capacity_is_the_bms_full_one_else_its_nominal_one():
    settings = BmsSettings(nominal_capacity=230.0)
    assert capacity_of(Sample(capacity_full=280.0), settings) == 280.0
    assert capacity_of(Sample(), settings) == 230.0
    assert capacity_of(Sample(bms_settings=BmsSettings(nominal_capacity=100.0)), settings) == 100.0
    assert capacity_of(Sample(capacity_full=0.0)) is None and capacity_of(Sample(), BmsSettings()) is None


def test_the_published_reading_carries_the_count():
    c = counted(SocCount(soc=40.0), -10.0, 0.0, capacity=280.0)
    shown = published(Sample(soc=71.0, capacity_remaining=198.8, capacity_full=280.0, current=-10.0), c)
    assert (shown.soc, shown.capacity_remaining, shown.capacity_full, shown.consumed_ah) == (40.0, 112.0, 280.0, -168.0)
    without = counted(SocCount(soc=40.0), -10.0, 0.0, capacity=None)
    reading = Sample(soc=71.0, capacity_remaining=198.8)
    assert published(reading, without) is reading


def test_the_saved_form_round_trips_and_a_damaged_one_is_refused():
    assert from_dict(json.loads(json.dumps(to_dict(SocCount(soc=57.12345))))).soc == 57.123
    for bad in ([], {"soc": None}, {"soc": "5"}, {"soc": True}, {"soc": 100.5}, {"soc": -1}, {"soc": float("nan")}):
        with pytest.raises(ValueError):
            from_dict(bad)


def test_the_store_writes_at_most_once_an_interval_and_the_rest_at_a_stop(tmp_path):
    path = tmp_path / "soc-house.json"
    store = SocStore(path, 30.0)
    assert store.load() == SocCount()
    assert not store.save(SocCount(), 0.0) and store.writes == 0  # nothing counted yet
    assert store.save(SocCount(soc=50.0), 0.0)
    assert not store.save(SocCount(soc=49.0), 29.0)
    assert store.save(SocCount(soc=48.0), 30.0) and store.writes == 2
    assert not store.save(SocCount(soc=47.5), 31.0) and store.flush(32.0)
    assert SocStore(path, 30.0).load().soc == 47.5


def test_a_damaged_file_starts_from_the_bms_and_a_count_of_a_battery_not_counting_is_removed(tmp_path, caplog):
    path = tmp_path / "soc-house.json"
    path.write_text('{"soc": 250}')
    with caplog.at_level(logging.INFO, logger="dbus_bms"):
        assert SocStore(path, 60.0).load() == SocCount()
        SocStore(path, 60.0).forget()
        SocStore(path, 60.0).forget()  # nothing there: nothing said
    assert not path.exists()
    assert "starting from the BMS's SoC" in caplog.text and caplog.text.count("is removed") == 1


def test_the_config_keys_default_off_and_are_checked_with_their_line():
    serial = "batteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n"
    b = parse_config(serial).batteries[0]
    assert (b.soc_counting, b.soc_efficiency) == (False, DEFAULT_EFFICIENCY)
    b = parse_config(serial + "    soc_counting: true\n    soc_efficiency: 0.95\n").batteries[0]
    assert (b.soc_counting, b.soc_efficiency) == (True, 0.95)
    for extra, line, message in (
        ("    soc_counting: true\n    soc_efficiency: 0.7\n", 5, "0.7 is out of range 0.8 to 1"),
        ("    soc_counting: yes please\n", 4, "expected true or false"),
        ("    soc_efficiency: 0.9\n", 4, "has no effect without soc_counting: true"),
        ("    soc_counting: true\n    borrow:\n      - type: smartshunt-ble\n        address: C8:47:8C:12:34:56\n", 4,
         "borrows its SoC from smartshunt-ble"),
    ):
        with pytest.raises(ConfigError) as err:
            parse_config(serial + extra)
        [issue] = err.value.errors
        assert issue.line == line and issue.key.startswith("batteries[0].soc_") and message in issue.message


# --- Days of closed loop against a BMS whose own counter drifts ---------------------------------------

def drifting_pack(seed: int, drift_per_day: float, full_voltage: float) -> LoopPack:
    """A pack whose active balancer keeps the cells together, so that each solar day ends in float."""
    return LoopPack(soc_percent=60.0, seed=seed, soc_spread=0.5, capacity_spread=0.01,
                    protection=BmsProtection(balance_mode="active", balance_current=2.0),
                    soc_drift_per_day=drift_per_day, soc_full_voltage=full_voltage)


def run_days(days: float, pack: LoopPack, dt: float = 10.0):
    """Charge control, chargers and loads as in ``sim.charge_loop`` on a solar day, with the counter
    fed as the app feeds it; per step: (t, the cells' SoC, the BMS's SoC, the count), and at each full
    charge the count before and after it."""
    cfg = ChargeConfig()
    conditions = get_profile("solar-day", pack.capacity_ah)
    state, counter = initial_state(), SocCount()
    rows, at_full = [], []
    for n in range(round(days * DAY / dt)):
        t = n * dt
        sample = pack.sample()
        since_full = state.since_full
        limits, state = step(sample, state, cfg, t)
        full = reached_full(since_full, state.since_full)
        before = counter.soc
        counter = count(counter, sample, t, capacity=capacity_of(sample), efficiency=DEFAULT_EFFICIENCY,
                        stale_after=cfg.stale_after, full=full)
        if full:
            at_full.append((before, counter.soc))
        rows.append((t, pack.pack_soc, sample.soc, counter.soc))
        charger, served = pack_dispatch(limits, pack, conditions(t), 0.0, DVCC)
        pack.advance(dt, charger - served, ambient=conditions(t).ambient)
    return rows, at_full


def test_the_count_tracks_the_cells_while_a_bms_counter_drifting_5_percent_a_day_drifts_away():
    # Its own reset voltage above what charge control lets a cell reach: the BMS never sees its full.
    rows, at_full = run_days(3.0, drifting_pack(4, -5.0, 3.62))
    assert len(at_full) == 3 and all(after == 100.0 for _, after in at_full)
    assert any(before < 100.0 for before, _ in at_full)  # each full charge takes out what the count gathered
    # Charge control calls the pack full a little under the cells' 100 %: that is most of what is left.
    counted_off = max(abs(count - true) for _, true, _, count in rows)
    bms_off = abs(rows[-1][2] - rows[-1][1])
    assert counted_off < 4.0
    assert bms_off > 12.0 and bms_off > 3 * counted_off


def test_a_bms_that_resets_at_full_drifts_within_a_day_and_the_count_stays_closer():
    rows, at_full = run_days(2.0, drifting_pack(5, 5.0, 3.43))
    assert len(at_full) == 2 and all(after == 100.0 for _, after in at_full)
    counted_off = max(abs(count - true) for _, true, _, count in rows)
    bms_off = max(abs(bms - true) for t, true, bms, _ in rows if t > DAY)
    assert counted_off < 4.0 and bms_off > counted_off + 3.0
