"""Shared fixtures: a private dbus-daemon per test and the recorded frames of ../shared."""

from __future__ import annotations

import json
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
