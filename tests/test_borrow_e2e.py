"""End to end: ``dbus-bms run`` with a JK NW on a pty borrowing its cells from a NEEY balancer through
the fake BlueZ: the published cells are the balancer's and /Info/Sources says so; its balancer
switch goes to the balancer; the balancer going silent falls back to the JK's own cells without the
fail-safe. ``dbus-bms read`` reads a balancer alone."""

from __future__ import annotations

import json

import pytest

from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.neey import neey_peripheral

from .test_ble_e2e import run_cli
from .test_jbd_e2e import FAST, set_value


def cells(items: dict) -> list[float]:
    return [items[f"/Voltages/Cell{i}"] for i in range(1, 17)]


async def test_a_jk_publishes_the_balancers_cells_and_falls_back_to_its_own(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=0, families=("jk-nw",), borrow=(("jk_nw", "neey-ble"),),
                      extra_config=FAST)
    await h.start()
    try:
        (_, peripheral), = h.borrowed["jk_nw"]
        balancer, jk = peripheral.bms, h.family_sims["jk_nw"]
        lent = f"cells: neey-ble {peripheral.address}; rest: jk-nw"
        items = await h.wait_for(lambda it: it.get("/Connected") == 1 and it.get("/Info/Sources") == lent, "jk_nw")
        assert cells(items) == pytest.approx(balancer.pack.cell_voltages(), abs=0.003)
        assert cells(items) != pytest.approx(jk.pack.cell_voltages(), abs=0.001)
        # The balancer's resistances (its figure includes the sense lead) come with its cells.
        resistances = [items[f"/Resistances/Cell{i}"] for i in range(1, 17)]
        assert resistances == pytest.approx([0.1 + r for r in balancer.pack.resistance], abs=1e-5)
        assert items["/Dc/0/Voltage"] == pytest.approx(jk.pack.sample().voltage, abs=0.05)
        assert items["/Serial"] == jk.device.serial

        assert await set_value(h.bus, h.service("jk_nw"), "/Settings/TurnBalancingOff", 1) == 0
        assert balancer.balancer_on is False
        await h.wait_for(lambda it: it.get("/Settings/TurnBalancingOff") == 1, "jk_nw")

        balancer.fault = Fault.SILENT
        fallen = f"cells: jk-nw (neey-ble {peripheral.address} silent); rest: jk-nw"
        items = await h.wait_for(lambda it: it.get("/Info/Sources") == fallen, "jk_nw")
        assert cells(items) == pytest.approx(jk.pack.cell_voltages(), abs=0.002)
        assert items["/Resistances/Cell1"] is None  # the JK measures none
        # Past stale_after without the balancer, and no fail-safe: the JK's own cells carry on.
        assert items["/Connected"] == 1 and items["/Alarms/BmsCable"] == 0 and items["/Io/AllowToCharge"] == 1
        assert "Fail-safe" not in items["/Info/ChargeLimitation"]
        assert h.daemon_log().count("silent for over") == 1
    finally:
        await h.stop()


async def test_read_reads_a_balancer_alone(bluez):
    balancer = neey_peripheral(0)
    bluez.add_peripheral(balancer)
    out = await run_cli({}, "read", "--type", "neey-ble", "--address", balancer.address, "--json")
    reading = json.loads(out)
    assert reading["cell_voltages"] == pytest.approx(balancer.bms.pack.cell_voltages(), abs=0.002)
    assert reading["device"]["model"] == "GW-24S4EB" and reading["switches"] == {"balance": True}
