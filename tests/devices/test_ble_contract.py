"""What every BMS read through its BLE module promises, family by family, through the real bleak and
the fake BlueZ: it reads what the simulated BMS holds, however the module cuts the reply; a fault is
one failed poll, counted, and the next reads again; a link the BMS drops is made again by the next
poll; connect-per-poll lets the link go after every poll; a reading out of its window is refused
by the one reading judge. Every ``-ble`` type that the simulators serve is held to it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dbus_bms.devices.base import DeviceError, RejectedReading
from dbus_bms.devices.registry import DEVICE_TYPES, create_device
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.serve import BLE_PERIPHERALS, make_peripheral

# JK's BLE records are not a UART bridge's replies: tests/devices/test_jk_ble_device.py holds it. A
# source that is no battery (a shunt, without cells) is held by its own tests.
FAMILIES = [kind for kind, spec in DEVICE_TYPES.items()
            if spec.link == "ble" and kind in BLE_PERIPHERALS and kind != "jk" and not spec.source_only]


def config(address: str, ble_mode: str = "keep-alive") -> SimpleNamespace:
    return SimpleNamespace(type=None, port=None, address=address, adapter=None, pin=None, ble_mode=ble_mode,
                           timeout=0.5, baudrate=None, protocol=None)


@pytest.fixture(params=FAMILIES)
async def module(request, bluez):
    """(peripheral, a function ble_mode → the device reading it) for each family; devices closed after."""
    peripheral = make_peripheral(request.param, cells=8, seed=3)
    bluez.add_peripheral(peripheral)
    made = []

    def device(ble_mode: str = "keep-alive"):
        cfg = config(peripheral.address, ble_mode)
        cfg.type = request.param
        made.append(d := create_device(cfg))
        return d

    yield peripheral, device
    for d in made:
        await d.close()


@pytest.mark.parametrize("split", [False, True])
async def test_it_reads_what_the_bms_holds_however_the_module_cuts_the_reply(module, split):
    peripheral, device = module
    peripheral.split = split
    d = device()
    sample = await d.poll()
    assert sample.cell_voltages == pytest.approx(peripheral.bms.pack.cell_voltages(), abs=0.002)
    assert d.connection.startswith(f"BLE {peripheral.address}")
    assert (await d.poll()).cell_voltages
    assert d.transport.opens == 1 and d.stats.good == 2


@pytest.mark.parametrize("fault, counter", [(Fault.SILENT, "timeouts"), (Fault.BAD_CHECKSUM, "bad_frames")])
async def test_a_fault_fails_one_poll_counted_and_the_next_reads_again(module, fault, counter):
    peripheral, device = module
    d = device()
    await d.poll()
    peripheral.bms.fault = fault
    with pytest.raises(DeviceError):
        await d.poll()
    assert getattr(d.stats, counter) >= 1
    peripheral.bms.fault = Fault.NONE
    assert (await d.poll()).cell_voltages


async def test_a_link_the_bms_drops_is_made_again_by_the_next_poll(module):
    peripheral, device = module
    d = device()
    await d.poll()
    peripheral.drop_connection()
    for _ in range(2):  # the poll that meets the drop may fail; the one after it reads
        try:
            sample = await d.poll()
            break
        except DeviceError:
            pass
    assert sample.cell_voltages
    assert d.transport.opens == 2 and d.stats.reopens == 1


async def test_connect_per_poll_lets_the_link_go_after_every_poll(module):
    peripheral, device = module
    d = device("per-poll")
    for _ in range(2):
        await d.poll()
        assert not peripheral.connected
    assert d.transport.opens == 2


async def test_a_reading_out_of_its_window_is_refused_before_anyone_sees_it(module):
    peripheral, device = module
    d = device()
    await d.poll()
    honest = peripheral.bms.pack.cell_voltages
    peripheral.bms.pack.cell_voltages = lambda: [6.0, *honest()[1:]]
    with pytest.raises(RejectedReading, match="cell 1 = 6.000 V is outside"):
        await d.poll()
    peripheral.bms.pack.cell_voltages = honest
    assert (await d.poll()).cell_voltages
