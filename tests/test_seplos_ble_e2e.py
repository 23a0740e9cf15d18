"""End to end: ``dbus-bms run`` as a child process, a simulated Seplos v2 BLE module through the fake
BlueZ, published on D-Bus with its values and its name."""

from __future__ import annotations

import pytest

from dbus_bms.sim.harness import DaemonHarness

from .test_control_e2e import FAST, online


async def test_a_seplos_over_its_ble_module_is_a_battery_on_dbus(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=0, families=("seplos-ble",), extra_config=FAST)
    await h.start()
    try:
        items = await h.wait_for(online, "seplos_ble")
        sim = h.family_sims["seplos_ble"]
        pack = sim.pack.sample()
        cells = [items[f"/Voltages/Cell{i}"] for i in range(1, 17)]
        assert cells == pytest.approx(pack.cell_voltages, abs=0.01)
        assert items["/Dc/0/Voltage"] == pytest.approx(pack.voltage, abs=0.2)
        assert items["/Soc"] == pytest.approx(pack.soc, abs=1)
        assert items["/ProductName"] == f"Seplos {sim.device.model}" and items["/FirmwareVersion"] == "16.6"
        assert items["/Mgmt/Connection"].startswith(f"BLE {h.family_peripherals['seplos_ble'].address}")
    finally:
        await h.stop()
