"""localsettings as the battery service uses it: waited for, used at once, moved to when it comes
late, survived when it restarts; and /CustomName's rules (what is accepted, when a SetValue fails,
how often the state dir is written)."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from dbus_bms.sim.localsettings import LocalSettings
from dbus_bms.victron import settings
from dbus_bms.victron.battery_service import BatteryService
from dbus_bms.victron.connection import connect as victron_connect
from dbus_bms.victron.reader import get_items

NAME = "com.victronenergy.battery.house"
UID = "jk-nw_ABC123"
SETTING = "/Settings/Devices/jk_nw_ABC123"


async def connect(private_bus) -> MessageBus:
    # The hardened connection: a burst of calls fills the socket, which plain dbus-fast takes as fatal.
    return await victron_connect(private_bus.address)


def service(bus, state_dir, *, settings_wait: float) -> BatteryService:
    return BatteryService(bus, unique_id=UID, service_suffix="house", product_name="JK BMS",
                          process_name="dbus-bms", connection="Serial /dev/ttyUSB0",
                          device_instance_fallback=300, state_dir=state_dir, cell_count=4,
                          settings_wait=settings_wait)


def seeded(path, **values) -> LocalSettings:
    """A localsettings whose store already holds ``values`` and batteries 512..519 elsewhere, so
    it hands out 520: an instance no fallback here uses."""
    store = {f"/Settings/Devices/other{i}/ClassAndVrmInstance": f"battery:{512 + i}" for i in range(8)}
    store.update({f"{SETTING}/{k}": v for k, v in values.items()})
    path.write_text(json.dumps(store))
    return LocalSettings(path)


async def set_name(client: MessageBus, value) -> int:
    variant = value if isinstance(value, Variant) else Variant("s", value)
    reply = await client.call(Message(destination=NAME, path="/CustomName", interface="com.victronenergy.BusItem",
                                      member="SetValue", signature="v", body=[variant]))
    assert reply.message_type == MessageType.METHOD_RETURN, reply.body
    return reply.body[0]


async def wait_until(condition, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await condition():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.02)


async def owner_changes(bus: MessageBus, name: str) -> list[tuple[str, str]]:
    """Every (old owner, new owner) of ``name`` from now on, appended as the signals arrive."""
    seen: list[tuple[str, str]] = []

    def handler(msg: Message) -> None:
        if msg.member == "NameOwnerChanged" and msg.body[0] == name:
            seen.append((msg.body[1], msg.body[2]))

    bus.add_message_handler(handler)
    await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                           interface="org.freedesktop.DBus", member="AddMatch", signature="s",
                           body=[f"type='signal',member='NameOwnerChanged',arg0='{name}'"]))
    return seen


async def test_localsettings_present_at_start_is_used_at_once(private_bus, tmp_path):
    ls_bus, bus, client = await connect(private_bus), await connect(private_bus), await connect(private_bus)
    await seeded(tmp_path / "settings.json", CustomName="Shed bank").start(ls_bus)
    svc = service(bus, tmp_path / "state", settings_wait=3600)
    await asyncio.wait_for(svc.start(), 10)  # far from the hour it would wait for an absent one
    items = await get_items(client, NAME)
    assert items["/DeviceInstance"] == 520 and items["/CustomName"] == "Shed bank"
    for b in (ls_bus, bus, client):
        b.disconnect()


async def test_localsettings_that_comes_during_the_wait_is_used(private_bus, tmp_path):
    ls_bus, bus, client = await connect(private_bus), await connect(private_bus), await connect(private_bus)
    svc = service(bus, tmp_path / "state", settings_wait=3600)
    starting = asyncio.create_task(svc.start())
    await asyncio.sleep(0.3)
    assert not starting.done()
    await seeded(tmp_path / "settings.json").start(ls_bus)
    await asyncio.wait_for(starting, 10)
    assert (await get_items(client, NAME))["/DeviceInstance"] == 520
    for b in (ls_bus, bus, client):
        b.disconnect()


async def test_late_localsettings_takes_the_instance_and_the_name_set_meanwhile(private_bus, tmp_path):
    ls_bus, bus, client = await connect(private_bus), await connect(private_bus), await connect(private_bus)
    changes = await owner_changes(client, NAME)
    svc = service(bus, tmp_path / "state", settings_wait=0.2)
    await svc.start()
    assert (await get_items(client, NAME))["/DeviceInstance"] == 300
    assert await set_name(client, "Shed bank") == 0
    # localsettings arrives holding an older name for this battery: the owner's newer one wins.
    ls = seeded(tmp_path / "settings.json", CustomName="Old name")
    await ls.start(ls_bus)

    async def moved() -> bool:
        return (await get_items(client, NAME))["/DeviceInstance"] == 520

    await wait_until(moved)
    assert ls.tree.value(f"{SETTING}/CustomName") == "Shed bank"
    assert (await get_items(client, NAME))["/CustomName"] == "Shed bank"
    # It left the bus and came back, so that consumers read the new instance.
    me = bus.unique_name
    assert changes == [("", me), (me, ""), ("", me)]
    assert not (tmp_path / "state" / "jk_nw_ABC123.json").exists()
    # From now on the name goes to localsettings.
    assert await set_name(client, "Garage") == 0
    assert ls.tree.value(f"{SETTING}/CustomName") == "Garage"
    await svc.stop()
    for b in (ls_bus, bus, client):
        b.disconnect()


async def test_a_name_kept_in_the_state_dir_fills_an_empty_localsettings_only(private_bus, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    ls_bus, client = await connect(private_bus), await connect(private_bus)
    ls = seeded(tmp_path / "settings.json", CustomName="Set on the GX")
    await ls.start(ls_bus)
    (state / "jk_nw_ABC123.json").write_text(json.dumps({"custom_name": "Set on a desktop"}))
    (state / "jk_nw_OTHER.json").write_text(json.dumps({"custom_name": "Desk"}))
    bus = await connect(private_bus)
    await service(bus, state, settings_wait=10).start()
    assert (await get_items(client, NAME))["/CustomName"] == "Set on the GX"
    bus.disconnect()
    other_bus = await connect(private_bus)
    other = BatteryService(other_bus, unique_id="jk-nw_OTHER", service_suffix="other", product_name="JK BMS",
                           process_name="dbus-bms", connection="Serial /dev/ttyUSB1", device_instance_fallback=301,
                           state_dir=state, cell_count=4, settings_wait=10)
    await other.start()
    assert (await get_items(client, "com.victronenergy.battery.other"))["/CustomName"] == "Desk"
    assert ls.tree.value("/Settings/Devices/jk_nw_OTHER/CustomName") == "Desk"
    assert list(state.iterdir()) == []
    for b in (ls_bus, other_bus, client):
        b.disconnect()


async def test_a_localsettings_restart_loses_nothing(private_bus, tmp_path):
    ls_bus, bus, client = await connect(private_bus), await connect(private_bus), await connect(private_bus)
    await seeded(tmp_path / "settings.json").start(ls_bus)
    svc = service(bus, tmp_path / "state", settings_wait=10)
    await svc.start()
    assert await set_name(client, "Shed bank") == 0
    ls_bus.disconnect()
    # While it is away a name cannot be kept, and the caller is told so.
    assert await set_name(client, "Lost") == 2
    ls_bus = await connect(private_bus)
    again = LocalSettings(tmp_path / "settings.json")
    await again.start(ls_bus)
    assert again.tree.value(f"{SETTING}/CustomName") == "Shed bank"
    assert await set_name(client, "Garage") == 0
    assert again.tree.value(f"{SETTING}/CustomName") == "Garage"
    items = await get_items(client, NAME)
    assert items["/DeviceInstance"] == 520 and items["/CustomName"] == "Garage"
    for b in (ls_bus, bus, client):
        b.disconnect()


@pytest.mark.parametrize("with_localsettings", [False, True])
async def test_custom_name_is_printable_text_of_at_most_64_characters(private_bus, tmp_path, with_localsettings):
    ls_bus, bus, client = await connect(private_bus), await connect(private_bus), await connect(private_bus)
    if with_localsettings:
        await seeded(tmp_path / "settings.json").start(ls_bus)
    svc = service(bus, tmp_path / "state", settings_wait=10 if with_localsettings else 0)
    await svc.start()
    for bad in ("bell\x07", "two\nlines", "tab\there", "x" * 65, "escape\x1b[2J", "\u200b"):
        assert await set_name(client, bad) == 2, repr(bad)
    assert await set_name(client, Variant("i", 7)) == 2
    assert (await get_items(client, NAME))["/CustomName"] == ""
    assert await set_name(client, "Ü" * 64) == 0
    assert (await get_items(client, NAME))["/CustomName"] == "Ü" * 64
    assert await set_name(client, "") == 0
    await svc.stop()
    for b in (ls_bus, bus, client):
        b.disconnect()


async def test_set_value_fails_when_localsettings_cannot_save(private_bus, tmp_path):
    ls_bus, bus, client = await connect(private_bus), await connect(private_bus), await connect(private_bus)
    home = tmp_path / "conf"
    home.mkdir()
    await seeded(home / "settings.json").start(ls_bus)
    svc = service(bus, tmp_path / "state", settings_wait=10)
    await svc.start()
    assert await set_name(client, "Shed bank") == 0
    shutil.rmtree(home)
    home.write_text("")  # its directory is gone: localsettings answers -1
    assert await set_name(client, "Garage") == 2
    assert (await get_items(client, NAME))["/CustomName"] == "Shed bank"
    for b in (ls_bus, bus, client):
        b.disconnect()


async def test_set_value_fails_when_localsettings_does_not_answer(private_bus, tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "REPLY_TIMEOUT", 0.5)
    ls_bus, bus, client = await connect(private_bus), await connect(private_bus), await connect(private_bus)
    await seeded(tmp_path / "settings.json").start(ls_bus)
    svc = service(bus, tmp_path / "state", settings_wait=10)
    await svc.start()
    ls_bus.disconnect()
    # A localsettings that hangs: it owns the name and never answers.
    hung = await connect(private_bus)
    hung.add_message_handler(lambda msg: msg.message_type == MessageType.METHOD_CALL or None)
    await hung.request_name(settings.SETTINGS_SERVICE)
    assert await set_name(client, "Garage") == 2
    assert (await get_items(client, NAME))["/CustomName"] == ""
    for b in (hung, bus, client):
        b.disconnect()


async def test_set_value_fails_when_the_state_dir_cannot_keep_it(private_bus, tmp_path, caplog):
    bus, client = await connect(private_bus), await connect(private_bus)
    state = tmp_path / "state"
    svc = service(bus, state, settings_wait=0)
    await svc.start()
    # The directory is writable but the write fails: something planted at the file's place.
    target = state / "jk_nw_ABC123.json"
    target.mkdir(parents=True)
    assert await set_name(client, "Shed bank") == 2
    assert await set_name(client, "Shed bank") == 2  # a failed write is retried at once, and fails again
    target.rmdir()
    assert await set_name(client, "Garage") == 0
    assert json.loads(target.read_text()) == {"custom_name": "Garage"}
    # No directory can be made there at all: refused at once, also within the spacing.
    shutil.rmtree(state)
    state.write_text("")
    assert await set_name(client, "Attic") == 2
    assert (await get_items(client, NAME))["/CustomName"] == "Garage"
    # Within the spacing a name waits for its write; one that then fails is said at the stop.
    state.unlink()
    target.mkdir(parents=True)
    caplog.clear()
    assert await set_name(client, "Workshop") == 0
    await svc.stop()
    assert "cannot write" in caplog.text and "jk_nw_ABC123.json" in caplog.text
    for b in (bus, client):
        b.disconnect()


async def test_a_burst_of_names_costs_a_couple_of_writes_and_the_last_one_stays(private_bus, tmp_path):
    bus, client = await connect(private_bus), await connect(private_bus)
    state = tmp_path / "state"
    svc = service(bus, state, settings_wait=0)
    await svc.start()
    answers: list[int] = []
    for start in range(0, 3000, 100):  # the bus daemon allows a client 128 calls in flight
        answers += await asyncio.gather(*(set_name(client, f"name {i}") for i in range(start, start + 100)))
    assert answers == [0] * 3000
    assert (await get_items(client, NAME))["/CustomName"] == "name 2999"
    await svc.stop()
    assert svc.name_file.writes <= 2
    assert json.loads((state / "jk_nw_ABC123.json").read_text()) == {"custom_name": "name 2999"}
    bus.disconnect()
    bus = await connect(private_bus)
    await service(bus, state, settings_wait=0).start()
    assert (await get_items(client, NAME))["/CustomName"] == "name 2999"
    for b in (bus, client):
        b.disconnect()


async def set_setting(client: MessageBus, path: str, value: str) -> int:
    """A SetValue on localsettings, as the GX's GUI writes a setting."""
    reply = await client.call(Message(destination=settings.SETTINGS_SERVICE, path=path, interface="com.victronenergy.BusItem",
                                      member="SetValue", signature="v", body=[Variant("s", value)]))
    assert reply.message_type == MessageType.METHOD_RETURN, reply.body
    return reply.body[0]


