"""Each serial family's simulator and device, for the tests that hold every family to the same
contract."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dbus_bms.devices.ant import AntDevice
from dbus_bms.devices.base import Device
from dbus_bms.devices.daly import DalyDevice
from dbus_bms.devices.jbd import JbdDevice
from dbus_bms.devices.jk_nw import JkNwDevice
from dbus_bms.devices.seplos import SeplosDevice
from dbus_bms.model import Sample
from dbus_bms.sim.ant import AntSimulator
from dbus_bms.sim.daly import DalySimulator
from dbus_bms.sim.jbd import JbdSimulator
from dbus_bms.sim.jk_nw import JkNwSimulator
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.pty_server import SimDevice
from dbus_bms.sim.seplos import SeplosSimulator


def _pack() -> SimPack:
    return SimPack(cells=16, seed=3)


# Each family: its simulator, and its device on a given port.
FAMILIES: dict[str, Callable[[], tuple[SimDevice, Callable[[str], Device]]]] = {
    "jk-nw": lambda: (JkNwSimulator(_pack(), serial="JKSIM42"), lambda port: JkNwDevice(port, timeout=0.5)),
    "jbd": lambda: (JbdSimulator(SimPack(cells=8, seed=3), name="JBD-SP08S-TEST"), lambda port: JbdDevice(port, timeout=0.5)),
    "daly": lambda: (DalySimulator(_pack()), lambda port: DalyDevice(port, timeout=0.5)),
    "ant": lambda: (AntSimulator(_pack()), lambda port: AntDevice(port, timeout=0.3, protocol="new")),
    "ant-legacy": lambda: (AntSimulator(_pack(), legacy=True), lambda port: AntDevice(port, timeout=0.3, protocol="legacy")),
    "seplos": lambda: (SeplosSimulator(_pack()), lambda port: SeplosDevice(port, timeout=0.5)),
}


def assert_reads_the_pack(sample: Sample, expected: Sample, *, resolution: float = 0.01, soc: float = 0.0) -> None:
    """What every family's poll gives of its simulated pack: the cells to the mV, current and
    voltage to the protocol's ``resolution`` (A, V), SoC to within ``soc`` (%)."""
    assert sample.cell_voltages == pytest.approx(expected.cell_voltages, abs=0.0005)
    assert sample.current == pytest.approx(expected.current, abs=resolution)
    assert sample.voltage == pytest.approx(expected.voltage, abs=resolution)
    assert sample.soc == pytest.approx(expected.soc, abs=soc)
