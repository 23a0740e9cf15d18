"""The Daly device over the real serial transport against the pty simulator, once over TCP, and
its MOS control read back."""

from __future__ import annotations

import pytest

from dbus_bms.config import parse_config
from dbus_bms.devices.base import ControlFailed
from dbus_bms.devices.daly import DalyDevice
from dbus_bms.devices.registry import DEVICE_TYPES, create_device
from dbus_bms.sim.daly import DalySimulator
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.tcp_server import TcpServer


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
    assert sample.cell_voltages == pytest.approx(expected.cell_voltages, abs=0.0005)
    assert sample.temperatures == [round(t) for t in expected.temperatures]
    assert sample.current == pytest.approx(-12.5, abs=0.05)
    assert sample.voltage == pytest.approx(expected.voltage, abs=0.05)
    assert sample.soc == pytest.approx(expected.soc, abs=0.05)
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
