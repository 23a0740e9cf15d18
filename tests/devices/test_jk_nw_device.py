"""The JK NW device over the real serial transport against the pty simulator."""

from __future__ import annotations

import asyncio

import pytest

from dbus_bms.devices.base import DeviceError
from dbus_bms.sim.faults import Fault


async def test_poll_reads_what_the_pack_holds(rig):
    sim, _, device = rig
    sim.pack.current_override = -12.5
    sim.pack.advance(1.0)
    expected = sim.pack.sample()
    sample = await device.poll()
    assert sample.cell_voltages == pytest.approx(expected.cell_voltages, abs=0.0005)
    assert sample.current == pytest.approx(-12.5, abs=0.01)
    assert sample.voltage == pytest.approx(expected.voltage, abs=0.01)
    assert sample.soc == expected.soc
    assert sample.device.serial == "JKSIM42"
    assert device.stats.good == 1 and device.stats.quality == 1.0


@pytest.mark.parametrize(
    "fault, counter",
    [(Fault.SILENT, "timeouts"), (Fault.BAD_CHECKSUM, "bad_frames"), (Fault.TRUNCATED, "timeouts")],
)
async def test_faults_raise_device_error_and_are_counted(rig, fault, counter):
    sim, _, device = rig
    sim.fault = fault
    with pytest.raises(DeviceError):
        await device.poll()
    assert getattr(device.stats, counter) == 1
    assert device.stats.quality == 0.0
    sim.fault = Fault.NONE
    assert (await device.poll()).cell_voltages
    assert device.stats.quality == 0.5


async def test_garbage_is_counted_and_the_next_poll_reads_again(rig):
    sim, _, device = rig
    sim.fault = Fault.GARBAGE
    for _ in range(5):
        with pytest.raises(DeviceError):
            await device.poll()
    assert device.stats.discarded_bytes + device.stats.bad_frames > 0
    sim.fault = Fault.NONE
    assert (await device.poll()).cell_voltages


async def test_unplugged_port_fails_cleanly_and_replug_recovers(rig):
    _, server, device = rig
    await device.poll()
    server.stop()
    with pytest.raises(DeviceError):
        await device.poll()
    with pytest.raises(DeviceError, match="cannot open"):
        await device.poll()
    server.start()
    assert (await device.poll()).cell_voltages
    assert device.stats.link_errors >= 2


async def test_noise_between_polls_waits_in_the_kernel_and_is_dropped_counted(rig):
    # Between polls nothing is read: a noisy line cannot wake the daemon for every byte. What it
    # sent meanwhile is dropped before the next request, and counted as junk.
    sim, server, device = rig
    assert (await device.poll()).cell_voltages
    server.stream_garbage(None, seed=5)
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while server.garbage_sent < 2000 and loop.time() < end:
        await asyncio.sleep(0.01)
    server.stop_garbage()
    held = device.transport.unread
    assert held >= 2000  # in the kernel: the daemon read none of it
    assert device.transport.discard_input() >= held
    expected = sim.pack.sample()
    sample = await device.poll()
    assert sample.cell_voltages == pytest.approx(expected.cell_voltages, abs=0.0005)
