"""The Seplos v2 device over the real serial transport against the pty simulator, and once through
a simulated RS485-TCP gateway."""

from __future__ import annotations

import pytest

from dbus_bms.config import parse_config
from dbus_bms.devices.base import ControlUnsupported
from dbus_bms.devices.registry import create_device
from dbus_bms.devices.seplos import SeplosDevice
from dbus_bms.protocols import seplos
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.seplos import SeplosSimulator
from dbus_bms.sim.tcp_server import TcpServer


@pytest.fixture
async def rig(serial_line):
    """(simulator, its pty server, the device on that pty)."""
    return serial_line("seplos")


async def test_poll_reads_what_the_pack_holds(rig):
    sim, _, device = rig
    sim.pack.current_override = -12.5
    sim.pack.advance(1.0)
    expected = sim.pack.sample()
    sample = await device.poll()
    assert sample.cell_voltages == pytest.approx(expected.cell_voltages, abs=0.0005)
    assert sample.current == pytest.approx(-12.5, abs=0.01)
    assert sample.voltage == pytest.approx(expected.voltage, abs=0.01)
    assert sample.soc == pytest.approx(expected.soc, abs=0.05)
    assert sample.capacity_full == pytest.approx(expected.capacity_full)
    assert sample.temperatures == expected.temperatures
    assert sample.mosfet_temperature == expected.mosfet_temperature
    assert (sample.charge_enabled, sample.discharge_enabled) == (True, True)
    assert sample.alarms == {} and sample.conditions == ()
    assert (sample.device.model, sample.device.sw_version) == ("1101-SP16", "2.8")
    assert device.stats.good == 1 and device.stats.quality == 1.0
    # The name is asked once; telemetry and alarms every poll.
    await device.poll()
    assert sim.requests == {seplos.CMD_DEVICE_NAME: 1, seplos.CMD_TELEMETRY: 2, seplos.CMD_ALARMS: 2}


async def test_alarms_of_the_bms_reach_the_sample(rig):
    sim, _, device = rig
    sim.alarms = {"HighCellVoltage": 2, "LowSoc": 1}
    sample = await device.poll()
    assert sample.alarms == {"HighCellVoltage": 2, "LowSoc": 1}
    assert sample.conditions == ("cell over-voltage protection", "remaining capacity alarm")


async def test_a_bms_that_does_not_answer_its_name_is_read_without_it(rig):
    sim, _, device = rig
    sim.device.model = None  # stands for firmware without 0x51: the simulator then refuses it
    real_reply = sim.reply
    sim.reply = lambda command: seplos.build_frame(0x04) if command == seplos.CMD_DEVICE_NAME else real_reply(command)
    for _ in range(3):
        sample = await device.poll()
    assert sample.device.model is None and sample.cell_voltages
    assert sim.requests[seplos.CMD_DEVICE_NAME] == 1  # a refusal is not asked again


async def test_control_is_refused_without_sending(rig):
    sim, _, device = rig
    for which in ("charge", "discharge", "balance"):
        with pytest.raises(ControlUnsupported):
            await device.switch(which, False)
    assert sim.requests == {}


async def test_config_builds_it_at_19200_baud_and_reads_through_a_gateway():
    sim = SeplosSimulator(SimPack(cells=15, seed=4))
    server = TcpServer(sim, advance=False)
    server.start()
    cfg = parse_config(f"batteries:\n  - type: seplos\n    port: {server.address}\n").batteries[0]
    assert cfg.baudrate == 19200
    device = create_device(cfg)
    try:
        assert isinstance(device, SeplosDevice)
        sample = await device.poll()
        assert len(sample.cell_voltages) == 15
        assert device.connection == f"TCP 127.0.0.1:{server.port}"
    finally:
        await device.close()
        server.stop()
