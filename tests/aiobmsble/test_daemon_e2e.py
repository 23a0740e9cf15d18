"""End to end: ``dbus-bms run`` as a child process with ``type: aiobmsble`` and the module left to
``auto``, a recorded BMS replayed through the fake BlueZ, published on D-Bus with the recording's
values; ``dbus-bms scan`` names the module the advertisement matches."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from dbus_fast.aio import MessageBus

from dbus_bms.sim.bus import die_with_parent
from dbus_bms.victron.reader import BATTERY_PREFIX, get_items

from .replay import ADDRESS, RECORDED, replaying

_ROOT = Path(__file__).resolve().parents[2]
# tianpwr_bms matches on the advertised name alone (TP_*), so auto must find it among all modules;
# advertising no service, it looks like none of our own types.
_NAME = "TP_4S100"


async def _published(bus: MessageBus, service: str, proc: subprocess.Popen, log: Path) -> dict:
    """The battery's items once it publishes a reading; the bound only guards against a hang."""
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while loop.time() < end:
        assert proc.poll() is None, log.read_text()
        try:
            items = await get_items(bus, service)
            if items.get("/Connected") == 1 and items.get("/Soc") is not None:
                return items
        except Exception:  # noqa: BLE001 - the service is not on the bus yet
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"never published:\n{log.read_text()}")


async def test_an_aiobmsble_bms_found_by_auto_is_a_battery_on_dbus_and_in_the_scan(private_bus, bluez, tmp_path):
    recording = next(r for r in RECORDED if r["module"] == "tianpwr_bms")
    expected = recording["expected"]
    bluez.add_peripheral(replaying(recording, name=_NAME, advertised=[]))
    config = tmp_path / "dbus-bms.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\nsettings_wait: 0\nstop_hold: 0\npoll_interval: 0.5\nbatteries:\n"
                      f"  - type: aiobmsble\n    address: {ADDRESS}\n    alias: tp\n")
    env = {**private_bus.env(), "PYTHONPATH": str(_ROOT)}
    scan = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "dbus_bms", "scan", "--json", "--seconds", "1"],
                                   env=env, capture_output=True, text=True, timeout=60)
    assert scan.returncode == 0, scan.stderr
    assert [(d["type"], d["aiobmsble"], d["name"]) for d in json.loads(scan.stdout) if d["address"] == ADDRESS] == [
        ("aiobmsble", "tianpwr_bms", _NAME)]

    log = tmp_path / "daemon.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dbus_bms", "run", "--config", str(config)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    bus = await MessageBus(bus_address=private_bus.address).connect()
    try:
        items = await _published(bus, f"{BATTERY_PREFIX}tp", proc, log)
    finally:
        bus.disconnect()
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)
    assert items["/Dc/0/Voltage"] == pytest.approx(expected["voltage"])
    assert items["/Dc/0/Current"] == pytest.approx(expected["current"])
    assert items["/Soc"] == pytest.approx(expected["battery_level"])
    cells = [items[f"/Voltages/Cell{i}"] for i in range(1, len(expected["cell_voltages"]) + 1)]
    assert cells == pytest.approx(expected["cell_voltages"])
    assert items["/ProductName"].startswith("TianPwr")
    assert items["/Mgmt/Connection"].startswith(f"BLE {ADDRESS} ok")
    assert "tianpwr_bms" in log.read_text()
