"""The battery service against a private bus, with and without the simulated localsettings."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from dbus_bms.charge.types import Limits
from dbus_bms.model import BmsSettings, DeviceInfo, Sample
from dbus_bms.sim.localsettings import LocalSettings
from dbus_bms.victron.battery_service import BMS_SETTINGS_PATHS, PRODUCT_ID, BatteryService, service_name
from dbus_bms.victron.reader import get_items

LIVE = Limits(55.2, 100.0, 150.0, True, True, "Bulk", "Max charge current", "Max discharge current", False)
STALE = Limits(55.2, 0.0, 20.0, False, True, "Bulk (fail-safe)", "Fail-safe: BMS silent 12 s", "Fail-safe", True)
SAMPLE = Sample(
    voltage=52.8, current=-10.0, soc=60.0, capacity_remaining=168.0, capacity_full=280.0, cycles=3,
    cell_voltages=[3.30, 3.31, 3.29, 3.30], cell_balancing=[False, True, False, False],
    temperatures=[21.0, 23.5], mosfet_temperature=30.0, charge_enabled=True, discharge_enabled=True,
    balancing=True, alarms={"LowSoc": 1}, device=DeviceInfo(model="JK-B2A8S20P", sw_version="11.26", serial="ABC123"),
)


async def connect(private_bus) -> MessageBus:
    return await MessageBus(bus_address=private_bus.address).connect()


def service(bus, tmp_path, uid="jk-nw_ABC123", suffix="house", settings_wait=0.0, cell_min_voltage=2.9) -> BatteryService:
    """A service; without localsettings on the bus it falls back after ``settings_wait`` s."""
    return BatteryService(bus, unique_id=uid, service_suffix=suffix, product_name="JK BMS JK-B2A8S20P",
                          process_name="dbus-bms", connection="Serial /dev/ttyUSB0",
                          device_instance_fallback=300, state_dir=tmp_path, cell_count=4,
                          settings_wait=settings_wait, cell_min_voltage=cell_min_voltage)


async def test_published_values(private_bus, tmp_path):
    bus, client = await connect(private_bus), await connect(private_bus)
    svc = service(bus, tmp_path)
    await svc.start()
    svc.publish(SAMPLE, LIVE, connection_text="Serial /dev/ttyUSB0 ok 100%", link_quality=1.0)
    items = await get_items(client, "com.victronenergy.battery.house")
    assert items["/ProductId"] == PRODUCT_ID != 0xBA77
    assert items["/DeviceInstance"] == 300  # no localsettings: the configured fallback
    assert (items["/Dc/0/Voltage"], items["/Dc/0/Current"], items["/Dc/0/Power"]) == (52.8, -10.0, -528.0)
    assert items["/Dc/0/Temperature"] == 23.5 and items["/System/MinCellTemperature"] == 21.0
    assert items["/ConsumedAmphours"] == -112.0 and items["/TimeToGo"] == 168 * 360
    assert items["/Voltages/Sum"] == 13.2 and items["/Voltages/Diff"] == pytest.approx(0.02)
    assert (items["/System/MinVoltageCellId"], items["/System/MaxVoltageCellId"]) == ("C3", "C2")
    assert [items[f"/Balances/Cell{i}"] for i in range(1, 5)] == [0, 1, 0, 0]
    assert items["/Alarms/LowSoc"] == 1 and items["/Alarms/HighCellVoltage"] == 0 and items["/Alarms/BmsCable"] == 0
    assert (items["/Info/MaxChargeVoltage"], items["/Info/MaxChargeCurrent"], items["/Info/MaxDischargeCurrent"]) == (55.2, 100.0, 150.0)
    assert (items["/Io/AllowToCharge"], items["/Io/AllowToDischarge"], items["/Connected"]) == (1, 1, 1)
    assert items["/Serial"] == "ABC123" and items["/FirmwareVersion"] == "11.26"
    assert items["/Mgmt/ProcessName"] == "dbus-bms" and items["/Mgmt/LinkQuality"] == 100
    assert items["/State"] == 9 and items["/Info/ChargeRequest"] == 0
    assert items["/Info/BatteryLowVoltage"] == 11.6  # 4 cells at cell_min_voltage
    assert (items["/System/NrOfBatteries"], items["/System/BatteriesParallel"], items["/System/BatteriesSeries"]) == (1, 1, 1)
    await svc.stop()
    bus.disconnect()
    client.disconnect()


async def test_stale_data_is_not_shown_as_live(private_bus, tmp_path):
    bus, client = await connect(private_bus), await connect(private_bus)
    svc = service(bus, tmp_path)
    await svc.start()
    svc.publish(SAMPLE, STALE)
    items = await get_items(client, "com.victronenergy.battery.house")
    assert items["/Connected"] == 0 and items["/Alarms/BmsCable"] == 2
    assert items["/Soc"] is None and items["/Dc/0/Voltage"] is None and items["/Voltages/Cell1"] is None
    assert items["/Info/MaxChargeVoltage"] == 55.2 and items["/Info/MaxChargeCurrent"] == 0
    assert items["/Io/AllowToCharge"] == 0 and items["/Alarms/LowSoc"] is None
    assert items["/State"] == 10  # error: the limits are the fail-safe's
    assert items["/Info/BatteryLowVoltage"] == 11.6  # a property of the pack, not of the reading
    bus.disconnect()
    client.disconnect()


async def test_the_bms_settings_are_published_and_kept_while_it_is_silent(private_bus, tmp_path):
    bus, client = await connect(private_bus), await connect(private_bus)
    svc = service(bus, tmp_path)
    await svc.start()
    items = await get_items(client, "com.victronenergy.battery.house")
    assert all(items[path] is None for path in BMS_SETTINGS_PATHS.values())
    settings = BmsSettings(cell_ovp=3.65, cell_uvp=2.7, max_charge_current=100.0, charge_min_temperature=-2.0,
                           cell_count=4)
    svc.publish(dataclasses.replace(SAMPLE, bms_settings=settings), LIVE)
    for stale in (False, True):
        items = await get_items(client, "com.victronenergy.battery.house")
        assert items["/Bms/CellOverVoltageProtection"] == 3.65 and items["/Bms/CellUnderVoltageProtection"] == 2.7
        assert items["/Bms/ChargeOverCurrentProtection"] == 100.0 and items["/Bms/ChargeUnderTemperatureProtection"] == -2.0
        assert items["/Bms/CellCount"] == 4 and items["/Bms/DischargeOverCurrentProtection"] is None
        svc.publish(dataclasses.replace(SAMPLE, bms_settings=settings), STALE)
    bus.disconnect()
    client.disconnect()


async def test_battery_low_voltage_is_invalid_without_a_cell_minimum(private_bus, tmp_path):
    bus, client = await connect(private_bus), await connect(private_bus)
    svc = service(bus, tmp_path, cell_min_voltage=None)
    await svc.start()
    svc.publish(SAMPLE, LIVE)
    items = await get_items(client, "com.victronenergy.battery.house")
    assert "/Info/BatteryLowVoltage" in items and items["/Info/BatteryLowVoltage"] is None
    bus.disconnect()
    client.disconnect()


async def test_name_appears_only_when_the_device_instance_exists(private_bus, tmp_path):
    bus, watcher = await connect(private_bus), await connect(private_bus)
    seen: list[object] = []
    name = "com.victronenergy.battery.house"

    async def on_owner(msg: Message) -> None:
        reply = await watcher.call(Message(destination=name, path="/DeviceInstance",
                                           interface="com.victronenergy.BusItem", member="GetValue"))
        seen.append(reply.body[0].value if reply.message_type == MessageType.METHOD_RETURN else reply.error_name)

    def handler(msg: Message):
        if msg.member == "NameOwnerChanged" and msg.body[0] == name and msg.body[2]:
            asyncio.ensure_future(on_owner(msg))

    watcher.add_message_handler(handler)
    await watcher.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                               interface="org.freedesktop.DBus", member="AddMatch", signature="s",
                               body=["type='signal',member='NameOwnerChanged'"]))
    svc = service(bus, tmp_path)
    await svc.start()
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.01)
    assert seen == [300]
    bus.disconnect()
    watcher.disconnect()


async def test_device_instances_and_custom_name_through_localsettings(private_bus, tmp_path):
    settings_bus = await connect(private_bus)
    ls = LocalSettings(tmp_path / "settings.json")
    await ls.start(settings_bus)
    bus_a, bus_b, client = await connect(private_bus), await connect(private_bus), await connect(private_bus)
    a = service(bus_a, tmp_path, uid="jk-nw_AAA", suffix="a", settings_wait=30)
    b = service(bus_b, tmp_path, uid="jk-nw_BBB", suffix="b", settings_wait=30)
    await a.start()
    await b.start()
    assert (await get_items(client, "com.victronenergy.battery.a"))["/DeviceInstance"] == 512
    assert (await get_items(client, "com.victronenergy.battery.b"))["/DeviceInstance"] == 513
    reply = await client.call(Message(destination="com.victronenergy.battery.a", path="/CustomName",
                                      interface="com.victronenergy.BusItem", member="SetValue", signature="v",
                                      body=[Variant("s", "Shed bank")]))
    assert reply.body == [0]
    # The answer came after localsettings had confirmed the value.
    assert ls.tree.value("/Settings/Devices/jk_nw_AAA/CustomName") == "Shed bank"
    await a.stop()
    bus_a.disconnect()
    bus_a = await connect(private_bus)
    again = service(bus_a, tmp_path, uid="jk-nw_AAA", suffix="a", settings_wait=30)
    await again.start()
    items = await get_items(client, "com.victronenergy.battery.a")
    assert items["/DeviceInstance"] == 512 and items["/CustomName"] == "Shed bank"
    for bus in (bus_a, bus_b, client, settings_bus):
        bus.disconnect()


async def test_custom_name_kept_in_the_state_dir_without_localsettings(private_bus, tmp_path):
    bus, client = await connect(private_bus), await connect(private_bus)
    svc = service(bus, tmp_path)
    await svc.start()
    reply = await client.call(Message(destination="com.victronenergy.battery.house", path="/CustomName",
                                      interface="com.victronenergy.BusItem", member="SetValue", signature="v",
                                      body=[Variant("s", "House")]))
    assert reply.body == [0]
    await svc.stop()
    bus.disconnect()
    bus = await connect(private_bus)
    await service(bus, tmp_path).start()
    assert (await get_items(client, "com.victronenergy.battery.house"))["/CustomName"] == "House"
    bus.disconnect()
    client.disconnect()


def test_service_names_are_valid_bus_names():
    assert service_name("ttyUSB0") == "com.victronenergy.battery.ttyUSB0"
    assert service_name("0-bank.1") == "com.victronenergy.battery._0_bank_1"
