"""/Info/AbsorptionTime of the battery service on a private bus: the absorption clock while the
pack is in absorption, invalid otherwise and in the fail-safe."""

from __future__ import annotations

from dbus_bms.victron.reader import get_items

from .test_battery_service import LIVE, SAMPLE, STALE, connect, service

NAME = "com.victronenergy.battery.house"


async def test_absorption_time_is_the_clock_in_absorption_and_invalid_otherwise(private_bus, tmp_path):
    bus, client = await connect(private_bus), await connect(private_bus)
    svc = service(bus, tmp_path)
    await svc.start()
    items = await get_items(client, NAME)
    assert "/Info/AbsorptionTime" in items and items["/Info/AbsorptionTime"] is None

    svc.publish(SAMPLE, LIVE, absorption=312.7)
    value = (await get_items(client, NAME))["/Info/AbsorptionTime"]
    assert value == 313 and isinstance(value, int)

    svc.publish(SAMPLE, STALE, absorption=312.7)
    assert (await get_items(client, NAME))["/Info/AbsorptionTime"] is None
    svc.publish(SAMPLE, LIVE)
    assert (await get_items(client, NAME))["/Info/AbsorptionTime"] is None
    await svc.stop()
    bus.disconnect()
    client.disconnect()
