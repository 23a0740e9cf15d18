"""The JK BLE device through the real bleak and the fake BlueZ: the layout found from the firmware,
the stream after one request, a stalled stream asked again, connect-per-poll letting go."""

from __future__ import annotations

import pytest

from dbus_bms.devices.base import DeviceError
from dbus_bms.devices.jk_ble import SILENT_POLLS_BEFORE_RECONNECT, JkBleDevice
from dbus_bms.sim.jk_ble import BleFault, JkBlePeripheral, ble_address
from dbus_bms.sim.jk_records import JkRecordSimulator
from dbus_bms.sim.pack import SimPack


def jk(layout: str, cells: int = 16) -> JkBlePeripheral:
    return JkBlePeripheral(
        JkRecordSimulator(SimPack(cells=cells, seed=3), layout=layout), address=ble_address(0), stream_interval=0.05
    )


@pytest.mark.parametrize("layout, cells", [("32s", 16), ("24s", 24), ("32s", 8), ("jk04", 16)])
async def test_each_layout_is_found_from_the_firmware_and_read(bluez, layout, cells):
    sim = jk(layout, cells)
    bluez.add_peripheral(sim)
    device = JkBleDevice(ble_address(0), timeout=3.0)
    try:
        sample = await device.poll()
    finally:
        await device.close()
    expected = sim.model.pack.sample()
    assert device.layout == layout
    assert len(sample.cell_voltages) == cells
    assert sample.cell_voltages == pytest.approx(expected.cell_voltages, abs=0.002)
    # JK04 records carry cells and balancing, not SoC or current: those stay unknown, never 0.
    assert sample.soc == (None if layout == "jk04" else expected.soc)
    assert device.info.serial == sim.model.device.serial
    assert device.info.sw_version == sim.model.device.sw_version
    if layout != "jk04":
        assert device.settings is not None and device.settings.cell_count == cells


async def test_keep_alive_takes_the_stream_without_asking_again(bluez):
    sim = jk("32s")
    bluez.add_peripheral(sim)
    device = JkBleDevice(ble_address(0), timeout=3.0)
    try:
        for _ in range(5):
            await device.poll()
    finally:
        await device.close()
    assert sim.model.requests == {0x97: 1, 0x96: 1}
    assert device.transport.opens == 1 and device.stats.good == 5


async def test_a_fixed_protocol_skips_the_device_info_request(bluez):
    sim = jk("24s")
    bluez.add_peripheral(sim)
    device = JkBleDevice(ble_address(0), protocol="jk02_24s", timeout=3.0)
    try:
        sample = await device.poll()
    finally:
        await device.close()
    assert 0x97 not in sim.model.requests
    assert len(sample.cell_voltages) == 16


async def test_a_silent_stream_is_asked_again_then_the_link_is_made_anew(bluez):
    sim = jk("32s")
    bluez.add_peripheral(sim)
    device = JkBleDevice(ble_address(0), timeout=0.3)
    try:
        await device.poll()
        sim.ble_fault = BleFault.SILENT
        for _ in range(SILENT_POLLS_BEFORE_RECONNECT):
            with pytest.raises(DeviceError, match="no cell info"):
                await device.poll()
        assert sim.model.requests[0x96] == 1 + SILENT_POLLS_BEFORE_RECONNECT - 1
        assert not device.transport.is_open
        sim.ble_fault = BleFault.NONE
        await device.poll()
    finally:
        await device.close()
    assert device.transport.opens == 2 and device.stats.reopens == 1 and device.stats.timeouts == 3


async def test_connect_per_poll_lets_the_bms_go_after_each_reading(bluez):
    sim = jk("32s")
    bluez.add_peripheral(sim)
    device = JkBleDevice(ble_address(0), keep_alive=False, timeout=3.0)
    try:
        for _ in range(2):
            await device.poll()
            assert not sim.connected
    finally:
        await device.close()
    assert device.transport.opens == 2 and sim.model.requests[0x97] == 1  # the layout is remembered
