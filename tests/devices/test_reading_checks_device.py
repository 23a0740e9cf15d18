"""Readings judged at the device edge: a serial JK on a pty and a BLE JK through the real bleak and
the fake BlueZ send implausible, foreign and frozen readings, which poll() refuses and counts; and
the overall deadline of a poll cuts off an exchange that hangs."""

from __future__ import annotations

import asyncio
import math
import struct
from dataclasses import replace

import pytest

from dbus_bms.charge.config import ChargeConfig
from dbus_bms.config import BatteryConfig
from dbus_bms.devices.base import Device, DeviceError, RejectedReading
from dbus_bms.devices.jk_ble import JkBleDevice
from dbus_bms.devices.jk_nw import JkNwDevice
from dbus_bms.devices.registry import create_device
from dbus_bms.model import Sample
from dbus_bms.protocols import jk04
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.jk_ble import JkBlePeripheral, ble_address
from dbus_bms.sim.jk_nw import JkNwSimulator
from dbus_bms.sim.jk_records import JkRecordSimulator
from dbus_bms.sim.pack import SimPack, ocv
from dbus_bms.sim.pty_server import PtyServer


@pytest.fixture
async def serial_jk(tmp_path):
    """A JK on a pty whose pack stands still between polls, discharging at 10 A."""
    sim = JkNwSimulator(SimPack(cells=16, seed=3), serial="JKSIM42")
    sim.pack.current_override = -10.0
    sim.pack.advance(0.0)
    server = PtyServer(sim, link=str(tmp_path / "ttyJK"), advance=False)
    server.start()
    yield sim, server
    server.stop()


@pytest.fixture
async def nw(serial_jk):
    device = JkNwDevice(serial_jk[1].link, timeout=0.5)
    yield device
    await device.close()


def open_sense_lead(pack: SimPack, volts: float = 0.2) -> None:
    """Cell 1 reads ``volts`` under the pack's current: a sense lead through a broken crimp."""
    pack.resistance[0] = (ocv(pack.soc[0]) - volts) / -pack.current


async def test_an_implausible_reading_is_refused_and_counted_as_a_bad_frame(serial_jk, nw):
    sim, _ = serial_jk
    await nw.poll()
    resistance = sim.pack.resistance[0]
    open_sense_lead(sim.pack)
    with pytest.raises(RejectedReading) as refused:
        await nw.poll()
    assert str(refused.value) == "cell 1 = 0.200 V is outside 0.5..5.0 V"
    assert refused.value.kind == "implausible" and refused.value.expire is False
    assert (nw.stats.bad_frames, nw.stats.good, nw.stats.polls) == (1, 1, 2)
    assert nw.stats.last_error == str(refused.value) and nw.stats.quality == 0.5
    sim.pack.resistance[0] = resistance
    assert (await nw.poll()).min_cell > 3.0
    assert nw.stats.bad_frames == 1


async def test_another_bms_at_the_port_is_refused_and_our_identity_kept(serial_jk, nw):
    sim, _ = serial_jk
    await nw.poll()
    sim.device.serial = "JKOTHER7"
    with pytest.raises(RejectedReading, match=r"^serial 'JKOTHER7' is not the pinned 'JKSIM42'$") as refused:
        await nw.poll()
    assert refused.value.kind == "foreign" and refused.value.expire is True
    assert nw.info.serial == "JKSIM42" and nw.stats.bad_frames == 1
    # The same serial with another pack behind it: the cell count is pinned too.
    sim.device.serial = "JKSIM42"
    sim.pack = SimPack(cells=8, seed=4)
    with pytest.raises(RejectedReading, match=r"^8 cells where the BMS had 16$"):
        await nw.poll()
    assert nw.stats.bad_frames == 2


async def test_a_frozen_reading_is_refused_after_the_configured_polls(serial_jk):
    sim, server = serial_jk
    cfg = BatteryConfig(type="jk-nw", port=server.link, alias="jk0", charge=replace(ChargeConfig(), frozen_polls=3))
    device = create_device(cfg)
    try:
        for _ in range(3):  # the first reading and two identical ones
            await device.poll()
        with pytest.raises(RejectedReading, match=r"^cells and current unchanged for 3 polls at -10.00 A$") as refused:
            await device.poll()
        assert refused.value.kind == "frozen" and refused.value.expire is True
        sim.pack.current_override = -10.5
        sim.pack.advance(0.0)
        await device.poll()
    finally:
        await device.close()
    assert device.stats.bad_frames == 1


def test_frozen_detection_follows_the_config():
    assert create_device(BatteryConfig(type="jk-nw", port="/dev/null", alias="a")).judge.frozen_polls == 60
    off = BatteryConfig(type="jk-nw", port="/dev/null", alias="a", charge=replace(ChargeConfig(), frozen_polls=0))
    assert create_device(off).judge.frozen_polls == 0


