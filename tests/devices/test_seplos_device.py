"""The Seplos v2 device over the real serial transport against the pty simulator, once through a
simulated RS485-TCP gateway, and several packs on one port."""

from __future__ import annotations

import asyncio

import pytest

from dbus_bms.config import ConfigError, parse_config
from dbus_bms.devices.base import ControlUnsupported, DeviceError
from dbus_bms.devices.registry import create_device
from dbus_bms.devices.seplos import SeplosDevice
from dbus_bms.protocols import seplos
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.pty_server import PtyServer
from dbus_bms.sim.seplos import SeplosBus, SeplosSimulator
from dbus_bms.sim.tcp_server import TcpServer
from tests.serial_families import assert_reads_the_pack


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
    assert_reads_the_pack(sample, expected, soc=0.05)
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


@pytest.mark.parametrize("echo", [False, True], ids=["plain", "echoing adapter"])
async def test_packs_on_one_port_are_read_each_at_its_address(tmp_path, echo):
    bus = SeplosBus((0, 1, 5), echo=echo)
    for address, current in ((0, -4.0), (1, 7.5), (5, 0.0)):
        bus.packs[address].pack.current_override = current
        bus.packs[address].pack.advance(1.0)
    server = PtyServer(bus, link=str(tmp_path / "ttySeplos"), advance=False)
    port = server.start()
    # The pack at 0 configured as before, without an address; the others with theirs.
    devices = [SeplosDevice(port, timeout=0.3), SeplosDevice(port, 1, timeout=0.3), SeplosDevice(port, 5, timeout=0.3)]
    try:
        samples = await asyncio.gather(*(d.poll() for d in devices))
        for address, sample in zip((0, 1, 5), samples):
            assert sample.cell_voltages == pytest.approx(bus.packs[address].pack.sample().cell_voltages, abs=0.0005)
            assert sample.current == pytest.approx(bus.packs[address].pack.current, abs=0.01)
        assert [d.connection for d in devices] == [f"Serial {port}", f"Serial {port} address 1", f"Serial {port} address 5"]
        assert [d.fallback_id for d in devices] == [f"seplos_{port}", f"seplos_{port}_1", f"seplos_{port}_5"]
        assert all(d.stats.bad_frames == 0 for d in devices)

        bus.packs[1].fault = Fault.SILENT
        results = await asyncio.gather(*(d.poll() for d in devices), return_exceptions=True)
        assert isinstance(results[1], DeviceError) and "pack 1" in str(results[1])
        assert results[0].cell_voltages and results[2].cell_voltages
    finally:
        for device in devices:
            await device.close()
        server.stop()


def test_a_port_of_packs_in_the_config():
    text = ("batteries:\n  - type: seplos\n    port: /dev/ttyUSB0\n  - type: seplos\n    port: /dev/ttyUSB0\n    address: 1\n"
            "  - type: seplos\n    port: /dev/ttyUSB1\n")
    one, two, alone = parse_config(text).batteries
    assert (one.address, one.alias, two.address, two.alias, alone.alias) == (None, "ttyUSB0", "1", "ttyUSB0_1", "ttyUSB1")
    with pytest.raises(ConfigError) as caught:
        parse_config(text + "  - type: seplos\n    port: /dev/ttyUSB0\n    address: 0\n")
    assert "0 is already the address of the battery on line 2 on this port" in str(caught.value)
    with pytest.raises(ConfigError, match="16 is not a pack's address: 0-15 as its DIP switches set it"):
        parse_config("batteries:\n  - type: seplos\n    port: /dev/ttyUSB0\n    address: 16\n")
