"""End to end: ``dbus-bms run`` with a JK NW on a pty borrowing current, SoC and consumed Ah from a
SmartShunt through the fake BlueZ: the published current, SoC and consumed Ah are the shunt's, the
cells the JK's, and /Info/Sources says so; a shunt current of opposite sign is refused; the shunt
gone from the radio falls back to the JK's own values, logged, without the fail-safe. ``dbus-bms
read`` reads a shunt alone."""

from __future__ import annotations

import json

import pytest

from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.sim.smartshunt import smartshunt_peripheral

from .test_ble_e2e import run_cli
from .test_jbd_e2e import FAST


def cells(items: dict) -> list[float]:
    return [items[f"/Voltages/Cell{i}"] for i in range(1, 17)]


async def test_a_jk_publishes_the_shunts_current_and_soc_and_falls_back_to_its_own(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=0, families=("jk-nw",), borrow=(("jk_nw", "smartshunt-ble"),),
                      extra_config=FAST)
    jk = h.family_sims["jk_nw"]
    jk.pack.current_override = 20.0
    (_, shunt), = h.borrowed["jk_nw"]
    shunt.readings.current, shunt.readings.soc, shunt.readings.consumed_ah = 19.5, 71.25, -80.5
    await h.start()
    try:
        name = f"smartshunt-ble {shunt.address}"
        lent = f"current: {name}; soc: {name}; consumed_ah: {name}; rest: jk-nw"
        items = await h.wait_for(lambda it: it.get("/Connected") == 1 and it.get("/Info/Sources") == lent, "jk_nw")
        assert items["/Dc/0/Current"] == pytest.approx(19.5, abs=0.01)
        assert items["/Soc"] == 71.25 and items["/ConsumedAmphours"] == -80.5
        assert cells(items) == pytest.approx(jk.pack.cell_voltages(), abs=0.002)
        assert items["/InstalledCapacity"] == pytest.approx(jk.pack.sample().capacity_full, abs=1)
        assert items["/Capacity"] == pytest.approx(items["/InstalledCapacity"] - 80.5, abs=0.01)

        shunt.readings.current = -19.5  # its leads the other way round
        refused = f"jk-nw ({name} current of opposite sign)"
        items = await h.wait_for(lambda it: it.get("/Info/Sources") == "; ".join(
            [f"current: {refused}", f"soc: {refused}", f"consumed_ah: {refused}", "rest: jk-nw"]), "jk_nw")
        assert items["/Dc/0/Current"] == pytest.approx(20.0, abs=0.1) and items["/Soc"] != 71.25
        assert h.daemon_log().count("opposite signs") == 1
        shunt.readings.current = 19.5
        await h.wait_for(lambda it: it.get("/Info/Sources") == lent, "jk_nw")

        shunt.out_of_range = True
        silent = f"jk-nw ({name} silent)"
        items = await h.wait_for(lambda it: it.get("/Info/Sources") == "; ".join(
            [f"current: {silent}", f"soc: {silent}", f"consumed_ah: {silent}", "rest: jk-nw"]), "jk_nw")
        own = jk.pack.sample()
        assert items["/Dc/0/Current"] == pytest.approx(20.0, abs=0.1) and items["/Soc"] == pytest.approx(own.soc, abs=1)
        assert items["/ConsumedAmphours"] == pytest.approx(own.capacity_remaining - own.capacity_full, abs=1)
        assert cells(items) == pytest.approx(jk.pack.cell_voltages(), abs=0.002)
        # Past stale_after without the shunt, and no fail-safe: the JK's own values carry on.
        assert items["/Connected"] == 1 and items["/Alarms/BmsCable"] == 0 and items["/Io/AllowToCharge"] == 1
        assert "Fail-safe" not in items["/Info/ChargeLimitation"]
        assert h.daemon_log().count("silent for over") == 1
    finally:
        await h.stop()


async def test_read_reads_a_shunt_alone(bluez):
    shunt = smartshunt_peripheral(0)
    bluez.add_peripheral(shunt)
    reading = json.loads(await run_cli({}, "read", "--type", "smartshunt-ble", "--address", shunt.address, "--json"))
    r = shunt.readings
    assert (reading["voltage"], reading["soc"], reading["consumed_ah"]) == (r.voltage, r.soc, r.consumed_ah)
    assert reading["current"] == pytest.approx(r.current, abs=0.003) and reading["cell_voltages"] is None
