"""End to end: ``dbus-bms run`` as a child process, a simulated older Supervolt battery behind its
Nordic UART module, its values read back over D-Bus; a protection of its working state raised as a
Victron alarm."""

from __future__ import annotations

import pytest

from dbus_bms.sim.harness import DaemonHarness

from .test_jbd_e2e import FAST, online


async def test_an_older_supervolt_over_its_ble_module_is_published(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=0, families=("supervolt-ble",), extra_config=FAST)
    await h.start()
    try:
        items = await h.wait_for(online, "supervolt_ble")
        sim = h.family_sims["supervolt_ble"]
        cells = sim.pack.cell_voltages()
        assert items["/Mgmt/Connection"].startswith(f"BLE {h.family_peripherals['supervolt_ble'].address}")
        assert items["/System/NrOfCellsPerBattery"] == len(cells) == 16
        assert items["/Voltages/Cell9"] == pytest.approx(cells[8], abs=0.05)
        assert items["/Dc/0/Voltage"] == pytest.approx(sum(cells), abs=0.1)
        assert items["/Capacity"] == pytest.approx(sim.pack.sample().capacity_remaining, abs=1)
        assert items["/Alarms/HighChargeTemperature"] == 0

        sim.protections = 1 << 8  # charge over-temperature
        await h.wait_for(lambda it: it.get("/Alarms/HighChargeTemperature") == 2, "supervolt_ble")
    finally:
        await h.stop()
