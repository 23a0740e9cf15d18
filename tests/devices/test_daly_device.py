"""The Daly device over the real serial transport against the pty simulator, once over TCP, its
MOS control and SoC write read back; and over Bluetooth LE, both of Daly's modules (classic and
Modbus) through the real bleak and the fake BlueZ."""

from __future__ import annotations

from datetime import datetime

import pytest

from dbus_bms.config import parse_config
from dbus_bms.devices.base import ControlFailed, ControlUnsupported, DeviceError
from dbus_bms.devices.daly import DalyDevice
from dbus_bms.devices.daly_ble import DalyBleDevice
from dbus_bms.devices.registry import DEVICE_TYPES, create_device
from dbus_bms.protocols import daly
from dbus_bms.sim.daly import DalySimulator, daly_ble_module
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.tcp_server import TcpServer
from tests.serial_families import assert_reads_the_pack


@pytest.fixture
async def rig(serial_line):
    """(simulator, its pty server, the device on that pty)."""
    return serial_line("daly")


def test_daly_is_a_serial_type_at_9600_baud():
    kind = DEVICE_TYPES["daly"]
    assert (kind.link, kind.baudrate) == ("serial", 9600)


def test_a_daly_line_runs_at_9600_baud_unless_the_config_says_otherwise():
    config = parse_config("batteries:\n  - type: daly\n    port: /dev/ttyUSB0\n  - type: daly\n    port: /dev/ttyUSB1\n"
                          "    baudrate: 19200\n")
    assert [b.baudrate for b in config.batteries] == [9600, 19200]
    assert create_device(config.batteries[0]).transport.baudrate == 9600


async def test_poll_reads_what_the_pack_holds(rig):
    sim, _, device = rig
    sim.pack.current_override = -12.5
    sim.pack.advance(1.0)
    expected = sim.pack.sample()
    sample = await device.poll()
    assert_reads_the_pack(sample, expected, resolution=0.05, soc=0.05)
    assert sample.temperatures == [round(t) for t in expected.temperatures]
    assert sample.capacity_remaining == pytest.approx(expected.capacity_remaining, abs=0.001)
    assert sample.cycles == expected.cycles
    assert (sample.charge_enabled, sample.discharge_enabled) == (True, True)
    assert sample.conditions == () and sample.alarms == {}
    # One request per command of the poll; the 13 surplus cell frames did not count as junk.
    assert sim.requests == 7
    assert device.stats.good == 1 and device.stats.bad_frames == 0 and device.stats.discarded_bytes == 0


async def test_alarm_bits_reach_the_sample(rig):
    sim, _, device = rig
    sim.failures = 1 << 1 | 1 << 22  # cell over-voltage level 2, SoC too low level 1
    sample = await device.poll()
    assert sample.alarms == {"HighCellVoltage": 2, "LowSoc": 1}
    top = sample.cell_voltages.index(max(sample.cell_voltages)) + 1
    assert sample.conditions == (f"cell over-voltage, level 2, cell {top}", "SoC too low, level 1")


@pytest.mark.parametrize("which", ["charge", "discharge"])
async def test_switching_a_mos_changes_the_bms_and_reads_back(rig, which):
    sim, _, device = rig
    sample = await device.switch(which, False)
    assert sim.switches[which] is False and sample.switches[which] is False
    assert getattr(sample, f"{which}_enabled") is False
    other = "discharge" if which == "charge" else "charge"
    assert sample.switches[other] is True
    sample = await device.switch(which, True)
    assert sim.switches[which] is True and sample.switches[which] is True


async def test_a_switch_the_bms_did_not_take_fails_with_its_reading(rig):
    sim, _, device = rig
    sim.takes_writes = False
    with pytest.raises(ControlFailed, match="still reads on") as caught:
        await device.switch("charge", False)
    assert caught.value.sample.cell_voltages and sim.writes == 1


async def test_balancer_is_not_switchable(rig):
    _, _, device = rig
    assert not device.can_switch("balance")


