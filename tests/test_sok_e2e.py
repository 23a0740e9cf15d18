"""End to end: ``dbus-bms run`` as a child process, a simulated SOK battery behind its BLE module,
its values read back over D-Bus; a protection flag it raises shown in words; a switch asked of it
refused, since the protocol has none."""

from __future__ import annotations

import pytest

from dbus_bms.sim.harness import DaemonHarness

from .test_jbd_e2e import FAST, online, set_value


async def test_a_sok_battery_over_its_ble_module_is_published(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=0, families=("sok-ble",), extra_config=FAST)
    await h.start()
    try:
        items = await h.wait_for(online, "sok_ble")
        sim = h.family_sims["sok_ble"]
        cells = sim.pack.cell_voltages()
        assert items["/Mgmt/Connection"].startswith(f"BLE {h.family_peripherals['sok_ble'].address}")
        assert items["/ProductName"] == f"SOK {sim.name}"
        assert items["/System/NrOfCellsPerBattery"] == len(cells) == 16
        assert items["/Voltages/Cell13"] == pytest.approx(cells[12], abs=0.05)
        assert items["/Dc/0/Voltage"] == pytest.approx(sum(cells), abs=0.1)
        assert items["/InstalledCapacity"] == pytest.approx(sim.pack.capacity_ah)
        assert items["/Soc"] == pytest.approx(sim.pack.pack_soc, abs=1)

        sim.protection = 1 << 3
        await h.wait_for(lambda it: "SOK protection flag 3" in (it.get("/Info/BmsConditions") or ""), "sok_ble")
        assert await set_value(h.bus, h.service("sok_ble"), "/Settings/ForceDischargingOff", 1) == 2
    finally:
        await h.stop()
