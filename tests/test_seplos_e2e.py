"""End to end: ``dbus-bms run`` as a child process, a simulated Seplos v2 on a pty, read back over
D-Bus: its values, an alarm of the BMS, and control refused (the type is read only); and two more
packs sharing another port, each its own battery."""

from __future__ import annotations

import pytest
from dbus_fast import Message, MessageType, Variant

from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.sim.seplos import SeplosBus
from dbus_bms.victron.battery_service import CONDITIONS_PATH

FAST = "poll_interval: 0.2\ncontrol: true\ncharge:\n  stale_after: 2.0\n  current_recovery_hold: 1.0\n"


def online(items):
    return items.get("/Connected") == 1 and items.get("/Soc") is not None


async def test_a_seplos_is_published_with_its_values_and_alarms(private_bus, tmp_path):
    bus = SeplosBus((1, 2))
    h = DaemonHarness(private_bus, tmp_path, serial_type="seplos", extra_config=FAST, bus=("seplos", bus))
    await h.start()
    try:
        items = await h.wait_for(online)
        # Configured without an address: the pack at 0, named by its port alone, as before.
        assert items["/Mgmt/Connection"].startswith(f"Serial {tmp_path / 'ttyJK0'} ok")
        for address in (1, 2):
            pack = await h.wait_for(online, f"seplos_{address}")
            assert pack["/Mgmt/Connection"].startswith(f"Serial {tmp_path / 'ttyBUS'} address {address} ok")
            assert pack["/Voltages/Cell1"] == pytest.approx(bus.packs[address].pack.sample().cell_voltages[0], abs=0.002)
        sim = h.sims[0]
        cells = [items[f"/Voltages/Cell{i}"] for i in range(1, 17)]
        assert all(2.5 < v < 3.7 for v in cells)
        assert items["/System/NrOfCellsPerBattery"] == 16
        assert items["/Dc/0/Voltage"] == pytest.approx(sum(cells), abs=0.05)
        assert items["/InstalledCapacity"] == pytest.approx(sim.pack.capacity_ah, abs=0.1)
        assert items["/Soh"] == 100.0
        assert items["/ProductName"] == "Seplos 1101-SP16" and items["/FirmwareVersion"] == "2.8"
        assert items["/Io/AllowToCharge"] == 1 and items["/Alarms/BmsCable"] == 0
        assert items["/Alarms/HighCellVoltage"] == 0

        sim.alarms = {"HighCellVoltage": 2}
        items = await h.wait_for(lambda it: it.get("/Alarms/HighCellVoltage") == 2)
        assert items[CONDITIONS_PATH] == "cell over-voltage protection"

        reply = await h.bus.call(Message(destination=h.service(), path="/Settings/ForceChargingOff",
                                         interface="com.victronenergy.BusItem", member="SetValue",
                                         signature="v", body=[Variant("i", 1)]))
        assert reply.message_type == MessageType.METHOD_RETURN and reply.body[0] != 0
    finally:
        await h.stop()
