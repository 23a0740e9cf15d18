"""End to end: ``dbus-bms run`` as a child process, a simulated CBT Power BMS and a Creabest VB one
behind their BLE modules, their values read back over D-Bus; a switch asked of one refused, since
neither protocol has one."""

from __future__ import annotations

import pytest

from dbus_bms.sim.harness import DaemonHarness

from .test_jbd_e2e import FAST, online, set_value


async def test_a_cbt_power_and_a_creabest_vb_over_their_ble_modules_are_published(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=0, families=("cbtpwr-ble", "cbtpwr-vb-ble"), extra_config=FAST)
    await h.start()
    try:
        for alias in ("cbtpwr_ble", "cbtpwr_vb_ble"):
            items = await h.wait_for(online, alias)
            sim = h.family_sims[alias]
            cells = sim.pack.cell_voltages()
            assert items["/Mgmt/Connection"].startswith(f"BLE {h.family_peripherals[alias].address}")
            assert items["/System/NrOfCellsPerBattery"] == len(cells) == 16
            assert items["/Voltages/Cell16"] == pytest.approx(cells[15], abs=0.05)
            assert items["/Dc/0/Voltage"] == pytest.approx(sum(cells), abs=0.1)
            assert items["/InstalledCapacity"] == pytest.approx(sim.pack.capacity_ah)
            assert items["/Soc"] == pytest.approx(sim.pack.pack_soc, abs=1)
            assert items["/Dc/0/Temperature"] == pytest.approx(sim.pack.temperature, abs=1)
            assert items["/Alarms/BmsCable"] == 0

        assert await set_value(h.bus, h.service("cbtpwr_ble"), "/Settings/ForceChargingOff", 1) == 2
        assert (await h.items("cbtpwr_ble"))["/Io/AllowToCharge"] == 1
    finally:
        await h.stop()