async def test_poll_over_a_tcp_gateway():
    sim = DalySimulator(SimPack(cells=8, seed=5), cell_frames=3)
    server = TcpServer(sim)
    server.start()
    device = DalyDevice(server.address, timeout=0.5)
    try:
        sample = await device.poll()
        assert len(sample.cell_voltages) == 8
        assert device.connection.startswith("TCP ")
    finally:
        await device.close()
        server.stop()


# The SoC write (0x21), on the serial line.


async def test_setting_the_soc_reaches_the_bms_with_its_clock_and_reads_back(rig):
    sim, _, device = rig
    when = datetime(2026, 12, 2, 3, 4, 5)
    sample = await device.set_soc(100, when)
    assert sim.soc == 100 and sample.soc == 100 and sim.clock == when
    sample = await device.set_soc(37.5, when)
    assert sample.soc == pytest.approx(37.5, abs=0.1) and sim.writes == 2


async def test_a_soc_the_bms_refuses_fails_and_one_out_of_range_is_not_sent(rig):
    sim, _, device = rig
    sim.takes_writes = False
    with pytest.raises(DeviceError, match="refused the SoC"):
        await device.set_soc(80, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="0-100"):
        await device.set_soc(101, datetime(2026, 1, 1))
    assert sim.writes == 1 and sim.soc_offset is None


# Over Bluetooth LE, through the real bleak and the fake BlueZ.


def ble_device(peripheral, protocol: str | None = None) -> DalyBleDevice:
    return create_device(parse_config(
        f"batteries:\n  - type: daly-ble\n    address: {peripheral.address}\n    timeout: 0.5\n"
        + (f"    protocol: {protocol}\n" if protocol else "")).batteries[0])


@pytest.fixture
async def on_ble(bluez):
    """A function: protocol → (simulated module on the fake BlueZ, the device reading it)."""
    opened = []

    def make(protocol: str, *, forced: str | None = None, cells: int = 16):
        peripheral = daly_ble_module(len(opened), cells=cells, seed=11, protocol=protocol)
        bluez.add_peripheral(peripheral)
        device = ble_device(peripheral, forced)
        opened.append(device)
        return peripheral, device

    yield make
    for device in opened:
        await device.close()


@pytest.mark.parametrize("protocol", ["classic", "modbus"])
async def test_auto_finds_the_module_s_protocol_reads_it_and_keeps_it(on_ble, protocol):
    peripheral, device = on_ble(protocol, cells=8)
    expected = peripheral.bms.pack.sample()
    sample = await device.poll()
    assert device.protocol == protocol and device.connection.startswith(f"BLE {peripheral.address}")
    assert sample.cell_voltages == pytest.approx(expected.cell_voltages, abs=0.0005)
    assert sample.voltage == pytest.approx(expected.voltage, abs=0.05)
    assert sample.soc == pytest.approx(expected.soc, abs=0.05)
    assert sample.temperatures == [round(t) for t in expected.temperatures]
    assert (sample.charge_enabled, sample.discharge_enabled) == (True, True)
    asked = len(peripheral.writes)
    await device.poll()
    # The second poll asks in the protocol found only: a classic poll is 7 requests, a Modbus one
    # (its versions known) 2.
    assert len(peripheral.writes) - asked == (7 if protocol == "classic" else 2)
    assert device.stats.good == 2 and device.stats.bad_frames == 0


async def test_classic_requests_over_ble_carry_the_ble_host_address(on_ble):
    peripheral, device = on_ble("classic", forced="classic")
    await device.poll()
    requests = [data for _, data in peripheral.writes]
    assert {r[1] for r in requests} == {daly.BLE_HOST_ADDRESS}
    assert requests[0] == daly.build_request(daly.PACK, address=daly.BLE_HOST_ADDRESS)


async def test_the_modbus_module_s_versions_and_mosfet_temperature_are_read(on_ble):
    peripheral, device = on_ble("modbus", forced="modbus")
    sample = await device.poll()
    assert sample.device.sw_version == peripheral.bms.sw_version
    assert sample.device.hw_version == peripheral.bms.hw_version
    assert sample.mosfet_temperature == round(peripheral.bms.pack.mosfet_temperature)
    assert peripheral.bms.requests == {0x0000: 1, 0x003E: 1, 0x00A9: 1}


