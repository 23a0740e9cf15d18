"""A battery monitor on the GX's D-Bus as a source (``dbus-battery``): the device reading the simulated
VE.Direct shunt's service on a private dbus-daemon. Its reading, and each way the service can fail
it: absent, appearing later, leaving, its monitor disconnected, a value invalid, a service that
never answers, a service of dbus-bms itself (the real daemon's); and the config that names it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from dbus_fast import Message
from dbus_fast.aio import MessageBus

from dbus_bms.config import ConfigError, parse_config
from dbus_bms.devices.base import DeviceError
from dbus_bms.devices.dbus_source import DbusBatterySource
from dbus_bms.devices.registry import create_device, source_name
from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.sim.vedirect_shunt import SERVICE, VeDirectShunt
from tests.test_ble_e2e import run_cli


@pytest.fixture
async def source(private_bus):
    device = DbusBatterySource("ttyS5", timeout=0.5, bus_address=private_bus.address)
    yield device
    await device.close()


@pytest.fixture
async def shunt(private_bus):
    async with VeDirectShunt(private_bus.address) as sim:
        yield sim


async def test_a_poll_reads_the_shunts_values(source, shunt):
    shunt.set({"/Dc/0/Voltage": 52.8, "/Dc/0/Current": 20.5, "/Dc/0/Power": 1082.0, "/Soc": 64.3,
               "/ConsumedAmphours": -101.2})
    sample = await source.poll()
    got = (sample.voltage, sample.current, sample.power, sample.soc, sample.consumed_ah)
    assert got == (52.8, 20.5, 1082.0, 64.3, -101.2)
    assert sample.cell_voltages is None and sample.capacity_remaining is None
    assert sample.device.model == "SmartShunt 500A/50mV"
    assert source.service == SERVICE and source.connection == f"D-Bus {SERVICE}"
    assert (source.stats.polls, source.stats.good) == (1, 1)


async def test_an_absent_service_fails_until_it_appears(source, private_bus):
    with pytest.raises(DeviceError, match=f"{SERVICE} is not on the D-Bus"):
        await source.poll()
    assert source.stats.link_errors == 1
    async with VeDirectShunt(private_bus.address, current=-7.25):
        assert (await source.poll()).current == -7.25


async def test_a_service_leaving_fails_the_poll_and_its_return_is_read(source, shunt):
    await source.poll()
    shunt.leave()
    with pytest.raises(DeviceError, match="is not on the D-Bus"):
        await source.poll()
    shunt.set({"/Soc": 55.0})
    await shunt.start()
    assert (await source.poll()).soc == 55.0


async def test_a_disconnected_monitor_gives_no_reading(source, shunt):
    shunt.set({"/Connected": 0})
    with pytest.raises(DeviceError, match=r"reports /Connected 0: its driver has no reading of the monitor"):
        await source.poll()
    shunt.set({"/Connected": None})
    with pytest.raises(DeviceError, match="reports /Connected invalid"):
        await source.poll()
    shunt.set({"/Connected": 1})
    assert (await source.poll()).current == shunt.value("/Dc/0/Current")


@pytest.mark.parametrize(("path", "value", "why"), [
    ("/Soc", None, "no valid /Soc: invalid"),
    ("/Dc/0/Current", None, "no valid /Dc/0/Current: invalid"),
    ("/ConsumedAmphours", None, "no valid /ConsumedAmphours: invalid"),
    ("/Dc/0/Current", "12 A", r"no valid /Dc/0/Current: not a number \('12 A'\)"),
    ("/ConsumedAmphours", 3.5, r"/ConsumedAmphours 3.5: Ah taken out since full cannot be above 0"),
])
async def test_a_needed_value_invalid_gives_no_reading(source, shunt, path, value, why):
    shunt.set({path: value})
    with pytest.raises(DeviceError, match=why):
        await source.poll()


async def test_a_needed_path_the_service_lacks_gives_no_reading(private_bus, source):
    shunt = VeDirectShunt(private_bus.address)
    del shunt.initial["/ConsumedAmphours"]
    async with shunt:
        with pytest.raises(DeviceError, match="no valid /ConsumedAmphours: absent"):
            await source.poll()


async def test_an_invalid_voltage_or_power_leaves_just_that_value_out(source, shunt):
    shunt.set({"/Dc/0/Voltage": None, "/Dc/0/Power": None, "/Dc/0/Current": -4.0})
    sample = await source.poll()
    assert (sample.voltage, sample.power, sample.current) == (None, None, -4.0)


async def test_a_service_that_never_answers_times_out_within_the_poll(private_bus, source):
    # A connection owning the name that takes every call and answers none: a driver that hangs.
    hung = await MessageBus(bus_address=private_bus.address).connect()
    hung.add_message_handler(lambda msg: True if isinstance(msg, Message) and msg.destination == SERVICE else None)
    await hung.request_name(SERVICE)
    try:
        with pytest.raises(DeviceError, match=f"{SERVICE} did not answer within 0.5 s"):
            await source.poll()
        assert source.stats.timeouts == 1
    finally:
        hung.disconnect()


async def test_a_service_of_dbus_bms_itself_is_refused(private_bus, source):
    async with VeDirectShunt(private_bus.address, process_name="dbus-bms"):
        with pytest.raises(DeviceError, match="a battery of dbus-bms itself .*cannot borrow from dbus-bms's own"):
            await source.poll()


async def test_a_battery_the_real_daemon_publishes_is_refused(private_bus, tmp_path):
    # What another dbus-bms (or a config that changed under a running one) puts on the bus.
    h = DaemonHarness(private_bus, tmp_path, count=1)
    await h.start()
    device = DbusBatterySource(h.service(0), bus_address=private_bus.address)
    try:
        await h.wait_for(lambda it: it.get("/Connected") == 1)
        with pytest.raises(DeviceError, match=rf"{h.service(0)} is a battery of dbus-bms itself"):
            await device.poll()
    finally:
        await device.close()
        await h.stop()


async def test_the_config_builds_it_on_the_session_bus(private_bus, shunt, monkeypatch):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", private_bus.address)
    cfg = parse_config(f"""
