"""What every BMS on a serial line promises, family by family, over the real serial transport
against each family's pty simulator: a fault is one failed poll, counted, and the next poll reads
again; garbage is counted, never taken for a reading; an unplugged port fails cleanly and a replug
recovers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dbus_bms.devices.ant import AntDevice
from dbus_bms.devices.base import Device, DeviceError
from dbus_bms.devices.daly import DalyDevice
from dbus_bms.devices.jbd import JbdDevice
from dbus_bms.devices.jk_nw import JkNwDevice
from dbus_bms.devices.seplos import SeplosDevice
from dbus_bms.sim.ant import AntSimulator
from dbus_bms.sim.daly import DalySimulator
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.jbd import JbdSimulator
from dbus_bms.sim.jk_nw import JkNwSimulator
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.pty_server import PtyServer, SimDevice
from dbus_bms.sim.seplos import SeplosSimulator


def pack() -> SimPack:
    return SimPack(cells=16, seed=3)


# Each family: its simulator, and its device on a given port.
FAMILIES: dict[str, Callable[[], tuple[SimDevice, Callable[[str], Device]]]] = {
    "jk-nw": lambda: (JkNwSimulator(pack(), serial="JKSIM42"), lambda port: JkNwDevice(port, timeout=0.5)),
    "jbd": lambda: (JbdSimulator(SimPack(cells=8, seed=3), name="JBD-SP08S-TEST"), lambda port: JbdDevice(port, timeout=0.5)),
    "daly": lambda: (DalySimulator(pack()), lambda port: DalyDevice(port, timeout=0.5)),
    "ant": lambda: (AntSimulator(pack()), lambda port: AntDevice(port, timeout=0.3, protocol="new")),
    "ant-legacy": lambda: (AntSimulator(pack(), legacy=True), lambda port: AntDevice(port, timeout=0.3, protocol="legacy")),
    "seplos": lambda: (SeplosSimulator(pack()), lambda port: SeplosDevice(port, timeout=0.5)),
}


@pytest.fixture(params=list(FAMILIES))
async def line(request, tmp_path):
    """(simulator, its pty server, the device on that pty) for each family."""
    sim, make = FAMILIES[request.param]()
    server = PtyServer(sim, link=str(tmp_path / "ttyBMS"), advance=False)
    server.start()
    device = make(server.link)
    yield sim, server, device
    await device.close()
    server.stop()


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
