"""End to end: how ``dbus-bms run`` ends. A lost bus ends it at once with a failure status (so
daemontools starts it again); a SIGTERM first tells the GX to stop charging."""

from __future__ import annotations

import asyncio

import pytest
from dbus_fast import Message

from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.victron.busitem import BUSITEM, unwrap

FAST = "poll_interval: 0.2\ncharge:\n  stale_after: 2.0\n  current_recovery_hold: 1.0\n"


def online(items):
    return items.get("/Connected") == 1 and (items.get("/Info/MaxChargeCurrent") or 0) > 0


async def add_match(bus, rule: str) -> None:
    await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                           interface="org.freedesktop.DBus", member="AddMatch", signature="s", body=[rule]))


async def exit_after_bus_killed(h: DaemonHarness) -> tuple[int, float]:
    loop = asyncio.get_running_loop()
    h.private.kill()
    killed = loop.time()
    while h.proc.poll() is None and loop.time() - killed < 10:
        await asyncio.sleep(0.01)
    return h.proc.returncode, loop.time() - killed


@pytest.mark.parametrize("when", ["before the first reading", "after the first reading"])
async def test_the_bus_dying_ends_the_daemon_with_a_failure_status_within_2_s(private_bus, tmp_path, when):
    h = DaemonHarness(private_bus, tmp_path, extra_config=FAST)
    first = when == "after the first reading"
    await h.start(serve=first)
    try:
        if first:
            await h.wait_for(online)
        else:
            await h.wait_for_log("no reading from the BMS")
        status, took = await exit_after_bus_killed(h)
        assert status not in (None, 0), h.daemon_log()
        assert took < 2.0, f"exited {took:.2f} s after the bus died"
        assert "D-Bus connection closed" in h.daemon_log()
    finally:
        h.bus = None  # its bus is gone with the daemon
        await h.stop()


async def test_sigterm_publishes_no_charging_before_the_name_leaves_the_bus(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, extra_config=FAST, stop_hold=None)  # the default hold
    await h.start()
    try:
        before = await h.wait_for(online)
        seen: list[tuple[float, str, object]] = []
        loop = asyncio.get_running_loop()
        name = h.service()

        def record(msg):
            if msg.member == "ItemsChanged" and msg.interface == BUSITEM:
                for path in ("/Info/MaxChargeCurrent", "/Io/AllowToCharge", "/Info/MaxDischargeCurrent"):
                    if path in msg.body[0]:
                        seen.append((loop.time(), path, unwrap(msg.body[0][path]["Value"])))
            elif msg.member == "NameOwnerChanged" and msg.body[0] == name and not msg.body[2]:
                seen.append((loop.time(), "gone", None))

        h.bus.add_message_handler(record)
        for rule in (f"type='signal',interface='{BUSITEM}',member='ItemsChanged'",
                     f"type='signal',member='NameOwnerChanged',arg0='{name}'"):
            await add_match(h.bus, rule)
        h.proc.terminate()
        sent = loop.time()
        end = loop.time() + 15
        while not any(p == "gone" for _, p, _ in seen) and loop.time() < end:
            await asyncio.sleep(0.02)
        seen = [entry for entry in seen if entry[0] >= sent]
        paths = [p for _, p, _ in seen]
        assert "gone" in paths, seen
        gone_at = next(t for t, p, _ in seen if p == "gone")
        ccl_zero = [t for t, p, v in seen if p == "/Info/MaxChargeCurrent" and v == 0]
        assert ccl_zero and ccl_zero[0] < gone_at, seen
        assert any(p == "/Io/AllowToCharge" and v == 0 and t < gone_at for t, p, v in seen), seen
        # Discharge is left as it was, so the house stays up; and DVCC had its 3 s to forward the 0.
        assert not any(p == "/Info/MaxDischargeCurrent" for _, p, _ in seen), seen
        assert before["/Info/MaxDischargeCurrent"] > 0
        assert gone_at - ccl_zero[0] >= 2.5
        h.proc.wait(timeout=10)
        assert h.proc.returncode == 0, h.daemon_log()
    finally:
        await h.stop()
