"""The NEEY balancer device through the real bleak and the fake BlueZ: identity, settings and the
stream after one request each; the balancer switch read back from the settings; a silent stream
asked again, then the link made anew."""

from __future__ import annotations

import pytest

from dbus_bms.devices.base import DeviceError
from dbus_bms.devices.neey import SILENT_POLLS_BEFORE_RECONNECT, NeeyBleDevice
from dbus_bms.protocols import neey
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.neey import NeeyBalancer, NeeyPeripheral, ble_address
from dbus_bms.sim.pack import SimPack


def balancer(model: str = "GW-24S4EB", cells: int = 16) -> NeeyPeripheral:
    return NeeyPeripheral(NeeyBalancer(SimPack(cells=cells, seed=5), model=model), address=ble_address(0),
                          stream_interval=0.05)


@pytest.mark.parametrize("model, cells", [("GW-24S4EB", 16), ("EK-B24S8E200A", 24), ("EK-24S4EB", 8)])
async def test_a_balancer_is_read_from_one_stream_request(bluez, model, cells):
    sim = balancer(model, cells)
    bluez.add_peripheral(sim)
    device = NeeyBleDevice(ble_address(0), timeout=2.0)
    try:
        for _ in range(4):
            sample = await device.poll()
    finally:
        await device.close()
    pack = sim.balancer.pack
    assert device.layout == neey.layout_for_model(model)
    assert sample.cell_voltages == pytest.approx(pack.cell_voltages(), abs=0.002)
    assert sample.voltage == pytest.approx(sum(pack.cell_voltages()), abs=0.01)
    assert sample.switches == {"balance": True}
    assert sample.bms_settings.cell_count == cells
    assert device.info.model == model and sample.device.model == model
    # Only the EK-B models measure the current.
    assert (sample.current is None) == (model != "EK-B24S8E200A")
    assert sim.balancer.requests == {neey.TYPE_DEVICE_INFO: 1, neey.TYPE_SETTINGS: 1, neey.TYPE_CELL_INFO: 1}
    assert device.transport.opens == 1 and device.stats.good == 4


async def test_the_balancer_switch_is_written_and_read_back_from_the_settings(bluez):
    sim = balancer()
    bluez.add_peripheral(sim)
    device = NeeyBleDevice(ble_address(0), timeout=2.0)
    try:
        await device.poll()
        assert device.can_switch("balance") and not device.can_switch("charge")
        off = await device.switch("balance", False)
        assert sim.balancer.balancer_on is False and off.switches == {"balance": False}
        assert off.balancing is False
        on = await device.switch("balance", True)
        assert sim.balancer.balancer_on is True and on.switches == {"balance": True}
    finally:
        await device.close()
    assert sim.balancer.requests[neey.TYPE_SETTINGS] == 3


async def test_a_silent_stream_is_asked_again_then_the_link_is_made_anew(bluez):
    sim = balancer()
    bluez.add_peripheral(sim)
    device = NeeyBleDevice(ble_address(0), timeout=0.3)
    try:
        await device.poll()
        sim.balancer.fault = Fault.SILENT
        for _ in range(SILENT_POLLS_BEFORE_RECONNECT):
            with pytest.raises(DeviceError, match="no cell info"):
                await device.poll()
        assert not device.transport.is_open
        sim.balancer.fault = Fault.NONE
        await device.poll()
    finally:
        await device.close()
    assert device.transport.opens == 2 and device.stats.reopens == 1


async def test_corrupt_frames_are_counted_and_never_read(bluez):
    sim = balancer()
    bluez.add_peripheral(sim)
    device = NeeyBleDevice(ble_address(0), timeout=0.5)
    try:
        await device.poll()
        sim.balancer.fault = Fault.BAD_CHECKSUM
        with pytest.raises(DeviceError):
            await device.poll()
        assert device.stats.bad_frames > 0
        sim.balancer.fault = Fault.NONE
        sample = await device.poll()
    finally:
        await device.close()
    assert sample.cell_voltages == pytest.approx(sim.balancer.pack.cell_voltages(), abs=0.002)
