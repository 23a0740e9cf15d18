"""End to end: ``dbus-bms run`` as a child process, a simulated ANT on a pty (2021+ protocol, then
legacy, both found by ``type: ant`` on its own) and one behind its BLE module, read back over D-Bus;
the command line on them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dbus_bms.sim.ant import ant_ble_module
from dbus_bms.sim.harness import DaemonHarness

from .conftest import load_fixture
from .test_ble_e2e import run_cli
from .test_control_e2e import FAST, online


@pytest.mark.parametrize("legacy", [False, True])
async def test_an_ant_is_a_battery_on_dbus_in_either_protocol(private_bus, tmp_path, legacy):
    h = DaemonHarness(private_bus, tmp_path, serial_type="ant", extra_config=FAST)
    sim = h.sims[0]
    sim.legacy = legacy
    sim.discharge_code = 1
    await h.start()
    try:
        items = await h.wait_for(online)
        pack = sim.pack.sample()
        cells = [items[f"/Voltages/Cell{i}"] for i in range(1, 17)]
        assert cells == pytest.approx(pack.cell_voltages, abs=0.01)
        assert items["/System/NrOfCellsPerBattery"] == 16
        assert items["/Dc/0/Voltage"] == pytest.approx(pack.voltage, abs=0.2)
        assert items["/Soc"] == pytest.approx(pack.soc, abs=1)
        assert items["/InstalledCapacity"] == pytest.approx(pack.capacity_full, abs=0.1)
        assert items["/Alarms/BmsCable"] == 0 and items["/Io/AllowToCharge"] == 1
        assert items["/ProductName"] == ("ANT BMS" if legacy else "ANT BMS 16ZM")
        assert items["/Mgmt/Connection"].startswith("Serial ")
        await h.wait_for_log(f"answers in the {'legacy' if legacy else '2021+'} protocol")
        # A BMS that holds its charge MOSFET for over-temperature: the alarm reaches the GX.
        sim.charge_code = 6
        items = await h.wait_for(lambda it: it.get("/Alarms/HighChargeTemperature") == 2)
        assert items["/Io/AllowToCharge"] == 0
    finally:
        await h.stop()


def _dbus_bms(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbus_bms", *args], capture_output=True, text=True, timeout=60)


def test_simulate_then_read_once_and_decode_the_captures(tmp_path):
    link = tmp_path / "ttyANT"
    sim = subprocess.Popen([sys.executable, "-m", "dbus_bms", "simulate", "ant-legacy", "--pty", "--link", str(link)],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout.readline().strip() == str(link)
        r = _dbus_bms("read", "--type", "ant", "--port", str(link), "--protocol", "legacy", "--json")
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)["cell_voltages"]) == 16
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    frames = {f["id"]: f["response_hex"] for f in load_fixture("ant_new.json")["frames"]}
    r = _dbus_bms("decode", "--protocol", "ant", frames["esphome-ant_bms-frames_16s_status-STATUS_FRAME_16S"],
                  frames["esphome-ant_bms-frames_16s_status-DEVICE_INFO_FRAME"], "--json")
    assert r.returncode == 0, r.stderr
    decoded = json.loads(r.stdout)
    assert (decoded["voltage"], decoded["current"], decoded["soc"], decoded["device"]["model"]) == (52.84, 0.3, 91.0, "16ZM")
    listed = _dbus_bms("decode", "--list").stdout
    assert "ant" in listed and "ant_legacy" in listed


async def test_an_ant_over_its_ble_module_is_a_battery_on_dbus(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=0, families=("ant-ble",), extra_config=FAST)
    await h.start()
    try:
        items = await h.wait_for(online, "ant_ble")
        sim = h.family_sims["ant_ble"]
        pack = sim.pack.sample()
        assert [items[f"/Voltages/Cell{i}"] for i in range(1, 17)] == pytest.approx(pack.cell_voltages, abs=0.01)
        assert items["/Dc/0/Voltage"] == pytest.approx(pack.voltage, abs=0.2)
        assert items["/Soc"] == pytest.approx(pack.soc, abs=1)
        assert items["/ProductName"] == "ANT BMS 16ZM"
        assert items["/Mgmt/Connection"].startswith(f"BLE {h.family_peripherals['ant_ble'].address}")
    finally:
        await h.stop()


async def test_read_reaches_an_ant_over_ble(bluez):
    module = ant_ble_module(0)
    bluez.add_peripheral(module)
    # The bluez fixture pointed this process's environment, which the child inherits, at the fake.
    reading = json.loads(await run_cli({}, "read", "--type", "ant-ble", "--address", module.address, "--json"))
    assert reading["cell_voltages"] == pytest.approx(module.bms.pack.sample().cell_voltages, abs=0.002)
    assert reading["device"]["model"] == "16ZM"
    assert not module.connected