batteries:
  - type: jk-nw
    port: /dev/ttyUSB0
    borrow:
      - type: dbus-battery
        service: {SERVICE}
""").batteries[0]
    (borrowed,) = cfg.borrow
    assert borrowed.lends == ("current", "soc", "consumed_ah") and borrowed.source.service == SERVICE
    assert source_name(borrowed.source) == f"dbus-battery {SERVICE}"
    device = create_device(borrowed.source)
    try:
        assert isinstance(device, DbusBatterySource) and device.timeout == 1.0
        assert (await device.poll()).soc == shunt.value("/Soc")
    finally:
        await device.close()


def test_without_a_service_it_is_not_built():
    # ``dbus-bms read`` has no --service: its arguments build no source, with a clear word why.
    with pytest.raises(DeviceError, match="reads the service a borrow: entry of the config names"):
        DbusBatterySource.from_config(SimpleNamespace(type="dbus-battery", address="ttyS5", timeout=1.0))


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return [f"{e.line}: {e.key}: {e.message}" for e in caught.value.errors]


def test_the_service_may_be_named_by_its_last_part_alone():
    cfg = parse_config("""
batteries:
  - type: jk-nw
    port: /dev/ttyUSB0
    borrow:
      - type: dbus-battery
        service: ttyS5
        lends: [current, soc]
""").batteries[0]
    assert cfg.borrow[0].source.service == SERVICE and cfg.borrow[0].lends == ("current", "soc")


def test_config_errors_name_their_key_and_line():
    assert errors("""
batteries:
  - type: jk-nw
    port: /dev/ttyUSB0
    borrow:
      - type: dbus-battery
        port: /dev/ttyS5
      - type: dbus-battery
        service: com.victronenergy.vebus.ttyS4
        lends: [cells]
  - type: dbus-battery
    port: /dev/ttyS5
""") == [
        "6: batteries[0].borrow[0].service: missing: the monitor's service on the GX's D-Bus, e.g. "
        "com.victronenergy.battery.ttyS5 (or ttyS5); `dbus -y` on the GX lists them",
        "7: batteries[0].borrow[0].port: not used by type 'dbus-battery', which reads a service on the GX's own D-Bus",
        "10: batteries[0].borrow[1].lends: expected a list of what dbus-battery lends: current, soc, consumed_ah; "
        "not cells",
        "11: batteries[1].type: 'dbus-battery' is no battery of its own: it lends current, soc, consumed_ah to a "
        "battery that lists it under borrow:",
    ]
    assert errors("""
batteries:
  - type: jk-nw
    port: /dev/ttyUSB0
    borrow:
      - type: dbus-battery
        service: com.victronenergy.vebus.ttyS4
""") == ["7: batteries[0].borrow[0].service: 'com.victronenergy.vebus.ttyS4' is no battery service: expected "
         "com.victronenergy.battery.<name> or its <name> alone (letters, digits, _ and -), e.g. ttyS5"]


def test_a_service_of_this_configs_own_batteries_is_refused():
    # The second battery's service is known only after the first one's borrow: is read.
    assert errors("""
batteries:
  - type: jk-nw
    port: /dev/ttyUSB0
    borrow:
      - type: dbus-battery
        service: com.victronenergy.battery.ttyUSB1
  - type: jk-nw
    port: /dev/ttyUSB1
""") == ["7: batteries[0].borrow[0].service: com.victronenergy.battery.ttyUSB1 is the service of the battery on "
         "line 8 of this config: a battery cannot borrow from dbus-bms's own readings"]


async def test_read_reads_the_monitor_named_by_service(private_bus, shunt):
    shunt.set({"/Dc/0/Current": -3.5, "/Soc": 71.0})
    out = await run_cli({"DBUS_SYSTEM_BUS_ADDRESS": private_bus.address}, "read", "--type", "dbus-battery",
                        "--service", "ttyS5", "--json")
    reading = json.loads(out)
    assert (reading["current"], reading["soc"]) == (-3.5, 71.0)


async def test_a_value_that_is_no_finite_number_gives_no_reading(source, shunt):
    for value in (float("nan"), float("inf")):
        shunt.set({"/Dc/0/Current": value})
        with pytest.raises(DeviceError, match=rf"no valid /Dc/0/Current: not a number \({value}\)"):
            await source.poll()


@pytest.mark.parametrize(("path", "value", "why"), [
    ("/Soc", 250.0, "soc = 250 % is outside 0..100 %"),
    ("/Dc/0/Voltage", -3.0, "voltage = -3.00 V is not above 0 V"),
    ("/Dc/0/Current", 7500.0, "current = 7500.00 A is outside"),
])
async def test_a_value_no_battery_can_show_is_refused_by_the_reading_judge(source, shunt, path, value, why):
    from dbus_bms.devices.base import RejectedReading

    shunt.set({path: value})
    with pytest.raises(RejectedReading, match=why):
        await source.poll()
    assert source.stats.bad_frames == 1
