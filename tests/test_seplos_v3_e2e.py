"""End to end: ``dbus-bms run`` reads two Seplos v3 packs sharing one RS485 bus (behind an echoing
adapter), each as its own battery with its own values, and one going silent trips only its own
fail-safe."""

from __future__ import annotations

import pytest

from dbus_bms.model import ALARM_WARNING
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.sim.seplos_v3 import SeplosV3Bus

from .waiting import until

# Three polls fit in stale_after; the fail-safe blocks discharge at once too.
CONFIG = "poll_interval: 1.0\ncharge:\n  stale_after: 3.0\n  current_recovery_hold: 1.0\n  failsafe_discharge_current: 0\n"
PACKS = {1: "seplos_v3_1", 2: "seplos_v3_2"}


def online(items):
    return items.get("/Connected") == 1 and items.get("/Soc") is not None


async def test_two_packs_on_one_bus_are_two_batteries_and_a_silent_one_trips_only_its_fail_safe(private_bus, tmp_path):
    bus = SeplosV3Bus(tuple(PACKS), echo=True)
    for address, current in ((1, -8.0), (2, 5.0)):
        bus.packs[address].pack.current_override = current
    bus.packs[2].alarms = {"LowSoc": ALARM_WARNING}
    h = DaemonHarness(private_bus, tmp_path, count=0, bus=("seplos-v3", bus), extra_config=CONFIG)
    await h.start()
    try:
        first = {address: await h.wait_for(online, alias) for address, alias in PACKS.items()}
        assert len({items["/DeviceInstance"] for items in first.values()}) == 2
        for address, items in first.items():
            pack = bus.packs[address]
            assert items["/Serial"] == pack.device.serial
            assert items["/ProductName"] == "Seplos SP51B48100-16S"
            assert items["/Mgmt/Connection"].startswith(f"Serial {tmp_path / 'ttyBUS'} address {address} ok")
            assert items["/Voltages/Cell1"] == pytest.approx(pack.pack.sample().cell_voltages[0], abs=0.002)
            assert items["/Dc/0/Current"] == pytest.approx(pack.pack.current, abs=0.01)
        assert (first[1]["/Alarms/LowSoc"], first[2]["/Alarms/LowSoc"]) == (0, ALARM_WARNING)

        bus.packs[2].fault = Fault.SILENT
        items = await h.wait_for(lambda it: it.get("/Connected") == 0, PACKS[2])
        assert (items["/Info/MaxChargeCurrent"], items["/Io/AllowToCharge"], items["/Alarms/BmsCable"]) == (0, 0, 2)
        # While the silent pack misses its polls, the other answers its own and stays published.
        asked = bus.requests
        await until(lambda: bus.requests[2] >= asked[2] + 3 and bus.requests[1] >= asked[1] + 9)
        items = await h.items(PACKS[1])
        assert online(items) and items["/Info/MaxChargeCurrent"] > 0 and items["/Alarms/BmsCable"] == 0

        bus.packs[2].fault = Fault.NONE
        await h.wait_for(online, PACKS[2])
    finally:
        await h.stop()
