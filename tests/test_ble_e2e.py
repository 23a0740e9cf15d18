"""End to end over BLE: ``dbus-bms run`` as a child process, JKs served by a fake BlueZ on the private
bus, reached through the real, unmodified bleak, and read back over D-Bus."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys

import pytest

from dbus_bms.sim.fake_bluez import FakeBlueZ
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.harness import DaemonHarness, ble_env
from dbus_bms.sim.jk_ble import BleFault, ble_address

FAST = "poll_interval: 0.2\ncharge:\n  stale_after: 2.0\n  current_recovery_hold: 1.0\n"


@pytest.fixture
async def ble_daemon(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=0, ble_layouts=("32s", "24s"), extra_config=FAST)
    await h.start()
    yield h
    await h.stop()


def online(items):
    return items.get("/Connected") == 1 and items.get("/Soc") is not None


def link_counter(items, name):
    return int(re.search(rf"{name} (\d+)", items["/Mgmt/Connection"]).group(1))


async def test_two_jks_in_both_layouts_are_published(ble_daemon):
    for i, layout in enumerate(("32s", "24s")):
        items = await ble_daemon.wait_for(online, i)
        sim = ble_daemon.ble_sims[i]
        cells = [items[f"/Voltages/Cell{n}"] for n in range(1, 17)]
        assert items["/System/NrOfCellsPerBattery"] == 16
        assert all(2.5 < v < 3.7 for v in cells)
        assert items["/Dc/0/Voltage"] == pytest.approx(sum(cells), abs=0.05)
        assert items["/Serial"] == sim.model.device.serial
        assert items["/FirmwareVersion"] == sim.model.device.sw_version
        assert items["/Mgmt/Connection"].startswith(f"BLE {ble_address(i)}")
        assert sum(cells) - 0.1 <= items["/Info/MaxChargeVoltage"] <= 16 * 3.45  # climbing from the cells
        assert items["/Alarms/BmsCable"] == 0
    assert ble_daemon.ble_sims[0].model.requests[0x97] >= 1  # the layout came from the device info


async def test_a_link_the_device_drops_is_made_again(ble_daemon):
    await ble_daemon.wait_for(online, 0)
    sim = ble_daemon.ble_sims[0]
    sim.drop_connection()
    await ble_daemon.wait_for_log("link made again")
    items = await ble_daemon.wait_for(lambda it: online(it) and link_counter(it, "reconnects") >= 1, 0)
    assert items["/Alarms/BmsCable"] == 0
    assert sim.connected


async def test_a_jk_that_stays_connected_but_silent_trips_the_fail_safe_and_recovers(ble_daemon):
    await ble_daemon.wait_for(online, 0)
    sim = ble_daemon.ble_sims[0]
    sim.ble_fault = BleFault.SILENT
    items = await ble_daemon.wait_for(lambda it: it.get("/Connected") == 0, 0)
    assert items["/Info/MaxChargeCurrent"] == 0
    assert items["/Alarms/BmsCable"] == 2
    assert items["/Info/ChargeMode"] == "Bulk (fail-safe)" and items["/Info/ChargeLimitation"].startswith("Fail-safe")
    sim.ble_fault = BleFault.NONE
    # Charging resumes after the recovery hold, ramping up.
    items = await ble_daemon.wait_for(lambda it: online(it) and it["/Info/MaxChargeCurrent"] > 0, 0)
    assert items["/Alarms/BmsCable"] == 0
    # The other battery never noticed.
    assert online(await ble_daemon.items(1))


@pytest.mark.parametrize("fault", [BleFault.SPLIT, BleFault.MERGED, BleFault.JUNK])
async def test_cut_glued_and_junk_notifications_still_give_readings(ble_daemon, fault):
    sim = ble_daemon.ble_sims[1]
    sim.ble_fault = fault
    sim.drop_connection()  # start over so the fault covers the device info too
    before = sim.model.counter
    items = await ble_daemon.wait_for(lambda it: online(it) and sim.model.counter > before + 5, 1)
    assert items["/System/NrOfCellsPerBattery"] == 16
    if fault is BleFault.JUNK:
        assert link_counter(items, "junk bytes") > 0
    assert link_counter(items, "bad frames") == 0


async def test_corrupt_records_are_counted_and_dropped(ble_daemon):
    await ble_daemon.wait_for(online, 0)
    sim = ble_daemon.ble_sims[0]
    sim.model.fault = Fault.BAD_CHECKSUM
    await ble_daemon.wait_for(lambda it: link_counter(it, "bad frames") >= 3, 0)
    sim.model.fault = Fault.NONE
    await ble_daemon.wait_for(lambda it: online(it) and it["/Alarms/BmsCable"] == 0, 0)
    assert ble_daemon.proc.poll() is None


async def test_a_link_dropped_mid_record_is_made_again(ble_daemon):
    await ble_daemon.wait_for(online, 0)
    sim = ble_daemon.ble_sims[0]
    sim.ble_fault = BleFault.DROP_MID_FRAME
    await ble_daemon.wait_for(lambda it: link_counter(it, "reconnects") >= 1, 0)
    sim.ble_fault = BleFault.NONE
    items = await ble_daemon.wait_for(online, 0)
    assert ble_daemon.proc.poll() is None and items["/Alarms/BmsCable"] == 0


async def test_a_jk_refusing_connections_is_retried_with_backoff_then_read(ble_daemon):
    sim = ble_daemon.ble_sims[0]
    await ble_daemon.wait_for(online, 0)
    sim.connectable = False
    sim.drop_connection()
    # A refused connect is retried by the connector before it gives up, and on a loaded machine the
    # poll's deadline may cut it short first: either way the link backs off, which the log says
    # (with the failed connect's reason, or at the next poll that waits for the backoff).
    await ble_daemon.wait_for_log("next attempt in ", timeout=60)
    sim.connectable = True
    await ble_daemon.wait_for(lambda it: online(it) and link_counter(it, "reconnects") >= 1, 0)


async def test_slow_service_resolution_is_waited_for(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=0, ble_layouts=("32s",), extra_config=FAST)
    h.ble_sims[0].resolve_delay = 1.5
    await h.start()
    try:
        items = await h.wait_for(online, 0)
        assert items["/System/NrOfCellsPerBattery"] == 16
    finally:
        await h.stop()


async def test_connect_per_poll_mode_frees_the_bms_between_polls(private_bus, tmp_path):
    h = DaemonHarness(
        private_bus, tmp_path, count=0, ble_layouts=("32s",), extra_config="poll_interval: 1\n", ble_config="ble_mode: per-poll"
    )
    await h.start()
    try:
        await h.wait_for(online, 0)
        sim = h.ble_sims[0]
        await h.wait_for(lambda it: not sim.connected, 0)  # between polls, nobody holds the BMS
        assert sim.model.requests[0x96] >= 1
    finally:
        await h.stop()


@pytest.fixture
async def bluez_only(private_bus, tmp_path):
    """Two simulated JKs on a fake BlueZ, no daemon: for the one-shot commands."""
    h = DaemonHarness(private_bus, tmp_path, count=0, ble_layouts=("32s", "24s"))
    async with FakeBlueZ(private_bus.address) as bluez:
        for sim in h.ble_sims:
            bluez.add_peripheral(sim)
        yield h


async def test_scan_lists_the_simulated_jks_with_their_type(bluez_only):
    found = json.loads(await run_cli(bluez_only.ble_env(), "scan", "--json", "--seconds", "1"))
    assert [(d["type"], d["address"], d["name"]) for d in found] == [
        ("jk", ble_address(0), "JK-B2A24S20P"),
        ("jk", ble_address(1), "JK-B2A24S15P"),
    ]
    assert all(isinstance(d["rssi"], int) for d in found)


async def test_read_gives_one_reading_and_lets_the_bms_go(bluez_only):
    sim = bluez_only.ble_sims[1]
    out = await run_cli(bluez_only.ble_env(), "read", "--type", "jk", "--address", ble_address(1), "--json")
    reading = json.loads(out)
    assert len(reading["cell_voltages"]) == 16
    assert reading["device"]["serial"] == sim.model.device.serial
    assert reading["voltage"] == pytest.approx(sum(reading["cell_voltages"]), abs=0.05)
    assert not sim.connected


async def run_cli(env: dict[str, str], *args: str) -> str:
    """``dbus-bms ARGS`` in a child process, while this loop keeps serving the fake BlueZ."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dbus_bms", *args, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_simulate_ble_serves_a_jk_that_read_can_reach(tmp_path):
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dbus_bms", "simulate", "jk", "--ble", "--layout", "24s", stdout=subprocess.PIPE
    )
    try:
        first = (await asyncio.wait_for(sim.stdout.readline(), 30)).decode().strip()
        second = (await asyncio.wait_for(sim.stdout.readline(), 30)).decode().strip()
        key, address = first.split("=", 1)
        assert key == "DBUS_SYSTEM_BUS_ADDRESS" and second.startswith("C8:47:8C:00:00:01 ")
        env = ble_env(address, tmp_path / "bin")
        reading = json.loads(await run_cli(env, "read", "--type", "jk", "--address", "C8:47:8C:00:00:01", "--json"))
        assert len(reading["cell_voltages"]) == 16 and reading["device"]["sw_version"] == "10.09"
    finally:
        sim.terminate()
        assert await asyncio.wait_for(sim.wait(), 10) is not None
