"""A SmartShunt over BLE GATT through the real bleak and the fake BlueZ: it reads what the simulated
shunt measures over a paired link (and nothing over an unpaired one), a wrong PIN and a shunt without
Bluetooth GATT enabled fail with errors that say so, the keep-alive keeps the link past the shunt's
own timeout, and a link the shunt ends is made again. Then the shunt lending its current, SoC and
consumed Ah to a JK NW on a pty, built from a config by the registry: the merge and the sign check;
the scan's guess, and the config's refusal of a shunt as a battery of its own."""

from __future__ import annotations

import asyncio
import logging

import pytest

from dbus_bms.config import ConfigError, parse_config
from dbus_bms.devices.base import DeviceError
from dbus_bms.devices.ble_match import guess_type
from dbus_bms.devices.borrowing import BorrowingDevice
from dbus_bms.devices.registry import create_device
from dbus_bms.devices.smartshunt_ble import SmartShuntBleDevice
from dbus_bms.protocols import victron_gatt
from dbus_bms.sim.jk_nw import JkNwSimulator
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.pty_server import PtyServer
from dbus_bms.sim.smartshunt import ShuntReadings, SmartShuntPeripheral, ble_address
from dbus_bms.transports.ble import BleTransport
from dbus_bms.transports.errors import TransportError

MAC = ble_address(0)


async def until(condition, what: str, bound: float = 10.0) -> None:
    """Waits for ``condition()`` in event-loop time, failing with ``what`` past ``bound`` s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + bound
    while not condition():
        assert loop.time() < end, f"never: {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def shunt(bluez):
    peripheral = SmartShuntPeripheral(ShuntReadings(noise=0.0), address=MAC)
    bluez.add_peripheral(peripheral)
    made: list[SmartShuntBleDevice] = []

    def device(**options) -> SmartShuntBleDevice:
        made.append(d := SmartShuntBleDevice(MAC, timeout=1.0, **options))
        return d

    yield peripheral, device
    for d in made:
        await d.close()


async def test_it_reads_what_the_shunt_measures_over_a_paired_link(shunt, bluez):
    peripheral, device = shunt
    d = device()
    sample = await d.poll()
    r = peripheral.readings
    assert (sample.voltage, sample.current, sample.soc) == (r.voltage, r.current, r.soc)
    assert sample.consumed_ah == r.consumed_ah
    assert sample.power == round(r.voltage * r.current)
    assert bluez.device_properties(peripheral)["Paired"] is True
    assert peripheral.keep_alives == [60_000]
    assert d.connection == f"BLE {MAC}" and d.fallback_id == f"smartshunt_{MAC.replace(':', '').lower()}"
    r.current, r.soc, r.consumed_ah = 31.5, None, 0.0
    sample = await d.poll()
    assert (sample.current, sample.soc, sample.consumed_ah) == (31.5, None, 0.0)
    assert d.transport.opens == 1 and d.stats.good == 2 and peripheral.keep_alives == [60_000]


async def test_an_unpaired_link_reads_nothing(shunt):
    peripheral, _ = shunt
    transport = BleTransport(MAC, notify_uuid=None, write_uuid=None)
    try:
        await transport.open()
        with pytest.raises(TransportError, match="Not paired"):
            await transport.read_char(victron_gatt.VALUE_UUIDS[0])
        assert not transport.is_open  # let go: the next open connects and pairs afresh
    finally:
        await transport.close()
    assert peripheral.keep_alives == []


async def test_a_wrong_pin_fails_with_an_error_that_says_so(shunt):
    peripheral, device = shunt
    peripheral.pin = "314159"
    d = device()
    with pytest.raises(DeviceError, match=r"AuthenticationFailed.*the shunt refused the PIN; set pin: to its PIN"):
        await d.poll()
    assert d.stats.link_errors == 1 and peripheral.keep_alives == []
    right = device(pin="314159")
    assert (await right.poll()).soc == peripheral.readings.soc


async def test_a_shunt_without_bluetooth_gatt_enabled_says_to_enable_it(shunt):
    peripheral, device = shunt
    peripheral.services = []  # no service 65970000, as with Bluetooth GATT off
    with pytest.raises(DeviceError, match="enable Bluetooth GATT in VictronConnect"):
        await device().poll()


async def test_the_keep_alive_keeps_the_link_past_the_shunts_timeout(shunt):
    # Without a keep-alive the shunt ends a link after 0.3 s; ours asks for 0.6 s and is renewed
    # every 0.2 s by the polls, so the link outlives both many times over.
    peripheral, device = shunt
    peripheral.link_timeout = 0.3
    d = device(keep_alive_ms=600)
    loop = asyncio.get_running_loop()
    end = loop.time() + 2.0
    while loop.time() < end:
        await d.poll()
        await asyncio.sleep(0.05)
    assert d.transport.opens == 1 and peripheral.drops == 0 and d.stats.good == d.stats.polls
    assert len(peripheral.keep_alives) >= 5 and set(peripheral.keep_alives) == {600}


async def test_a_link_the_shunt_ends_is_made_again_with_a_new_keep_alive(shunt):
    peripheral, device = shunt
    d = device(keep_alive_ms=300)
    await d.poll()
    await until(lambda: peripheral.drops == 1, "the shunt ends the link whose keep-alive ran out")
    sample = None
    for _ in range(2):  # the poll that meets the drop may fail; the one after it reads
        try:
            sample = await d.poll()
            break
        except DeviceError:
            pass
    assert sample is not None and sample.soc == peripheral.readings.soc
    assert d.transport.opens == 2 and d.stats.reopens == 1 and peripheral.keep_alives == [300, 300]
    peripheral.drop_connection()
    for _ in range(2):
        try:
            await d.poll()
            break
        except DeviceError:
            pass
    assert d.transport.opens == 3 and len(peripheral.keep_alives) == 3


@pytest.fixture
async def rig(bluez, tmp_path):
    """(JK simulator, shunt peripheral, the borrowing device of a config with both)."""
    jk = JkNwSimulator(SimPack(seed=1), serial="JKSIM1")
    jk.pack.current_override = jk.pack.current = 20.0
    server = PtyServer(jk, link=str(tmp_path / "ttyJK"), advance=False)
    server.start()
    peripheral = SmartShuntPeripheral(ShuntReadings(current=19.6, soc=71.25, consumed_ah=-80.5), address=MAC)
    bluez.add_peripheral(peripheral)
    cfg = parse_config(f"""
