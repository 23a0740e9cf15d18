"""The JBD device over the real serial transport against the pty simulator, and once over TCP."""

from __future__ import annotations

import pytest

from dbus_bms.devices.base import ControlFailed, ControlUnsupported, DeviceError
from dbus_bms.devices.jbd import JbdDevice
from dbus_bms.protocols import jbd
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.jbd import JbdSimulator
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.tcp_server import TcpServer
from tests.serial_families import assert_reads_the_pack


@pytest.fixture
async def rig(serial_line):
    """(simulator, its pty server, the device on that pty)."""
    return serial_line("jbd")


async def test_poll_reads_what_the_pack_holds(rig):
    sim, _, device = rig
    sim.pack.current_override = -12.5
    sim.pack.advance(1.0)
    expected = sim.pack.sample()
    sample = await device.poll()
    assert_reads_the_pack(sample, expected)
    assert sample.capacity_full == pytest.approx(expected.capacity_full, abs=0.01)
    assert sample.temperatures == pytest.approx(expected.temperatures, abs=0.05)
    assert sample.device.model == "JBD-SP08S-TEST" and sample.device.sw_version == "8.0"
    assert device.product_name(sample) == "JBD JBD-SP08S-TEST"
    assert sim.requests == 3  # basic info, cells, and the name once
    await device.poll()
    assert sim.requests == 5
    assert device.stats.good == 2 and device.stats.quality == 1.0


async def test_a_protection_raises_its_alarm(rig):
    sim, _, device = rig
    sim.protections = 1 << 1
    sample = await device.poll()
    assert sample.alarms == {"LowCellVoltage": 2}
    low = sample.cell_voltages.index(min(sample.cell_voltages)) + 1
    assert sample.conditions == (f"cell under-voltage protection, cell {low}",)


async def test_switching_goes_through_factory_mode_and_reads_back(rig):
    sim, _, device = rig
    await device.poll()
    sample = await device.switch("charge", False)
    assert sample.switches == {"charge": False, "discharge": True}
    assert sample.charge_enabled is False and sample.discharge_enabled is True
    assert sample.conditions == ("FET software lock",) and sample.alarms == {}
    assert sim.forbidden == jbd.FORBID_CHARGE and not sim.factory_mode and sim.refused_writes == 0
    # 0xE1 sets both FETs: switching the discharge FET keeps the charge FET as it is.
    sample = await device.switch("discharge", False)
    assert sample.switches == {"charge": False, "discharge": False}
    sample = await device.switch("charge", True)
    assert sample.switches == {"charge": True, "discharge": False}
    sample = await device.switch("discharge", True)
    assert sample.switches == {"charge": True, "discharge": True} and sample.conditions == ()
    assert sim.forbidden == 0 and sim.writes == 12


async def test_the_simulator_refuses_fet_control_outside_factory_mode(rig):
    sim, _, device = rig
    assert sim.handle(jbd.build_fet_control(charge=False, discharge=True)) == jbd.build_reply(
        jbd.REG_FET_CONTROL, b"", jbd.STATUS_REFUSED
    )
    assert sim.forbidden == 0 and sim.refused_writes == 1
    assert (await device.poll()).switches == {"charge": True, "discharge": True}


@pytest.mark.parametrize("fault", list(Fault))
async def test_every_fault_on_a_write_reply_fails_the_switch_cleanly_or_not_at_all(rig, fault):
    sim, _, device = rig
    sim.fault = fault
    try:
        await device.switch("charge", False)
    except DeviceError:
        pass
    sim.fault = Fault.NONE
    assert not sim.factory_mode  # the exit is sent even when the entry went unanswered
    assert (await device.poll()).cell_voltages


async def test_a_balancer_switch_is_not_offered(rig):
    _, _, device = rig
    with pytest.raises(ControlUnsupported):
        await device.switch("balance", False)


async def test_a_switch_the_bms_does_not_take_fails_with_the_reading(rig):
    sim, _, device = rig
    sim.takes_writes = False
    with pytest.raises(ControlFailed, match="did not take it") as failed:
        await device.switch("discharge", False)
    assert failed.value.sample.switches["discharge"] is True
    assert not sim.factory_mode


async def test_poll_over_tcp_gateway():
    sim = JbdSimulator(SimPack(cells=4, seed=5))
    server = TcpServer(sim, advance=False)
    server.start()
    device = JbdDevice(server.address, timeout=0.5)
    try:
        sample = await device.poll()
        assert len(sample.cell_voltages) == 4
        assert device.connection.startswith("TCP ")
        assert (await device.switch("charge", False)).switches["charge"] is False
    finally:
        await device.close()
        server.stop()