@pytest.mark.parametrize("protocol", ["classic", "modbus"])
@pytest.mark.parametrize("which", ["charge", "discharge"])
async def test_a_mos_switched_over_ble_changes_the_bms_and_reads_back(on_ble, protocol, which):
    peripheral, device = on_ble(protocol, forced=protocol)
    sample = await device.switch(which, False)
    assert peripheral.bms.switches[which] is False and sample.switches[which] is False
    assert getattr(sample, f"{which}_enabled") is False
    sample = await device.switch(which, True)
    assert peripheral.bms.switches[which] is True and sample.switches[which] is True


async def test_a_modbus_write_the_bms_ignores_fails_with_its_reading(on_ble):
    peripheral, device = on_ble("modbus", forced="modbus")
    peripheral.bms.takes_writes = False
    with pytest.raises(ControlFailed, match="still reads on"):
        await device.switch("charge", False)
    assert peripheral.bms.writes == 1


async def test_nothing_is_switched_nor_set_before_a_poll_found_the_protocol(on_ble):
    peripheral, device = on_ble("modbus")
    assert not device.can_switch("charge")
    with pytest.raises(ControlUnsupported):
        await device.switch("charge", False)
    with pytest.raises(ControlUnsupported, match="no poll has found it yet"):
        await device.set_soc(50, datetime(2026, 1, 1))
    await device.poll()
    assert device.can_switch("charge") and not device.can_switch("balance")
    with pytest.raises(ControlUnsupported, match="answers in the Modbus protocol"):
        await device.set_soc(50, datetime(2026, 1, 1))
    assert peripheral.bms.writes == 0


async def test_the_soc_is_set_over_the_classic_module(on_ble):
    peripheral, device = on_ble("classic", forced="classic")
    sample = await device.set_soc(64, datetime(2026, 6, 1, 12, 0, 0))
    assert sample.soc == 64 and peripheral.bms.soc == 64


async def test_a_soc_the_bms_says_it_took_but_does_not_show_fails_with_its_reading(on_ble):
    peripheral, device = on_ble("classic", forced="classic")
    # A BMS that answers "taken" and keeps counting from its own SoC.
    peripheral.bms._set_soc = lambda frame: daly.build_frame(daly.BMS_ADDRESS, daly.SET_SOC, b"\x01")
    with pytest.raises(ControlFailed, match="after setting it to 3 %") as caught:
        await device.set_soc(3, datetime(2026, 6, 1))
    assert caught.value.sample.soc == peripheral.bms.soc != 3


@pytest.mark.parametrize("protocol", ["classic", "modbus"])
async def test_replies_cut_anywhere_still_read_and_a_damaged_one_fails_one_poll(on_ble, protocol):
    peripheral, device = on_ble(protocol, forced=protocol)
    peripheral.split = True
    await device.poll()
    peripheral.bms.fault = Fault.BAD_CHECKSUM
    with pytest.raises(DeviceError):
        await device.poll()
    assert device.stats.bad_frames >= 1
    peripheral.bms.fault = Fault.NONE
    await device.poll()
    assert device.stats.good == 2


async def test_a_module_that_answers_neither_protocol_is_asked_again_next_poll(on_ble):
    peripheral, device = on_ble("modbus")
    peripheral.bms.fault = Fault.SILENT
    with pytest.raises(DeviceError):
        await device.poll()
    assert device.protocol is None
    peripheral.bms.fault = Fault.NONE
    await device.poll()
    assert device.protocol == "modbus"


def test_the_ble_protocol_is_chosen_in_the_config_and_checked():
    config = parse_config("batteries:\n  - type: daly-ble\n    address: DL-1234\n    protocol: classic\n")
    assert config.batteries[0].protocol == "classic"
    assert DEVICE_TYPES["daly-ble"].protocols == ("auto", "classic", "modbus")
    with pytest.raises(ValueError, match="unknown Daly protocol"):
        DalyBleDevice("DL-1234", protocol="a5")
