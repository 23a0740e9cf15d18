"""What the device tests share: each serial family's simulator on a pty and the real device reading it."""

from __future__ import annotations

import pytest

from dbus_bms.devices.base import Device
from dbus_bms.sim.pty_server import PtyServer
from tests.serial_families import FAMILIES


@pytest.fixture
async def serial_line(tmp_path):
    """A function: family → (simulator, its pty server, the device on that pty); all closed after."""
    opened: list[tuple[PtyServer, Device]] = []

    def make(family: str):
        sim, build = FAMILIES[family]()
        server = PtyServer(sim, link=str(tmp_path / f"ttyBMS{len(opened)}"), advance=False)
        server.start()
        device = build(server.link)
        opened.append((server, device))
        return sim, server, device

    yield make
    for server, device in opened:
        await device.close()
        server.stop()


@pytest.fixture
async def rig(serial_line):
    """A JK NW on a pty: (simulator, its pty server, the device)."""
    return serial_line("jk-nw")
