"""/History/* of the battery service on a private bus: there from the start, invalid until known,
and kept valid while the BMS is silent."""

from __future__ import annotations

from dbus_bms.history import History
from dbus_bms.victron.reader import get_items

from .test_battery_service import LIVE, SAMPLE, STALE, connect, service

NAME = "com.victronenergy.battery.house"
PATHS = (
    "/History/MinimumCellVoltage", "/History/MaximumCellVoltage", "/History/MinimumVoltage",
    "/History/MaximumVoltage", "/History/MinimumTemperature", "/History/MaximumTemperature",
    "/History/ChargedEnergy", "/History/DischargedEnergy", "/History/TotalAhDrawn",
    "/History/TimeSinceLastFullCharge",
)
SEEN = History(min_cell_voltage=3.0519, max_cell_voltage=3.4461, min_voltage=48.824, max_voltage=55.126,
               min_temperature=4.96, max_temperature=38.04, charged_energy=12.3456, discharged_energy=10.004,
               ah_drawn=212.34)


async def test_history_paths_exist_from_the_start_and_carry_the_history(private_bus, tmp_path):
    bus, client = await connect(private_bus), await connect(private_bus)
    svc = service(bus, tmp_path)
    await svc.start()
    items = await get_items(client, NAME)
    assert {p: items[p] for p in PATHS} == dict.fromkeys(PATHS)

    svc.publish(SAMPLE, LIVE, history=SEEN, since_full=7265.4)
    items = await get_items(client, NAME)
    assert (items["/History/MinimumCellVoltage"], items["/History/MaximumCellVoltage"]) == (3.052, 3.446)
    assert (items["/History/MinimumVoltage"], items["/History/MaximumVoltage"]) == (48.82, 55.13)
    assert (items["/History/MinimumTemperature"], items["/History/MaximumTemperature"]) == (5.0, 38.0)
    assert (items["/History/ChargedEnergy"], items["/History/DischargedEnergy"]) == (12.35, 10.0)
    assert items["/History/TotalAhDrawn"] == -212.3  # negative, as Victron's monitors count it
    since = items["/History/TimeSinceLastFullCharge"]
    assert since == 7265 and isinstance(since, int)
    assert items["/History/ChargeCycles"] == 3  # the BMS's own count

    svc.publish(SAMPLE, STALE, history=SEEN, since_full=None)
    items = await get_items(client, NAME)
    assert items["/Dc/0/Voltage"] is None and items["/History/ChargeCycles"] is None
    assert items["/History/MaximumCellVoltage"] == 3.446 and items["/History/ChargedEnergy"] == 12.35
    assert items["/History/TimeSinceLastFullCharge"] is None

    svc.publish(SAMPLE, LIVE)
    assert (await get_items(client, NAME))["/History/MinimumVoltage"] == 48.82  # no history given: left as it was
    await svc.stop()
    bus.disconnect()
    client.disconnect()


async def test_a_fresh_history_publishes_zero_totals_and_invalid_extremes(private_bus, tmp_path):
    bus, client = await connect(private_bus), await connect(private_bus)
    svc = service(bus, tmp_path)
    await svc.start()
    svc.publish(SAMPLE, LIVE, history=History())
    items = await get_items(client, NAME)
    assert items["/History/MinimumCellVoltage"] is None and items["/History/MaximumTemperature"] is None
    totals = ("/History/ChargedEnergy", "/History/DischargedEnergy", "/History/TotalAhDrawn")
    assert [items[p] for p in totals] == [0.0, 0.0, 0.0]
    await svc.stop()
    bus.disconnect()
    client.disconnect()
