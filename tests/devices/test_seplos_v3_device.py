"""Seplos v3 packs on one RS485 bus: the real serial transport against the simulated bus on a pty."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from dbus_bms.config import ConfigError, parse_config
from dbus_bms.devices import seplos_v3 as v3_device
from dbus_bms.devices.base import DeviceError
from dbus_bms.devices.seplos_v3 import SeplosV3Device
from dbus_bms.model import ALARM_ALARM
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.pty_server import PtyServer
from dbus_bms.sim.seplos_v3 import SeplosV3Bus


@pytest.fixture
async def served(tmp_path):
    """Serves a bus on a pty; yields a function that starts one and returns its port."""
    servers = []

    def serve(bus: SeplosV3Bus) -> str:
        server = PtyServer(bus, link=str(tmp_path / f"ttyV3{len(servers)}"), advance=False)
        servers.append(server)
        return server.start()

    yield serve
    for server in servers:
        server.stop()


async def close_all(devices):
    for device in devices:
        await device.close()


@pytest.mark.parametrize("echo", [False, True], ids=["plain", "echoing adapter"])
async def test_two_packs_on_one_port_each_read_their_own_values_identity_and_settings(served, echo):
    bus = SeplosV3Bus((1, 2), echo=echo)
    for address, current in ((1, -12.5), (2, 30.0)):
        bus.packs[address].pack.current_override = current
        bus.packs[address].pack.advance(1.0)
    bus.packs[2].alarms = {"HighCellVoltage": ALARM_ALARM}
    bus.packs[2].settings = replace(bus.packs[2].settings, max_charge_current=55.0)
    port = served(bus)
    devices = [SeplosV3Device(port, address) for address in (1, 2)]
    try:
        for _ in range(2):
            samples = await asyncio.gather(*(d.poll() for d in devices))
            for device, sample in zip(devices, samples):
                pack = bus.packs[device.address]
                expected = pack.sample()
                assert sample.cell_voltages == pytest.approx(expected.cell_voltages, abs=0.0005)
                assert sample.current == expected.current and sample.voltage == pytest.approx(expected.voltage, abs=0.01)
                assert sample.device.serial == pack.device.serial
                assert len(sample.temperatures) == 2  # the sensors the pack's settings count
        assert samples[1].alarms == {"HighCellVoltage": ALARM_ALARM} and samples[0].alarms == {}
        assert [s.bms_settings.max_charge_current for s in samples] == [110.0, 55.0]
        for device in devices:
            assert (device.stats.bad_frames, device.stats.timeouts) == (0, 0)
            assert device.connection == f"Serial {port} address {device.address}"
        # Version and settings once, then three blocks a poll.
        assert bus.requests == {1: 8, 2: 8}
    finally:
        await close_all(devices)


async def test_a_silent_pack_fails_its_own_poll_only_and_comes_back(served):
    bus = SeplosV3Bus((1, 2))
    port = served(bus)
    devices = [SeplosV3Device(port, address, timeout=0.2) for address in (1, 2)]
    try:
        await asyncio.gather(*(d.poll() for d in devices))
        bus.packs[1].fault = Fault.SILENT
        first, second = await asyncio.gather(*(d.poll() for d in devices), return_exceptions=True)
        assert isinstance(first, DeviceError) and "no PIA reply from pack 1" in str(first)
        assert second.cell_voltages and devices[1].stats.timeouts == 0
        assert devices[0].stats.timeouts == 1
        bus.packs[1].fault = Fault.NONE
        assert (await devices[0].poll()).cell_voltages
    finally:
        await close_all(devices)


@pytest.mark.parametrize("fault", [Fault.GARBAGE, Fault.BAD_CHECKSUM, Fault.TRUNCATED])
async def test_a_damaged_reply_fails_one_poll_counted_and_the_next_reads(served, fault):
    bus = SeplosV3Bus((3,))
    port = served(bus)
    device = SeplosV3Device(port, 3, timeout=0.2)
    try:
        await device.poll()
        bus.fault = fault
        with pytest.raises(DeviceError):
            await device.poll()
        stats = device.stats
        assert stats.bad_frames + stats.timeouts >= 1
        if fault is Fault.BAD_CHECKSUM:
            assert stats.bad_frames >= 1
        bus.fault = Fault.NONE
        assert (await device.poll()).cell_voltages
    finally:
        await device.close()


async def test_a_pack_without_the_version_block_is_known_by_port_and_address(served):
    bus = SeplosV3Bus((4,))
    bus.packs[4].refuses = {"VIA"}
    port = served(bus)
    device = SeplosV3Device(port, 4)
    try:
        sample = await device.poll()
        assert sample.cell_voltages and sample.device.serial is None
        assert device.fallback_id == f"seplos-v3_{port}_4"
        await device.poll()
        assert bus.requests[4] == 1 + 1 + 2 * 3  # the version block is not asked again
    finally:
        await device.close()


async def test_settings_are_read_again_after_their_period(served, monkeypatch):
    bus = SeplosV3Bus((1,))
    port = served(bus)
    device = SeplosV3Device(port, 1)
    try:
        await device.poll()
        assert device.settings.protections.max_charge_current == 110.0
        bus.packs[1].settings = replace(bus.packs[1].settings, max_charge_current=80.0)
        await device.poll()
        assert device.settings.protections.max_charge_current == 110.0
        monkeypatch.setattr(v3_device, "SETTINGS_EVERY", 0.0)
        assert (await device.poll()).bms_settings.max_charge_current == 80.0
    finally:
        await device.close()


def test_an_address_outside_the_bus_is_refused():
    with pytest.raises(ValueError, match="not 0-15"):
        SeplosV3Device("/dev/ttyUSB0", 16)


def test_the_config_takes_packs_of_one_bus_at_their_addresses():
    text = "batteries:\n  - {type: seplos-v3, port: /dev/ttyUSB0, address: 0}\n  - {type: seplos-v3, port: /dev/ttyUSB0, address: 2}\n"
    first, second = parse_config(text).batteries
    assert (first.alias, second.alias, first.baudrate, first.timeout) == ("ttyUSB0_0", "ttyUSB0_2", 19200, 0.4)
    bad = ("batteries:\n  - {type: seplos-v3, port: /dev/ttyUSB1}\n  - {type: seplos-v3, port: /dev/ttyUSB0, address: 16}\n"
           "  - {type: seplos-v3, port: /dev/ttyUSB2, address: 1, listen: true}\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(bad)
    text = str(caught.value)
    assert "missing: the pack's RS485 address, as its DIP switches set it (0-15)" in text
    assert "16 is not a pack's address: 0-15 as its DIP switches set it" in text and "with listen: true" not in text
    assert "not used by type 'seplos-v3'" in text


async def test_a_large_boards_current_is_read_in_its_own_unit_when_the_config_names_the_board(served):
    # Boards of 300 A and 400 A count the current in 0.1 A; their frames do not say so.
    bus = SeplosV3Bus((1,))
    bus.packs[1].current_unit = 0.1
    bus.packs[1].pack.current_override = 250.0
    bus.packs[1].pack.advance(1.0)
    port = served(bus)
    large, default = SeplosV3Device(port, 1, protocol="400a"), SeplosV3Device(port, 1)
    try:
        assert (await large.poll()).current == 250.0
        assert (await default.poll()).current == 25.0  # what a board left at the default shows
    finally:
        await close_all([large, default])
    with pytest.raises(ValueError, match="choices: 200a, 400a"):
        SeplosV3Device(port, 1, protocol="300")
