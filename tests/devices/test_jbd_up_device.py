"""JBD UP series packs daisy-chained on one RS485 bus: the real serial transport against the
simulated bus on a pty."""

from __future__ import annotations

import asyncio

import pytest

from dbus_bms.config import parse_config
from dbus_bms.devices.base import DeviceError
from dbus_bms.devices.jbd_up import JbdUpDevice
from dbus_bms.devices.registry import create_device
from dbus_bms.model import ALARM_ALARM, ALARM_WARNING
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.jbd_up import MODEL, JbdUpBus
from dbus_bms.sim.pty_server import PtyServer


@pytest.fixture
async def served(tmp_path):
    servers = []

    def serve(bus: JbdUpBus) -> str:
        server = PtyServer(bus, link=str(tmp_path / f"ttyUP{len(servers)}"), advance=False)
        servers.append(server)
        return server.start()

    yield serve
    for server in servers:
        server.stop()


@pytest.mark.parametrize("echo", [False, True], ids=["plain", "echoing adapter"])
async def test_packs_on_one_port_each_read_their_own_values_and_a_silent_one_fails_alone(served, echo):
    bus = JbdUpBus((1, 2, 3), echo=echo)
    for address, current in ((1, -20.0), (2, 4.5), (3, 0.0)):
        bus.packs[address].pack.current_override = current
        bus.packs[address].pack.advance(1.0)
    bus.packs[2].alarms = {"HighCellVoltage": ALARM_ALARM, "LowSoc": ALARM_WARNING}
    port = served(bus)
    cfg = parse_config("batteries:\n" + "".join(f"  - {{type: jbd-up, port: {port}, address: {a}}}\n" for a in (1, 2, 3)))
    devices = [create_device(b) for b in cfg.batteries]
    try:
        assert all(isinstance(d, JbdUpDevice) for d in devices) and cfg.batteries[0].baudrate == 9600
        samples = await asyncio.gather(*(d.poll() for d in devices))
        for address, sample in zip((1, 2, 3), samples):
            expected = bus.packs[address].pack.sample()
            assert sample.cell_voltages == pytest.approx(expected.cell_voltages, abs=0.0005)
            assert sample.current == pytest.approx(expected.current, abs=0.01)
            assert sample.device.model == MODEL
        assert samples[1].alarms == {"HighCellVoltage": ALARM_ALARM, "LowSoc": ALARM_WARNING}
        assert [d.fallback_id for d in devices] == [f"jbd-up_{port}_{a}" for a in (1, 2, 3)]
        assert all(d.stats.bad_frames == 0 for d in devices)

        bus.packs[3].fault = Fault.SILENT
        results = await asyncio.gather(*(d.poll() for d in devices), return_exceptions=True)
        assert isinstance(results[2], DeviceError) and "pack 3" in str(results[2])
        assert results[0].cell_voltages and results[1].cell_voltages
        bus.packs[3].fault = Fault.NONE
        assert (await devices[2].poll()).cell_voltages
    finally:
        for device in devices:
            await device.close()


@pytest.mark.parametrize("fault", [Fault.GARBAGE, Fault.BAD_CHECKSUM, Fault.TRUNCATED])
async def test_a_damaged_reply_fails_one_poll_counted_and_the_next_reads(served, fault):
    bus = JbdUpBus((4,))
    device = JbdUpDevice(served(bus), 4, timeout=0.3)
    try:
        await device.poll()
        bus.fault = fault
        with pytest.raises(DeviceError):
            await device.poll()
        assert device.stats.bad_frames + device.stats.timeouts >= 1
        bus.fault = Fault.NONE
        assert (await device.poll()).cell_voltages
    finally:
        await device.close()