async def published(client: MessageBus, path: str, value) -> None:
    async def there() -> bool:
        try:
            return (await get_items(client, NAME))[path] == value
        except RuntimeError:  # off the bus for a moment, taking a new instance
            return False

    await wait_until(there)


async def test_the_owners_changes_in_localsettings_are_followed_without_a_restart(private_bus, tmp_path, caplog):
    ls_bus, bus, client = await connect(private_bus), await connect(private_bus), await connect(private_bus)
    ls = seeded(tmp_path / "settings.json")
    await ls.start(ls_bus)
    svc = service(bus, tmp_path / "state", settings_wait=10)
    await svc.start()
    changes = await owner_changes(client, NAME)
    assert await set_setting(client, f"{SETTING}/CustomName", "Boat") == 0
    await published(client, "/CustomName", "Boat")
    assert changes == []  # a name is a plain change: the service stays on the bus
    # A new instance: the service leaves the bus and comes back with it, as consumers read it only then.
    assert await set_setting(client, f"{SETTING}/ClassAndVrmInstance", "battery:530") == 0
    await published(client, "/DeviceInstance", 530)
    me = bus.unique_name
    assert changes == [(me, ""), ("", me)]
    # An instance another battery holds: localsettings gives the next free one, and that is followed.
    assert await set_setting(client, f"{SETTING}/ClassAndVrmInstance", "battery:513") == 0
    assert ls.tree.value(f"{SETTING}/ClassAndVrmInstance") == "battery:520"
    await published(client, "/DeviceInstance", 520)
    # A name the service could not publish is left out, and the log says so.
    assert await set_setting(client, f"{SETTING}/CustomName", "bell\x07") == 0
    assert await set_setting(client, f"{SETTING}/CustomName", "Boat 2") == 0
    await published(client, "/CustomName", "Boat 2")
    assert "not printable text" in caplog.text
    # After a restart of localsettings, its changes are still followed.
    ls_bus.disconnect()
    ls_bus = await connect(private_bus)
    await LocalSettings(tmp_path / "settings.json").start(ls_bus)
    assert await set_setting(client, f"{SETTING}/CustomName", "Shed") == 0
    await published(client, "/CustomName", "Shed")
    assert (await get_items(client, NAME))["/DeviceInstance"] == 520
    await svc.stop()
    for b in (ls_bus, bus, client):
        b.disconnect()


async def test_another_batterys_setting_and_another_sender_are_not_followed(private_bus, tmp_path):
    ls_bus, bus, client = await connect(private_bus), await connect(private_bus), await connect(private_bus)
    ls = seeded(tmp_path / "settings.json")
    await ls.start(ls_bus)
    svc = service(bus, tmp_path / "state", settings_wait=10)
    await svc.start()
    assert await set_setting(client, "/Settings/Devices/other1/ClassAndVrmInstance", "battery:600") == 0
    # A signal that looks like localsettings' but comes from another connection; the GetItems
    # after it is answered only after the service has seen it, if it was routed there at all.
    client.send(Message.new_signal(f"{SETTING}/CustomName", "com.victronenergy.BusItem", "PropertiesChanged", "a{sv}",
                                   [{"Value": Variant("s", "Forged"), "Text": Variant("s", "Forged")}]))
    assert (await get_items(client, NAME))["/CustomName"] == ""
    assert await set_setting(client, f"{SETTING}/CustomName", "Real") == 0
    await published(client, "/CustomName", "Real")  # localsettings signals in order: other1's came first
    assert (await get_items(client, NAME))["/DeviceInstance"] == 520
    await svc.stop()
    for b in (ls_bus, bus, client):
        b.disconnect()
