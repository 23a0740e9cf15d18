"""End to end: ``dbus-bms run`` as a child process, a simulated Daly on a pty, read back over D-Bus
and its MOS switched from the GX; and both of Daly's BLE modules (classic and Modbus) through the
fake BlueZ, each found by auto-detection, read and switched."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dbus_bms.sim.daly import daly_ble_module
from dbus_bms.sim.harness import DaemonHarness

from .conftest import load_fixture
from .test_control_e2e import FAST, online, writer_for


async def test_a_daly_is_a_battery_on_dbus_and_its_charge_mos_switches_from_the_gx(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, serial_type="daly", extra_config=FAST + "control: true\n")
    await h.start()
    try:
        items = await h.wait_for(online)
        sim = h.sims[0]
        pack = sim.pack.sample()
        cells = [items[f"/Voltages/Cell{i}"] for i in range(1, 17)]
        assert cells == pytest.approx(pack.cell_voltages, abs=0.01)
        assert items["/System/NrOfCellsPerBattery"] == 16
        assert items["/Dc/0/Voltage"] == pytest.approx(pack.voltage, abs=0.2)
        assert items["/Soc"] == pytest.approx(pack.soc, abs=1)
        assert items["/Dc/0/Temperature"] == pytest.approx(round(pack.temperatures[0]), abs=1.5)
        assert items["/Alarms/BmsCable"] == 0 and items["/Io/AllowToCharge"] == 1
        assert items["/ProductName"].startswith("Daly")
        assert items["/Mgmt/Connection"].startswith("Serial ")

        async with writer_for(h, 0) as writer:
            assert (await h.items(0))["/Settings/HasSettings"] == 1
            result, before_reply = await writer.set("/Settings/ForceChargingOff", 1)
            assert result == 0 and sim.switches["charge"] is False
            assert before_reply["/Io/AllowToCharge"] == 0 and before_reply["/Info/MaxChargeCurrent"] == 0
            assert before_reply["/Settings/ForceChargingOff"] == 1
            result, _ = await writer.set("/Settings/ForceChargingOff", 0)
            assert result == 0 and sim.switches["charge"] is True
            writes = sim.writes
            result, _ = await writer.set("/Settings/TurnBalancingOff", 1)
            assert result == 2 and sim.writes == writes
            await h.wait_for_log(
                "jk0: /Settings/TurnBalancingOff = 1 refused: this BMS (daly) cannot switch its balance")
    finally:
        await h.stop()


async def test_with_control_off_a_daly_write_is_refused_and_nothing_reaches_the_bms(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, serial_type="daly", extra_config=FAST)
    await h.start()
    try:
        async with writer_for(h, 0) as writer:
            result, _ = await writer.set("/Settings/ForceDischargingOff", 1)
            assert result == 2
            await h.wait_for_log("jk0: /Settings/ForceDischargingOff = 1 refused: control is off")
            assert h.sims[0].writes == 0 and h.sims[0].switches["discharge"] is True
    finally:
        await h.stop()


async def test_both_daly_ble_modules_are_found_published_and_switched_from_the_gx(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=0, families=("daly-ble", "daly-ble"),
                      extra_config=FAST + "control: true\n")
    # The second battery's module is the newer one, answering the Modbus protocol.
    modbus = h.family_peripherals["daly_ble1"] = daly_ble_module(1, seed=31, protocol="modbus")
    h.family_sims["daly_ble1"] = modbus.bms
    classic = h.family_peripherals["daly_ble"]
    await h.start()
    try:
        for alias, module in (("daly_ble", classic), ("daly_ble1", modbus)):
            items = await h.wait_for(online, alias)
            pack = module.bms.pack.sample()
            cells = [items[f"/Voltages/Cell{i}"] for i in range(1, 17)]
            assert cells == pytest.approx(pack.cell_voltages, abs=0.01), alias
            assert items["/Dc/0/Voltage"] == pytest.approx(pack.voltage, abs=0.2)
            assert items["/Soc"] == pytest.approx(pack.soc, abs=1)
            assert items["/Dc/0/Temperature"] == pytest.approx(round(pack.temperatures[0]), abs=1.5)
            assert items["/Mgmt/Connection"].startswith(f"BLE {module.address}")
            assert items["/ProductName"].startswith("Daly") and items["/Io/AllowToCharge"] == 1
        await h.wait_for_log(f"the Daly at {classic.address} answers in the classic protocol (A5 frames)")
        await h.wait_for_log(f"the Daly at {modbus.address} answers in the Modbus protocol (D2 03)")
        assert (await h.items("daly_ble1"))["/FirmwareVersion"] == modbus.bms.sw_version

        async with writer_for(h, "daly_ble") as writer:
            result, before_reply = await writer.set("/Settings/ForceChargingOff", 1)
            assert result == 0 and classic.bms.switches["charge"] is False
            assert before_reply["/Io/AllowToCharge"] == 0 and before_reply["/Info/MaxChargeCurrent"] == 0
        async with writer_for(h, "daly_ble1") as writer:
            result, before_reply = await writer.set("/Settings/ForceDischargingOff", 1)
            assert result == 0 and modbus.bms.switches["discharge"] is False and modbus.bms.writes == 1
            assert before_reply["/Io/AllowToDischarge"] == 0 and before_reply["/Info/MaxDischargeCurrent"] == 0
    finally:
        await h.stop()


def _dbus_bms(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbus_bms", *args], capture_output=True, text=True, timeout=60)


def test_simulate_then_read_once_and_decode_the_captures(tmp_path):
    link = tmp_path / "ttyDaly"
    sim = subprocess.Popen([sys.executable, "-m", "dbus_bms", "simulate", "daly", "--pty", "--link", str(link)],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout.readline().strip() == str(link)
        r = _dbus_bms("read", "--type", "daly", "--port", str(link), "--json")
        assert r.returncode == 0, r.stderr
        reading = json.loads(r.stdout)
        assert len(reading["cell_voltages"]) == 16 and reading["switches"] == {"charge": True, "discharge": True}
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    frames = {f["id"]: f["response_hex"] for f in load_fixture("daly_serial.json")["frames"]}
    r = _dbus_bms("decode", "--protocol", "daly", "--json",
                  frames["mppsolar-daly-daly_SOC"], frames["mppsolar-daly-daly_mosStatus"])
    assert r.returncode == 0, r.stderr
    decoded = json.loads(r.stdout)
    assert [decoded[k] for k in ("voltage", "current", "soc", "capacity_remaining")] == [53.2, 2.1, 88.8, 172.76]
    listed = _dbus_bms("decode", "--list").stdout
    assert "daly" in listed and "daly_modbus" in listed
    update = load_fixture("daly_ble_modbus.json")["frames"][0]["sequence"]
    r = _dbus_bms("decode", "--protocol", "daly_modbus", "--json", *(step["response_hex"] for step in update))
    assert r.returncode == 0, r.stderr
    decoded = json.loads(r.stdout)
    assert [decoded[k] for k in ("voltage", "current", "soc", "mosfet_temperature")] == [14.0, 3.0, 90.0, 38.0]
    assert decoded["cell_voltages"] == [4.127, 4.137, 4.147, 4.157]

