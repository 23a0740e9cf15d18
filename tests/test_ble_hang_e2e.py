"""End to end: a BLE step that hangs cannot hold a charge limit up. ``dbus-bms run`` as a child
process reads a JK through the real bleak and the fake BlueZ; first the JK's Connect never returns
after it dropped the link, then bluetoothd stops answering altogether. Each time the fail-safe must
be on D-Bus within the bound the product promises (``stale_after`` + 1 s after the last reading),
the link text must age truly, and the battery must come back once the fault clears.

The bound is a time bound by nature, so this test measures one, on this process's event-loop
clock (the fake BlueZ and the simulated JK run on it): the last reading the daemon can have taken
came from the JK's last notification before the fault, at most one poll interval after it.
"""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from dbus_bms.app import LINK_TEXT_REFRESH, WATCHDOG_TICK
from dbus_bms.sim.harness import DaemonHarness

POLL_INTERVAL = 0.5
STALE_AFTER = 3.0
PROMISE = STALE_AFTER + 1.0  # the README's bound, from the last reading to the fail-safe on D-Bus
MARGIN = 0.5  # scheduling of two processes and of this test's own look every LOOK s
LOOK = 0.05
CONFIG = f"poll_interval: {POLL_INTERVAL}\ncharge:\n  stale_after: {STALE_AFTER}\n"

log = logging.getLogger(__name__)


@pytest.fixture
async def daemon(private_bus, tmp_path):
    # A reply timeout under stale_after: a stalled stream is then seen as a timeout within the bound.
    h = DaemonHarness(
        private_bus, tmp_path, count=0, ble_layouts=("32s",), extra_config=CONFIG, ble_config="timeout: 1"
    )
    await h.start()
    yield h
    await h.stop()


def online(items) -> bool:
    return items.get("/Connected") == 1 and items.get("/Soc") is not None and items.get("/Alarms/BmsCable") == 0


def fail_safe(items) -> bool:
    return (
        items.get("/Info/MaxChargeCurrent") == 0
        and items.get("/Io/AllowToCharge") == 0
        and items.get("/Connected") == 0
        and items.get("/Alarms/BmsCable") == 2
    )


def link_age(items) -> int:
    return int(re.search(r"last reading (\d+) s ago", items["/Mgmt/Connection"]).group(1))


async def watch_fault(h: DaemonHarness, last_notified: float, what: str) -> float:
    """Looks at the battery until its fail-safe has been on for a while; checks the link text's age
    on every look. Returns the delay from the last notification to the fail-safe on D-Bus."""
    loop = asyncio.get_running_loop()
    tripped: float | None = None
    ages: list[int] = []
    # The text is as old as its last publish (the watchdog refreshes it), and the reading itself
    # came up to one poll after the notification; rounded to whole seconds.
    lag = LINK_TEXT_REFRESH + WATCHDOG_TICK + POLL_INTERVAL + MARGIN + 0.5
    while tripped is None or loop.time() - tripped < 2.0:
        items = await h.items(0)
        now = loop.time()
        true_age = now - last_notified
        ages.append(link_age(items))
        assert true_age - lag <= ages[-1] <= true_age + 0.5, f"{what}: text {ages[-1]} s, truly {true_age:.1f} s"
        if tripped is None and fail_safe(items):
            tripped = now
        assert true_age < 30, f"{what}: no fail-safe after {true_age:.0f} s: {items}\n{h.daemon_log()}"
        await asyncio.sleep(LOOK)
    assert ages[-1] >= ages[0] + 3, f"{what}: the age of the last reading did not grow: {ages}"
    return tripped - last_notified


async def recovers(h: DaemonHarness, what: str) -> None:
    items = await h.wait_for(online, 0, timeout=40)
    assert link_age(items) <= 1, f"{what}: {items['/Mgmt/Connection']}"


async def test_a_hung_connect_and_a_hung_bluetoothd_trip_the_fail_safe_in_time_and_recover(daemon):
    h = daemon
    sim = h.ble_sims[0]
    loop = asyncio.get_running_loop()
    await h.wait_for(online, 0)

    # The JK drops the link and then never completes a connect.
    sim.connect_hangs = True
    last = sim.last_notified
    fault_on = loop.time()
    sim.drop_connection()
    delay = await watch_fault(h, last, "hung connect")
    log.info("hung connect: fail-safe %.2f s after the last notification, %.2f s after the fault on",
             delay, delay - (fault_on - last))
    assert delay <= PROMISE + MARGIN
    sim.connect_hangs = False
    await recovers(h, "after the hung connect")

    # bluetoothd stops answering anything, with the link up.
    last = sim.last_notified
    fault_on = loop.time()
    h.bluez.hang()
    delay = await watch_fault(h, last, "bluetoothd hung")
    log.info("bluetoothd hung: fail-safe %.2f s after the last notification, %.2f s after the fault on",
             delay, delay - (fault_on - last))
    assert delay <= PROMISE + MARGIN
    h.bluez.resume()
    await recovers(h, "after bluetoothd resumed")
    assert h.proc.poll() is None
