"""End to end: the daemon reads a serial JK on a pty and a BLE JK04 through the real bleak and the
fake BlueZ; the JK04 starts sending a NaN cell voltage behind a valid checksum. Nothing of it
reaches D-Bus, the JK04 falls into its fail-safe with its bad frames counted, and the serial
battery publishes without a gap throughout."""

from __future__ import annotations

import asyncio
import math
import re
import struct
from typing import Any

import pytest

from dbus_bms.protocols import jk04
from dbus_bms.sim.harness import DaemonHarness

FAST = "poll_interval: 0.2\ncharge:\n  stale_after: 2.0\n  current_recovery_hold: 1.0\n"
# A JK04 reports no temperature: without this its charging would be blocked from the start. Its
# stream sends a record every 0.5 s, so a reply timeout of 1 s is plenty.
JK04_CONFIG = "timeout: 1.0\ncharge:\n  charge_without_temperature: true"
SERIAL, BLE = 0, 1
NAN_CELL_3 = {jk04.LAYOUT.cells[2].offset: struct.pack("<f", math.nan)}


@pytest.fixture
async def daemon(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=1, ble_layouts=("jk04",), extra_config=FAST, ble_config=JK04_CONFIG)
    await h.start()
    yield h
    await h.stop()


def nans(value: Any, path: str = "") -> list[str]:
    if isinstance(value, float):
        return [path] if math.isnan(value) else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nans(v, f"{path}{k}")]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in nans(v, f"{path}[{i}]")]
    return []


def counter(items: dict[str, Any], name: str) -> int:
    return int(re.search(rf"{name} (\d+)", items["/Mgmt/Connection"]).group(1))


def reading_age(items: dict[str, Any]) -> int:
    return int(re.search(r"last reading (\d+) s ago", items["/Mgmt/Connection"]).group(1))


def connected(items: dict[str, Any]) -> bool:
    return items.get("/Connected") == 1 and items.get("/Voltages/Cell3") is not None


async def test_nan_cells_of_one_battery_never_reach_dbus_and_the_other_publishes_throughout(daemon):
    await daemon.wait_for(connected, SERIAL)
    before = await daemon.wait_for(lambda it: connected(it) and it["/Info/MaxChargeCurrent"] > 0, BLE)
    daemon.ble_sims[0].model.corrupt = NAN_CELL_3

    loop = asyncio.get_running_loop()
    end = loop.time() + 60  # only a guard against a hang; the loop ends on the condition
    samples = 0
    while True:
        serial, ble = await daemon.items(SERIAL), await daemon.items(BLE)
        samples += 1
        assert nans(serial) == [] and nans(ble) == [], (serial, ble)
        assert serial["/Connected"] == 1 and serial["/Alarms/BmsCable"] == 0, serial
        assert reading_age(serial) <= 1, serial["/Mgmt/Connection"]
        if ble["/Connected"] == 0 and counter(ble, "bad frames") >= counter(before, "bad frames") + 5:
            break
        assert loop.time() < end, f"the JK04 never fell into its fail-safe: {ble}\n{daemon.daemon_log()}"
        await asyncio.sleep(0.1)
    assert samples > 5
    assert ble["/Info/MaxChargeCurrent"] == 0 and ble["/Io/AllowToCharge"] == 0
    assert ble["/Voltages/Cell3"] is None  # invalid, never the NaN nor a stale number
    assert counter(serial, "bad frames") == 0
    await daemon.wait_for_log("cell 3 = nan V")

    daemon.ble_sims[0].model.corrupt = None
    items = await daemon.wait_for(connected, BLE)
    assert 2.5 < items["/Voltages/Cell3"] < 3.7