# --- BLE: a forced protocol, corrupt values behind a valid checksum -----------------------------


def ble_jk(layout: str) -> JkBlePeripheral:
    return JkBlePeripheral(
        JkRecordSimulator(SimPack(cells=16, seed=3), layout=layout), address=ble_address(0), stream_interval=0.05
    )


# Read as 24s, a 32s record has its pack voltage where 32s keeps resistances of empty cell slots;
# read as jk04, no cell slot is marked in use and the cells add up to no pack.
@pytest.mark.parametrize("protocol", ["jk02_24s", "jk04"])
async def test_a_forced_wrong_protocol_says_so(bluez, protocol):
    problem = "voltage = 0.00 V is not above 0 V"
    bluez.add_peripheral(ble_jk("32s"))
    device = JkBleDevice(ble_address(0), protocol=protocol, timeout=3.0)
    try:
        with pytest.raises(RejectedReading) as refused:
            await device.poll()
    finally:
        await device.close()
    text = str(refused.value)
    assert text.startswith(f"protocol {protocol} gives implausible values: {problem}") and text.endswith("; try auto")
    assert refused.value.kind == "implausible" and device.stats.bad_frames == 1


async def test_a_nan_cell_behind_a_valid_checksum_is_refused(bluez):
    sim = ble_jk("jk04")
    bluez.add_peripheral(sim)
    device = JkBleDevice(ble_address(0), timeout=3.0)
    try:
        assert math.isfinite((await device.poll()).voltage)
        sim.model.corrupt = {jk04.LAYOUT.cells[2].offset: struct.pack("<f", math.nan)}
        with pytest.raises(RejectedReading, match=r"^cell 3 = nan V, voltage = nan V$"):
            await device.poll()
        sim.model.corrupt = None
        await device.poll()
    finally:
        await device.close()
    assert device.stats.bad_frames == 1 and device.stats.good == 2


# --- The deadline of a poll ---------------------------------------------------------------------

# Only so that a broken deadline fails the test instead of hanging the suite.
HANG_GUARD = 30.0


async def test_a_poll_that_hangs_on_a_real_line_is_cut_at_its_deadline(serial_jk):
    sim, server = serial_jk

    class Patient(JkNwDevice):
        deadline = 0.2  # under its own reply timeout of 5 s

    device = Patient(server.link, timeout=5.0)
    try:
        await device.poll()
        sim.fault = Fault.SILENT
        with pytest.raises(DeviceError, match=r"^poll overran its deadline of 0.2 s$"):
            await asyncio.wait_for(device.poll(), HANG_GUARD)
        assert not device.transport.is_open  # abort() closed the link
        sim.fault = Fault.NONE
        await device.poll()
    finally:
        await device.close()
    assert (device.stats.timeouts, device.stats.good, device.stats.reopens) == (1, 2, 1)


class Link(Device):
    """A test double of the link: an exchange that hangs until told otherwise, or times out itself."""

    type_name = "test"
    deadline = 0.1

    def __init__(self) -> None:
        super().__init__()
        self.hang = asyncio.Event()
        self.inner_timeout = False
        self.aborts = self.closes = 0

    @classmethod
    def from_config(cls, cfg):
        return cls()

    connection = fallback_id = "test"

    async def exchange(self) -> Sample:
        if self.inner_timeout:
            raise TimeoutError("no reply within 0.05 s")
        if self.hang.is_set():
            await asyncio.Event().wait()
        return Sample(voltage=13.3, cell_voltages=[3.325] * 4)

    async def abort(self) -> None:
        self.aborts += 1
        await super().abort()

    async def close(self) -> None:
        self.closes += 1


async def test_an_exchange_that_never_returns_is_cut_at_the_deadline_and_aborted():
    link = Link()
    link.hang.set()
    with pytest.raises(DeviceError, match=r"^poll overran its deadline of 0.1 s$") as overran:
        await asyncio.wait_for(link.poll(), HANG_GUARD)
    assert not isinstance(overran.value, RejectedReading)
    assert (link.aborts, link.closes, link.stats.timeouts) == (1, 1, 1)
    link.hang.clear()
    assert (await link.poll()).voltage == 13.3
    assert link.stats.recent == [False, True]


async def test_a_timeout_inside_the_exchange_is_not_the_deadline():
    link = Link()
    link.inner_timeout = True
    with pytest.raises(DeviceError, match=r"^no reply within 0.05 s$"):
        await link.poll()
    assert (link.aborts, link.stats.timeouts) == (0, 1)


def test_the_default_deadline_is_the_reply_timeout_and_2_s():
    assert JkNwDevice("/dev/null", timeout=0.5).deadline == 2.5

    class Untimed(Link):
        deadline = Device.deadline

    assert Untimed().deadline == 10.0
