"""End to end: ``dbus-bms run`` as a child process, a simulated JK on a pty, read back over D-Bus."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from dbus_bms.sim.faults import Fault
from dbus_bms.victron.reader import battery_services, name_owner

from dbus_bms.sim.harness import DaemonHarness

FAST = "poll_interval: 0.2\ncharge:\n  stale_after: 2.0\n  current_recovery_hold: 1.0\n"


@pytest.fixture
async def daemon(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, extra_config=FAST)
    await h.start()
    yield h
    await h.stop()


def online(items):
    return items.get("/Connected") == 1 and items.get("/Soc") is not None


async def test_battery_published_with_the_simulated_values(daemon):
    items = await daemon.wait_for(online)
    sim = daemon.sims[0]
    cells = [items[f"/Voltages/Cell{i}"] for i in range(1, 17)]
    assert all(2.5 < v < 3.7 for v in cells)
    assert items["/System/NrOfCellsPerBattery"] == 16
    assert items["/Voltages/Sum"] == pytest.approx(sum(cells), abs=0.02)
    assert items["/Dc/0/Voltage"] == pytest.approx(sum(cells), abs=0.05)
    assert items["/InstalledCapacity"] == pytest.approx(sim.pack.capacity_ah, abs=0.1)
    assert items["/DeviceInstance"] == 512  # allocated by localsettings for class battery
    # CVL starts at the cells plus a margin and climbs from there towards 16 × 3.45 V.
    assert sum(cells) - 0.1 <= items["/Info/MaxChargeVoltage"] <= 16 * 3.45
    assert items["/Info/MaxChargeCurrent"] > 0
    assert items["/Io/AllowToCharge"] == 1
    assert items["/Alarms/BmsCable"] == 0
    assert "JK" in items["/ProductName"]
    assert items["/Serial"] == "SIM0000"


async def test_dbus_send_sees_the_whole_tree_and_read_only_paths_refuse_writes(daemon):
    await daemon.wait_for(online)
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": daemon.private.address}
    out = subprocess.run(
        ["dbus-send", "--session", "--print-reply", f"--dest={daemon.service()}", "/", "com.victronenergy.BusItem.GetValue"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    assert re.search(r'string "Dc/0/Voltage"\s+variant\s+double \d+\.\d+', out)
    assert re.search(r'string "DeviceInstance"\s+variant\s+int32 512', out)
    assert re.search(r'string "Mgmt/ProcessName"\s+variant\s+string "dbus-bms"', out)
    refused = subprocess.run(
        ["dbus-send", "--session", "--print-reply", f"--dest={daemon.service()}", "/Soc",
         "com.victronenergy.BusItem.SetValue", "variant:double:50"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    assert "int32 1" in refused


async def test_silent_bms_trips_the_fail_safe_and_recovers(daemon):
    await daemon.wait_for(online)
    daemon.sims[0].fault = Fault.SILENT
    items = await daemon.wait_for(lambda it: it.get("/Connected") == 0)
    assert items["/Info/MaxChargeCurrent"] == 0
    assert items["/Io/AllowToCharge"] == 0
    assert items["/Alarms/BmsCable"] == 2
    assert items["/Info/MaxChargeVoltage"] is not None  # stays valid: the GX keeps us as its BMS
    assert items["/Soc"] is None and items["/Dc/0/Voltage"] is None  # nothing stale is shown as live
    daemon.sims[0].fault = Fault.NONE
    items = await daemon.wait_for(online)
    assert items["/Alarms/BmsCable"] == 0
    # Charging resumes after the recovery hold, ramping up.
    await daemon.wait_for(lambda it: it["/Info/MaxChargeCurrent"] > 0)


async def test_port_that_vanishes_and_returns_is_picked_up_without_restart(daemon):
    await daemon.wait_for(online)
    server = daemon.servers[0]
    server.stop()
    items = await daemon.wait_for(lambda it: it.get("/Connected") == 0 and it.get("/Info/MaxChargeCurrent") == 0)
    # The GX's device page shows this text: it must not read "ok" while the port is gone.
    assert re.match(rf"Serial {server.link} FAILING \(.*{server.link}.*\), ok", items["/Mgmt/Connection"]), \
        items["/Mgmt/Connection"]
    server.start()
    await daemon.wait_for(online)
    assert daemon.proc.poll() is None


@pytest.mark.parametrize("fault", [Fault.GARBAGE, Fault.BAD_CHECKSUM, Fault.TRUNCATED])
async def test_line_faults_are_counted_and_never_crash_the_daemon(daemon, fault):
    await daemon.wait_for(online)
    sim = daemon.sims[0]
    sim.fault = fault
    start = sim.requests
    await daemon.wait_for(lambda it: sim.requests >= start + 5)
    sim.fault = Fault.NONE
    items = await daemon.wait_for(online)
    counts = re.search(r"bad frames (\d+), timeouts (\d+)", items["/Mgmt/Connection"])
    assert counts, items["/Mgmt/Connection"]
    assert int(counts[1]) + int(counts[2]) > 0
    assert daemon.proc.poll() is None


async def test_a_bms_that_answers_only_later_is_published_then(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, extra_config=FAST)
    await h.start(serve=False)
    try:
        await h.wait_for_log("no reading from the BMS")
        assert await battery_services(h.bus) == []  # nothing to publish yet: no made-up battery
        h.servers[0].start()
        await h.wait_for(online)
    finally:
        await h.stop()


async def test_two_batteries_are_two_services_on_their_own_connections(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=2, extra_config=FAST)
    await h.start()
    try:
        a = await h.wait_for(online, 0)
        b = await h.wait_for(online, 1)
        assert {a["/DeviceInstance"], b["/DeviceInstance"]} == {512, 513}
        owners = {await name_owner(h.bus, h.service(i)) for i in range(2)}
        assert len(owners) == 2 and None not in owners
    finally:
        await h.stop()


async def test_the_charge_stage_survives_a_daemon_restart(private_bus, tmp_path):
    # Float would end at once on the simulated pack's SoC or spread; these settings keep it, so what
    # the daemon shows after the restart can only come from the file.
    keep_float = FAST + "  rebulk_soc: 0\n  rebulk_cell_diff: 1.0\n  rebulk_cell_voltage: 2.0\n"
    saved = tmp_path / "state" / "charge-jk0.json"
    saved.parent.mkdir()
    full_charge = int(time.time()) // 60 * 60 - 3600
    saved.write_text(json.dumps({"mode": "FLOAT", "absorption_elapsed": 0, "top_balance": False,
                                 "last_full_charge": full_charge, "last_top_balance": None}))
    h = DaemonHarness(private_bus, tmp_path, extra_config=keep_float)
    await h.start()
    try:
        items = await h.wait_for(lambda it: online(it) and it.get("/Info/ChargeMode") is not None)
        assert items["/Info/ChargeMode"] == "Float"
        assert items["/Info/MaxChargeVoltage"] <= 16 * 3.375  # float's, climbing from the cells
        assert "resuming charge state" in h.daemon_log()
    finally:
        await h.stop()
    kept = json.loads(saved.read_text())
    assert kept["mode"] == "FLOAT" and abs(kept["last_full_charge"] - full_charge) <= 60


async def test_another_bms_at_the_port_is_refused_and_alarmed_never_published(daemon):
    # A renumbered USB adapter puts another pack's BMS where ours was.
    before = await daemon.wait_for(online)
    daemon.sims[0].device.serial = "OTHER-PACK"
    items = await daemon.wait_for(lambda it: it.get("/Connected") == 0)
    assert (items["/Info/MaxChargeCurrent"], items["/Io/AllowToCharge"], items["/Alarms/BmsCable"]) == (0, 0, 2)
    # Our battery's identity stays; the other pack's values are never shown as ours.
    assert items["/Serial"] == before["/Serial"] == "SIM0000"
    assert items["/Soc"] is None and items["/Dc/0/Voltage"] is None and items["/Voltages/Cell1"] is None
    assert "'OTHER-PACK'" in items["/Info/ChargeLimitation"]
    await daemon.wait_for_log("reading refused")
    assert "OTHER-PACK" in daemon.daemon_log()
    daemon.sims[0].device.serial = "SIM0000"
    await daemon.wait_for(online)