batteries:
  - type: jk-nw
    port: {server.link}
    poll_interval: 0.2
    charge: {{stale_after: 2.0}}
    borrow:
      - type: smartshunt-ble
        address: {MAC}
        timeout: 1.0
""").batteries[0]
    device = create_device(cfg)
    yield jk, peripheral, device
    await device.close()
    server.stop()


async def lent(device: BorrowingDevice, text: str):
    loop = asyncio.get_running_loop()
    end = loop.time() + 15.0
    while (sample := await device.poll()).sources != text:
        assert loop.time() < end, f"never lent as {text!r}; last {sample.sources!r}"
        await asyncio.sleep(0.1)
    return sample


async def test_the_shunt_lends_current_soc_and_consumed_ah_and_the_bms_keeps_its_capacity(rig):
    jk, peripheral, device = rig
    name = f"smartshunt-ble {MAC}"
    sample = await lent(device, f"current: {name}; soc: {name}; consumed_ah: {name}; rest: jk-nw")
    own = jk.pack.sample()
    assert sample.cell_voltages == jk.pack.cell_voltages() and sample.voltage == own.voltage
    assert sample.soc == 71.25 and sample.consumed_ah == -80.5
    assert sample.current == pytest.approx(19.6, abs=0.003)
    assert sample.capacity_full == own.capacity_full  # the shunt knows no capacity
    assert sample.capacity_remaining == pytest.approx(own.capacity_full - 80.5)


async def test_a_shunt_current_of_opposite_sign_is_refused_for_that_reading(rig, caplog):
    jk, peripheral, device = rig
    name = f"smartshunt-ble {MAC}"
    agreeing = f"current: {name}; soc: {name}; consumed_ah: {name}; rest: jk-nw"
    await lent(device, agreeing)
    caplog.set_level(logging.INFO, logger="dbus_bms.devices.borrowing")
    peripheral.readings.current = -19.6  # a shunt wired the other way round
    why = f"jk-nw ({name} current of opposite sign)"
    sample = await lent(device, f"current: {why}; soc: {why}; consumed_ah: {why}; rest: jk-nw")
    own = jk.pack.sample()
    assert (sample.current, sample.soc, sample.consumed_ah) == (own.current, own.soc, None)
    assert sample.capacity_remaining == pytest.approx(own.capacity_remaining, abs=1)  # at the JK's resolution
    for _ in range(2):
        assert (await device.poll()).current == own.current
    assert sum("opposite signs" in r.getMessage() for r in caplog.records) == 1
    # Near zero the signs may differ: no refusal.
    peripheral.readings.current = -0.4
    await lent(device, agreeing)
    assert any("agrees in sign" in r.getMessage() for r in caplog.records)


def test_scan_takes_victrons_company_id_or_the_gatt_service_for_a_shunt():
    assert guess_type("SmartShunt HQ2242ABCDE", [], {victron_gatt.MANUFACTURER_ID: b"\x10"}) == "smartshunt-ble"
    assert guess_type(None, [victron_gatt.SERVICE_UUID.upper()], {}) == "smartshunt-ble"


def test_a_shunt_is_no_battery_of_its_own():
    with pytest.raises(ConfigError) as caught:
        parse_config(f"batteries:\n  - type: smartshunt-ble\n    address: {MAC}\n")
    assert any(e.key == "batteries[0].type" and e.line == 2 and "no battery of its own" in e.message
               for e in caught.value.errors)


async def test_a_value_out_of_its_window_is_refused_by_the_reading_judge(shunt):
    from dbus_bms.devices.base import RejectedReading

    peripheral, device = shunt
    d = device()
    peripheral.readings.soc = 600.0  # 0xEA60 in 0.01 %: a field no shunt can report
    with pytest.raises(RejectedReading, match="soc = 600 % is outside 0..100 %"):
        await d.poll()
    assert d.stats.bad_frames == 1
    peripheral.readings.soc, peripheral.readings.consumed_ah = 50.0, 12.0  # a count above full
    with pytest.raises(RejectedReading, match="consumed Ah = 12.0 Ah is outside"):
        await d.poll()
    peripheral.readings.consumed_ah = -12.0
    assert (await d.poll()).consumed_ah == -12.0


async def test_a_hanging_bluetoothd_fails_the_poll_within_its_deadline(shunt, bluez):
    peripheral, device = shunt
    d = device()
    await d.poll()
    bluez.hang(only={"ReadValue"})
    try:
        # The read that never answers ends with the poll's own bound, counted as a timeout.
        with pytest.raises(DeviceError):
            await d.poll()
        assert d.stats.timeouts == 1
    finally:
        bluez.resume()
    await until(lambda: not bluez.held(), "the held calls answered")
