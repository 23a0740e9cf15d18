"""The BusItem tree on a private dbus-daemon, read and written by a second, independent client."""

from __future__ import annotations

import asyncio

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from dbus_bms.victron.busitem import BusItemTree

NAME = "com.victronenergy.battery.test"


@pytest.fixture
async def pair(private_bus):
    server = await MessageBus(bus_address=private_bus.address).connect()
    client = await MessageBus(bus_address=private_bus.address).connect()
    tree = BusItemTree(server)
    tree.add("/Dc/0/Voltage", 53.2)
    tree.add("/Dc/0/Current", None)
    tree.add("/DeviceInstance", 512)
    tree.add("/ProductName", "JK BMS")
    tree.add("/CustomName", "", writeable=True, on_write=lambda p, v: isinstance(v, str) and len(v) < 10)
    tree.add("/Io/AllowToCharge", True)
    await server.request_name(NAME)
    signals: list[Message] = []
    client.add_message_handler(lambda m: signals.append(m) if m.message_type == MessageType.SIGNAL and m.interface == "com.victronenergy.BusItem" else None)
    await call(client, "/org/freedesktop/DBus", "AddMatch", "s", ["type='signal',interface='com.victronenergy.BusItem'"], dest="org.freedesktop.DBus", iface="org.freedesktop.DBus")
    yield tree, client, signals
    server.disconnect()
    client.disconnect()


async def call(bus, path, member, sig="", body=None, dest=NAME, iface="com.victronenergy.BusItem") -> Message:
    return await bus.call(Message(destination=dest, path=path, interface=iface, member=member, signature=sig, body=body or []))


async def settle(bus) -> None:
    """A round trip to the daemon: every signal sent before it has been delivered after it."""
    await call(bus, "/org/freedesktop/DBus", "GetId", dest="org.freedesktop.DBus", iface="org.freedesktop.DBus")
    await asyncio.sleep(0)


async def test_get_value_types_per_path(pair):
    _, client, _ = pair
    expected = {"/Dc/0/Voltage": ("d", 53.2), "/DeviceInstance": ("i", 512), "/ProductName": ("s", "JK BMS"),
                "/Dc/0/Current": ("ai", []), "/Io/AllowToCharge": ("i", 1)}
    for path, (sig, value) in expected.items():
        reply = await call(client, path, "GetValue")
        assert reply.signature == "v"
        assert (reply.body[0].signature, reply.body[0].value) == (sig, value), path


async def test_root_and_subtree_get_value_and_get_items(pair):
    _, client, _ = pair
    root = (await call(client, "/", "GetValue")).body[0]
    assert root["Dc/0/Voltage"] == Variant("d", 53.2) and root["DeviceInstance"] == Variant("i", 512)
    sub = (await call(client, "/Dc/0", "GetValue")).body[0]
    assert set(sub) == {"Voltage", "Current"}
    items = (await call(client, "/", "GetItems")).body[0]
    assert items["/Dc/0/Voltage"] == {"Value": Variant("d", 53.2), "Text": Variant("s", "53.2")}
    assert items["/Dc/0/Current"]["Text"] == Variant("s", "")
    assert (await call(client, "/ProductName", "GetText")).body == ["JK BMS"]


async def test_set_value_read_only_writeable_and_rejected(pair):
    tree, client, signals = pair
    assert (await call(client, "/Dc/0/Voltage", "SetValue", "v", [Variant("d", 1.0)])).body == [1]
    assert tree.value("/Dc/0/Voltage") == 53.2
    assert (await call(client, "/CustomName", "SetValue", "v", [Variant("s", "far too long a name")])).body == [2]
    assert (await call(client, "/CustomName", "SetValue", "v", [Variant("s", "House")])).body == [0]
    assert (await call(client, "/CustomName", "GetValue")).body[0].value == "House"
    await settle(client)
    (m,) = [m for m in signals if m.path in ("/", "/CustomName")]
    assert m.member == "ItemsChanged" and m.body[0]["/CustomName"]["Value"] == Variant("s", "House")


async def test_update_signals_only_changes_once(pair):
    tree, client, signals = pair
    tree.update({"/Dc/0/Voltage": 53.2, "/Dc/0/Current": -4.5, "/DeviceInstance": 512})
    await settle(client)
    items = [m for m in signals if m.member == "ItemsChanged"]
    assert len(items) == 1
    assert items[0].body[0] == {"/Dc/0/Current": {"Value": Variant("d", -4.5), "Text": Variant("s", "-4.5")}}
    assert [m for m in signals if m.member == "PropertiesChanged"] == []  # by default, ItemsChanged only
    signals.clear()
    tree.update({"/Dc/0/Voltage": 53.2, "/Dc/0/Current": -4.5})
    await settle(client)
    assert signals == []


