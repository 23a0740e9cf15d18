"""The JK NW device over the real serial transport against the pty simulator."""

from __future__ import annotations

import asyncio

import pytest

from tests.serial_families import assert_reads_the_pack


async def test_poll_reads_what_the_pack_holds(rig):
    sim, _, device = rig
    sim.pack.current_override = -12.5
    sim.pack.advance(1.0)
    expected = sim.pack.sample()
    sample = await device.poll()
    assert_reads_the_pack(sample, expected)
    assert sample.device.serial == "JKSIM42"
    assert device.stats.good == 1 and device.stats.quality == 1.0


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
