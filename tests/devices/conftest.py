"""What the device tests share: a simulated JK NW on a pty and the real device reading it."""

from __future__ import annotations

import pytest

from dbus_bms.devices.jk_nw import JkNwDevice
from dbus_bms.sim.jk_nw import JkNwSimulator
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.pty_server import PtyServer


@pytest.fixture
async def rig(tmp_path):
    """(simulator, its pty server, the device on that pty)."""
    sim = JkNwSimulator(SimPack(cells=16, seed=3), serial="JKSIM42")
    server = PtyServer(sim, link=str(tmp_path / "ttyJK"), advance=False)
    server.start()
    device = JkNwDevice(server.link, timeout=0.5)
    yield sim, server, device
    await device.close()
    server.stop()
