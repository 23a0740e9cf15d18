"""A parallel bank behind several simulators: one current for the bank, split by the physics, the
packs kept in step whichever simulator is polled, and the charger and load inside the limits."""

from __future__ import annotations

import pytest

from dbus_bms.sim.parallel_bank import three_pack_bank
from dbus_bms.sim.shared_bank import SharedBank


def test_the_bank_runs_to_the_furthest_view_and_splits_its_current_by_the_physics():
    shared = SharedBank(three_pack_bank(soc=55.0), swing_amps=120.0, swing_period=900.0)
    big, middle, small = shared.views
    big.advance(100.0)
    assert shared.elapsed == 100.0
    middle.advance(40.0)  # behind the bank: nothing moves again
    assert shared.elapsed == 100.0
    currents = [v.sample().current for v in shared.views]
    # At 99 s of the swing the bank charges; the packs' currents add up to it, the largest pack
    # (lowest resistance) taking the most and the 100 Ah pack the least.
    assert sum(currents) == pytest.approx(shared.demand(99.0), abs=0.05)
    assert currents[0] > currents[1] > currents[2] > 0
    small.advance(100.0)
    assert shared.elapsed == 100.0 and [v.current for v in shared.views] == pytest.approx(currents, abs=0.01)


def test_the_charger_and_the_load_stay_inside_the_limits_they_are_given():
    shared = SharedBank(three_pack_bank(soc=55.0), swing_amps=120.0, swing_period=900.0)
    shared.obey(30.0, 20.0)
    shared.views[0].advance(200.0)  # charging at the top of the swing: cut to 30 A
    assert sum(v.current for v in shared.views) == pytest.approx(30.0, abs=0.01)
    shared.views[0].advance(500.0)  # discharging at the bottom: cut to 20 A
    assert sum(v.current for v in shared.views) == pytest.approx(-20.0, abs=0.01)
    shared.obey(None, None)
    shared.views[0].advance(1.0)
    assert sum(v.current for v in shared.views) == pytest.approx(shared.demand(700.0), abs=0.05)


def test_a_view_is_a_pack_a_simulator_can_serve():
    shared = SharedBank(three_pack_bank(soc=55.0))
    view = shared.views[2]
    assert (view.cells, view.capacity_ah) == (16, 100.0)
    sample = view.sample()
    assert len(sample.cell_voltages) == 16 and sample.capacity_full == 100.0
