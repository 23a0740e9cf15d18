"""Shared fixtures: a private dbus-daemon per test and the recorded frames of ../shared."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbus_bms.sim.bus import PrivateBus
from dbus_bms.sim.harness import ble_env

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
    for name, value in ble_env(private_bus.address, tmp_path / "bin").items():
        monkeypatch.setenv(name, value)
    return private_bus


@pytest.fixture
async def bluez(ble_bus):
    """A fake BlueZ on the private bus; add simulated peripherals to it."""
    from dbus_bms.sim.fake_bluez import FakeBlueZ

    async with FakeBlueZ(ble_bus.address, adv_interval=0.02) as fake:
        yield fake
