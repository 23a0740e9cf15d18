"""End to end: the daemon started on a bus without localsettings, which comes only well after the
daemon stopped waiting for it (a GX where localsettings is slow to start): the battery moves to
localsettings' device instance and keeps the name its owner set meanwhile."""

from __future__ import annotations

import asyncio
import json

from dbus_fast import Message, Variant

from dbus_bms.sim.harness import DaemonHarness

FAST = "settings_wait: 2\npoll_interval: 0.2\ncharge:\n  stale_after: 2.0\n"
# When localsettings comes: three times the daemon's wait for it, past several polls and past the
# fail-safe's bound, so nothing of the start is still pending then.
LATE = 6.0
# The daemon's own fallback for its first battery is 512; with these batteries already known,
# localsettings hands out 520, so a battery still on the fallback cannot pass for a moved one.
KNOWN = {f"/Settings/Devices/other{i}/ClassAndVrmInstance": f"battery:{512 + i}" for i in range(8)}


def online(items):
    return items.get("/Connected") == 1 and items.get("/Soc") is not None


async def test_localsettings_appearing_long_after_the_daemon(private_bus, tmp_path):
    (tmp_path / "settings.json").write_text(json.dumps(KNOWN))
    h = DaemonHarness(private_bus, tmp_path, extra_config=FAST)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await h.start(with_settings=False)
    try:
        items = await h.wait_for(online)
        assert items["/DeviceInstance"] == 512 and items["/CustomName"] == ""
        assert h.bus is not None
        reply = await h.bus.call(Message(destination=h.service(), path="/CustomName",
                                         interface="com.victronenergy.BusItem", member="SetValue", signature="v",
                                         body=[Variant("s", "Shed bank")]))
        assert reply.body == [0]
        await asyncio.sleep(started + LATE - loop.time())
        await h.start_settings()
        items = await h.wait_for(lambda it: it.get("/DeviceInstance") == 520)
        assert items["/CustomName"] == "Shed bank" and online(items)
        assert h.settings is not None
        names = {p: v for p, v in h.settings.tree.values().items() if p.endswith("/CustomName")}
        assert list(names.values()) == ["Shed bank"]
        assert "not on the bus after 2 s" in h.daemon_log()
        await h.wait_for_log("moved to localsettings")
    finally:
        await h.stop()
