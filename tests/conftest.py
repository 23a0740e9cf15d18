"""Shared fixtures: a private dbus-daemon per test and the recorded frames of ../shared."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbus_bms.sim.bus import PrivateBus

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> dict:
    """A recorded-frame file copied from the shared fixtures (``source`` kept per frame)."""
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def private_bus() -> Iterator[PrivateBus]:
    with PrivateBus() as bus:
        yield bus


@pytest.fixture
def ble_bus(private_bus, tmp_path, monkeypatch) -> PrivateBus:
    """The private bus as the system bus bleak talks to, with a ``bluetoothctl`` that bleak accepts."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "bluetoothctl"
    shim.write_text('#!/bin/sh\necho "bluetoothctl: 5.66"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", private_bus.address)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return private_bus


@pytest.fixture
async def bluez(ble_bus):
    """A fake BlueZ on the private bus; add simulated peripherals to it."""
    from dbus_bms.sim.fake_bluez import FakeBlueZ

    async with FakeBlueZ(ble_bus.address, adv_interval=0.02) as fake:
        yield fake
