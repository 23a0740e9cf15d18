"""End to end: ``dbus-bms run`` as a child process, a simulated JBD on a pty and one behind its BLE
module, read back over D-Bus, their FETs switched from the GX through factory mode and read back;
``dbus-bms read`` on a BLE module with a password."""

from __future__ import annotations

import json

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from dbus_bms.protocols import jbd
from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.sim.jbd import jbd_ble_module

from .test_ble_e2e import run_cli

FAST = "poll_interval: 0.2\ncontrol: true\ncharge:\n  stale_after: 2.0\n  current_recovery_hold: 1.0\n"


def online(items):
    return items.get("/Connected") == 1 and items.get("/Soc") is not None


async def set_value(bus: MessageBus, service: str, path: str, value: int) -> int:
    reply = await bus.call(Message(destination=service, path=path, interface="com.victronenergy.BusItem",
                                   member="SetValue", signature="v", body=[Variant("i", value)]))
    assert reply.message_type == MessageType.METHOD_RETURN, reply.body
    return reply.body[0]


async def test_a_jbd_is_published_with_its_values_and_its_charge_fet_switched(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, serial_type="jbd", extra_config=FAST)
    await h.start()
    try:
        items = await h.wait_for(online)
        sim = h.sims[0]
        cells = [items[f"/Voltages/Cell{i}"] for i in range(1, 17)]
        assert all(2.5 < v < 3.7 for v in cells)
        assert items["/System/NrOfCellsPerBattery"] == 16
        assert items["/Dc/0/Voltage"] == pytest.approx(sum(cells), abs=0.05)
        assert items["/InstalledCapacity"] == pytest.approx(sim.pack.capacity_ah, abs=0.1)
        assert items["/ProductName"] == f"JBD {sim.name}"
        assert items["/Mgmt/Connection"].startswith("Serial ")
        assert items["/Io/AllowToCharge"] == 1 and items["/Alarms/BmsCable"] == 0

        assert await set_value(h.bus, h.service(), "/Settings/ForceChargingOff", 1) == 0
        assert sim.forbidden == jbd.FORBID_CHARGE and not sim.factory_mode
        items = await h.wait_for(lambda it: it.get("/Io/AllowToCharge") == 0)
        assert items["/Info/MaxChargeCurrent"] == 0 and items["/Io/AllowToDischarge"] == 1
        assert await set_value(h.bus, h.service(), "/Settings/ForceChargingOff", 0) == 0
        assert sim.forbidden == 0
        await h.wait_for(lambda it: it.get("/Io/AllowToCharge") == 1)
        assert await set_value(h.bus, h.service(), "/Settings/TurnBalancingOff", 1) == 2
    finally:
        await h.stop()


async def test_a_jbd_over_its_ble_module_is_published_and_switched(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=0, families=("jbd-ble",), extra_config=FAST)
    await h.start()
    try:
        items = await h.wait_for(online, "jbd_ble")
        sim = h.family_sims["jbd_ble"]
        assert items["/ProductName"] == f"JBD {sim.name}"
        assert items["/Mgmt/Connection"].startswith(f"BLE {h.family_peripherals['jbd_ble'].address}")
        assert items["/Voltages/Cell1"] == pytest.approx(sim.pack.cell_voltages()[0], abs=0.05)

        assert await set_value(h.bus, h.service("jbd_ble"), "/Settings/ForceDischargingOff", 1) == 0
        assert sim.forbidden == jbd.FORBID_DISCHARGE and not sim.factory_mode
        await h.wait_for(lambda it: it.get("/Io/AllowToDischarge") == 0, "jbd_ble")
    finally:
        await h.stop()


async def test_read_reaches_a_dh04_module_with_a_password(bluez):
    module = jbd_ble_module(0, dh04=True)
    module.bms.password = "135790"
    bluez.add_peripheral(module)
    # The bluez fixture pointed this process's environment, which the child inherits, at the fake.
    out = await run_cli({}, "read", "--type", "jbd-ble", "--address", module.address, "--protocol", "dh04",
                        "--pin", "135790", "--json")
    reading = json.loads(out)
    assert reading["cell_voltages"] == pytest.approx(module.bms.pack.sample().cell_voltages, abs=0.002)
    assert module.bms.unlock_attempts == 1 and not module.connected
