"""Switching a BMS through its device: the JK NW device over the real serial transport against the
pty simulator (the JK BLE device is switched end to end, in tests/test_control_e2e.py)."""

from __future__ import annotations

import asyncio

import pytest

from dbus_bms.devices.base import ControlFailed, ControlUnsupported


async def test_switching_the_charge_fet_off_and_on_is_read_back(rig):
    sim, _, device = rig
    assert (await device.poll()).switches == {"charge": True, "discharge": True, "balance": True}
    sample = await device.switch("charge", False)
    assert sim.writes == 1 and sim.switches["charge"] is False
    assert sample.switches["charge"] is False and sample.charge_enabled is False
    assert sample.discharge_enabled is True
    sample = await device.switch("charge", True)
    assert sim.switches["charge"] is True and sample.charge_enabled is True
    assert device.stats.good == 3  # each read-back is a poll, counted as one


async def test_a_write_the_bms_ignores_fails_with_the_reading_that_shows_it(rig):
    sim, _, device = rig
    sim.takes_writes = False
    with pytest.raises(ControlFailed, match="discharge switch still reads on") as failed:
        await device.switch("discharge", False)
    assert sim.writes == 1
    assert failed.value.sample.discharge_enabled is True


async def test_what_the_device_cannot_switch_is_refused_before_anything_is_sent(rig):
    sim, _, device = rig
    await device.poll()
    with pytest.raises(ControlUnsupported, match="balance"):
        await device.switch("balance", False)
    with pytest.raises(ValueError, match="heater"):
        await device.switch("heater", False)
    assert sim.writes == 0


async def test_a_switch_waits_for_a_poll_under_way_and_neither_loses_its_reply(rig):
    sim, _, device = rig
    for _ in range(5):
        polled, switched = await asyncio.gather(device.poll(), device.switch("charge", False))
        assert polled.cell_voltages and switched.charge_enabled is False
        polled, switched = await asyncio.gather(device.poll(), device.switch("charge", True))
        assert switched.charge_enabled is True
    assert device.stats.timeouts == 0 and device.stats.bad_frames == 0
    assert sim.writes == 10