async def test_becoming_invalid_is_a_change(pair):
    tree, client, signals = pair
    tree.update({"/Dc/0/Voltage": None})
    await settle(client)
    (m,) = [m for m in signals if m.member == "ItemsChanged"]
    assert m.body[0]["/Dc/0/Voltage"]["Value"] == Variant("ai", [])


async def test_unknown_path_and_method_are_errors(pair):
    _, client, _ = pair
    reply = await call(client, "/No/Such/Path", "GetValue")
    assert reply.message_type == MessageType.ERROR and reply.error_name == "org.freedesktop.DBus.Error.UnknownObject"
    reply = await call(client, "/Dc/0/Voltage", "Frobnicate")
    assert reply.error_name == "org.freedesktop.DBus.Error.UnknownMethod"


async def test_introspection_lists_children(pair):
    _, client, _ = pair
    reply = await call(client, "/Dc", "Introspect", iface="org.freedesktop.DBus.Introspectable")
    assert '<node name="0"/>' in reply.body[0]


async def test_a_write_handler_may_answer_later(pair):
    tree, client, _ = pair
    gate = asyncio.Event()
    seen: list[str] = []

    async def keep(path, value):
        seen.append(value)
        await gate.wait()
        if value == "boom":
            raise OSError("disk gone")
        return value != "bad"

    tree.add("/Later", "", writeable=True, on_write=keep)
    first = asyncio.create_task(call(client, "/Later", "SetValue", "v", [Variant("s", "one")]))
    second = asyncio.create_task(call(client, "/Later", "SetValue", "v", [Variant("s", "two")]))
    # Both calls arrived and were answered with nothing yet: the bus stays free meanwhile.
    assert (await call(client, "/Dc/0/Voltage", "GetValue")).body[0].value == 53.2
    await settle(client)
    assert not first.done() and not second.done() and tree.value("/Later") == ""
    gate.set()
    assert ((await first).body, (await second).body) == ([0], [0])
    assert seen == ["one", "two"] and tree.value("/Later") == "two"  # in the order asked
    assert (await call(client, "/Later", "SetValue", "v", [Variant("s", "bad")])).body == [2]
    assert (await call(client, "/Later", "SetValue", "v", [Variant("s", "boom")])).body == [2]
    assert tree.value("/Later") == "two"


async def test_per_path_properties_changed_when_asked_for(private_bus):
    server = await MessageBus(bus_address=private_bus.address).connect()
    client = await MessageBus(bus_address=private_bus.address).connect()
    tree = BusItemTree(server, properties_changed=True)
    tree.add("/Soc", 50.0)
    tree.add("/Dc/0/Voltage", 53.2)
    signals: list[Message] = []
    client.add_message_handler(lambda m: signals.append(m) if m.message_type == MessageType.SIGNAL and m.interface == "com.victronenergy.BusItem" else None)
    await call(client, "/org/freedesktop/DBus", "AddMatch", "s", ["type='signal',interface='com.victronenergy.BusItem'"], dest="org.freedesktop.DBus", iface="org.freedesktop.DBus")
    tree.update({"/Soc": 51.0, "/Dc/0/Voltage": 53.2})
    await settle(client)
    assert [(m.member, m.path) for m in signals] == [("ItemsChanged", "/"), ("PropertiesChanged", "/Soc")]
    assert signals[1].body[0] == {"Value": Variant("d", 51.0), "Text": Variant("s", "51.0")}
    server.disconnect()
    client.disconnect()


async def test_localsettings_style_tree_sends_properties_changed_only(private_bus):
    server = await MessageBus(bus_address=private_bus.address).connect()
    client = await MessageBus(bus_address=private_bus.address).connect()
    tree = BusItemTree(server, items_changed=False, properties_changed=True)
    tree.add("/Settings/A", 1)
    signals: list[Message] = []
    client.add_message_handler(lambda m: signals.append(m) if m.message_type == MessageType.SIGNAL and m.interface == "com.victronenergy.BusItem" else None)
    await call(client, "/org/freedesktop/DBus", "AddMatch", "s", ["type='signal',interface='com.victronenergy.BusItem'"], dest="org.freedesktop.DBus", iface="org.freedesktop.DBus")
    tree.update({"/Settings/A": 2})
    await settle(client)
    assert [(m.member, m.path) for m in signals] == [("PropertiesChanged", "/Settings/A")]
    server.disconnect()
    client.disconnect()
