"""aiobmsble's modules through our device, the real bleak and the fake BlueZ, against the updates
recorded from aiobmsble's own tests: a reading equals what the recording states, field by field;
a recording whose values do not hold together is refused by our judge; a silent BMS times out."""

from __future__ import annotations

import pytest

from dbus_bms.devices.base import DeviceError, RejectedReading
from dbus_bms.devices.plausibility import IMPLAUSIBLE

from .replay import ADDRESS, RECORDED, as_aiobmsble, recordings, replaying, stated

from dbus_bms.devices.aiobmsble_adapter import AiobmsbleDevice  # noqa: E402  (after the skip in replay)


def test_nineteen_modules_are_replayed_to_their_stated_values():
    assert len({r["module"] for r in RECORDED if r["judged"] == "accepted"}) >= 19


@pytest.mark.parametrize("recording", recordings("accepted"))
async def test_a_reading_equals_the_values_the_recording_states(bluez, recording):
    peripheral = replaying(recording)
    bluez.add_peripheral(peripheral)
    device = AiobmsbleDevice(ADDRESS, recording["module"], timeout=3.0, scan_timeout=3.0)
    try:
        first = await device.poll()
        second = await device.poll()  # the link kept, the recording replayed again
    finally:
        await device.close()
    assert as_aiobmsble(first) == stated(recording["expected"])
    assert as_aiobmsble(second) == as_aiobmsble(first)
    assert device.stats.good == 2 and device.stats.timeouts == 0 and device.stats.bad_frames == 0
    assert device.vendor and device.connection == f"BLE {ADDRESS}"


@pytest.mark.parametrize("recording", recordings("refused"))
async def test_values_that_do_not_hold_together_are_refused_counted(bluez, recording):
    bluez.add_peripheral(replaying(recording))
    device = AiobmsbleDevice(ADDRESS, recording["module"], timeout=3.0, scan_timeout=3.0)
    try:
        with pytest.raises(RejectedReading) as refused:
            await device.poll()
    finally:
        await device.close()
    assert refused.value.kind == IMPLAUSIBLE
    assert device.stats.bad_frames == 1 and device.stats.good == 0


async def test_a_bms_gone_silent_times_out_within_the_deadline_counted_and_answers_again_later(bluez):
    recording = next(r for r in RECORDED if r["module"] == "tianpwr_bms")
    peripheral = replaying(recording)
    bluez.add_peripheral(peripheral)
    device = AiobmsbleDevice(ADDRESS, recording["module"], timeout=0.5, scan_timeout=3.0)
    try:
        await device.poll()
        peripheral.silent = True
        # On a live link the bound is the reply timeout and BlueZ's answers, well inside aiobmsble's
        # own retries (10 s), which would otherwise hold the poll.
        assert device.deadline == 2.5
        with pytest.raises(DeviceError, match="overran its deadline of 2.5 s"):
            await device.poll()
        assert device.stats.timeouts == 1 and device.stats.polls == 2 and device.stats.good == 1
        peripheral.silent = False
        sample = await device.poll()
    finally:
        await device.close()
    assert sample.voltage == recording["expected"]["voltage"]
    assert device.stats.good == 2


def test_an_unknown_module_is_refused_by_name():
    with pytest.raises(ValueError, match="no BMS module 'nosuch_bms'"):
        AiobmsbleDevice(ADDRESS, "nosuch_bms")
    with pytest.raises(ValueError, match="dummy_bms"):
        AiobmsbleDevice(ADDRESS, "dummy_bms")
