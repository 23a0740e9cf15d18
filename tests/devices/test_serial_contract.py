"""What every BMS on a serial line promises, family by family, over the real serial transport
against each family's pty simulator: a fault is one failed poll, counted, and the next poll reads
again; garbage is counted, never taken for a reading; an unplugged port fails cleanly and a replug
recovers; a reading out of its window is refused by the one reading judge."""

from __future__ import annotations

import pytest

from dbus_bms.devices.base import DeviceError, RejectedReading
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


@pytest.mark.parametrize(
    "volts, problem", [(6.0, "cell 1 = 6.000 V is outside 0.5..5.0 V"), (0.2, "cell 1 = 0.200 V is outside 0.5..5.0 V")]
)
async def test_a_reading_out_of_its_window_is_refused_before_anyone_sees_it(line, volts, problem):
    # The BMS answers, well framed and checksummed, with a cell no pack can have: every family's
    # poll goes through the one reading judge, which refuses it and counts it as a bad frame.
    # (Integer protocols cannot carry a NaN; the float and NaN cases are fuzzed on the JK codecs.)
    sim, _, device = line
    assert (await device.poll()).cell_voltages
    honest = sim.pack.cell_voltages
    sim.pack.cell_voltages = lambda: [volts, *honest()[1:]]
    with pytest.raises(RejectedReading) as refused:
        await device.poll()
    assert problem in str(refused.value)
    assert device.stats.bad_frames == 1
    sim.pack.cell_voltages = honest
    assert (await device.poll()).cell_voltages
