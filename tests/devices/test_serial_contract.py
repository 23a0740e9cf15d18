"""What every BMS on a serial line promises, family by family, over the real serial transport
against each family's pty simulator: a fault is one failed poll, counted, and the next poll reads
again; garbage is counted, never taken for a reading; an unplugged port fails cleanly and a replug
recovers."""

from __future__ import annotations

import pytest

from dbus_bms.devices.base import DeviceError
from dbus_bms.sim.faults import Fault
from tests.serial_families import FAMILIES


@pytest.fixture(params=list(FAMILIES))
async def line(request, serial_line):
    """(simulator, its pty server, the device on that pty) for each family."""
    return serial_line(request.param)


@pytest.mark.parametrize(
    "fault, counter",
    [(Fault.SILENT, "timeouts"), (Fault.BAD_CHECKSUM, "bad_frames"), (Fault.TRUNCATED, "timeouts")],
)
async def test_a_fault_fails_one_poll_counted_and_the_next_reads_again(line, fault, counter):
    sim, _, device = line
    sim.fault = fault
    with pytest.raises(DeviceError):
        await device.poll()
    assert getattr(device.stats, counter) >= 1
    assert device.stats.quality == 0.0
    sim.fault = Fault.NONE
    assert (await device.poll()).cell_voltages
    assert device.stats.quality == 0.5


async def test_garbage_is_counted_and_the_next_poll_reads_again(line):
    sim, _, device = line
    sim.fault = Fault.GARBAGE
    for _ in range(4):
        with pytest.raises(DeviceError):
            await device.poll()
    assert device.stats.discarded_bytes + device.stats.bad_frames > 0
    sim.fault = Fault.NONE
    assert (await device.poll()).cell_voltages


async def test_an_unplugged_port_fails_cleanly_and_a_replug_recovers(line):
    _, server, device = line
    await device.poll()
    server.stop()
    with pytest.raises(DeviceError):
        await device.poll()
    with pytest.raises(DeviceError, match="cannot open"):
        await device.poll()
    server.start()
    assert (await device.poll()).cell_voltages
    assert device.stats.link_errors >= 2
