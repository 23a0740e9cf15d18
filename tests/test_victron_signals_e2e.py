"""End to end: the daemon's change signals as a GX consumer takes them.

The client here subscribes as velib's DbusMonitor does: one match on PropertiesChanged of any
path, one on ItemsChanged of ``/``; it scans a service with GetItems first and ignores signals of
services it has not scanned; it stores each value and drops a change that equals what it holds.

It takes the GetItems replies in its message handler, in the order the bus delivered them: the
bus keeps one sender's messages in order, so a reply shows exactly the changes signalled before it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.victron.reader import name_owner, plain

BUSITEM = "com.victronenergy.BusItem"
UPDATES = 4


class MonitorLikeClient:
    """What DbusMonitor keeps of one service, and every signal and every change it took."""

    def __init__(self, bus: MessageBus, service: str) -> None:
        self.bus = bus
        self.service = service
        self.sender: str | None = None
        self.values: dict[str, Any] | None = None
        self.changes: list[tuple[str, Any]] = []  # each change as the monitor's callback gets it
        self.signals: list[tuple[str, dict[str, Any]]] = []  # (member, {path: value}) as they came
        self.items_changed = asyncio.Event()
        self.count = 0
        self._scans: dict[int, asyncio.Future] = {}

    async def start(self) -> None:
        self.bus.add_message_handler(self._handle)
        for rule in (
            f"type='signal',interface='{BUSITEM}',member='PropertiesChanged'",
            f"type='signal',interface='{BUSITEM}',member='ItemsChanged',path='/'",
        ):
            await self.bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                        interface="org.freedesktop.DBus", member="AddMatch", signature="s", body=[rule]))
        self.sender = await name_owner(self.bus, self.service)
        self.values = dict((await self.scan())[0])

    async def scan(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The service's GetItems, and what the client held when the reply came in."""
        serial = self.bus.next_serial()
        reply = self._scans[serial] = asyncio.get_running_loop().create_future()
        self.bus.send(Message(destination=self.service, path="/", interface=BUSITEM, member="GetItems", serial=serial))
        try:
            return await asyncio.wait_for(reply, 10)
        finally:
            del self._scans[serial]

    def _handle(self, msg: Message) -> None:
        if msg.message_type == MessageType.METHOD_RETURN and msg.reply_serial in self._scans:
            items = {path: plain(entry["Value"]) for path, entry in msg.body[0].items()}
            held = dict(self.values) if self.values is not None else None
            self._scans[msg.reply_serial].set_result((items, held))
            return
        if msg.message_type != MessageType.SIGNAL or msg.interface != BUSITEM or msg.sender != self.sender:
            return
        if self.values is None:
            return  # not scanned yet: the scan's reply holds what this carried
        if msg.member == "ItemsChanged" and msg.path == "/":
            entries = {path: plain(entry["Value"]) for path, entry in msg.body[0].items()}
            self.count += 1
            self.items_changed.set()
        elif msg.member == "PropertiesChanged" and "Value" in msg.body[0]:
            entries = {msg.path: plain(msg.body[0]["Value"])}
        else:
            return
        self.signals.append((msg.member, entries))
        for path, value in entries.items():
            if path in self.values and self.values[path] != value:
                self.values[path] = value
                self.changes.append((path, value))

    async def wait_for_updates(self, n: int) -> None:
        async def enough() -> None:
            while self.count < n:
                self.items_changed.clear()
                await self.items_changed.wait()

        await asyncio.wait_for(enough(), 30)


@pytest.fixture(params=[False, True], ids=["default", "properties_changed"])
async def setup(request, private_bus, tmp_path):
    extra = "poll_interval: 0.2\n" + ("properties_changed: true\n" if request.param else "")
    h = DaemonHarness(private_bus, tmp_path, extra_config=extra)
    await h.start()
    await h.wait_for(lambda items: items.get("/Connected") == 1 and items.get("/Soc") is not None)
    client = MonitorLikeClient(h.bus, h.service())
    await client.start()
    yield h, client, request.param
    await h.stop()


async def test_a_dbusmonitor_like_client_sees_every_change_exactly_once(setup):
    h, client, both = setup
    await client.wait_for_updates(UPDATES)
    # What the client holds when the reply comes must be exactly what the service holds, or it
    # missed a change.
    now, held = await client.scan()
    assert held == now
    items = [entries for member, entries in client.signals if member == "ItemsChanged"]
    per_path = [(member, entries) for member, entries in client.signals if member == "PropertiesChanged"]
    assert len(items) >= UPDATES and all(items)
    changed = [(path, value) for entries in items for path, value in entries.items()]
    if both:
        # Each change twice on the bus, once in ItemsChanged and once on its own path ...
        assert sorted(changed, key=repr) == sorted(((p, v) for _, e in per_path for p, v in e.items()), key=repr)
    else:
        # ... or once, in ItemsChanged only.
        assert per_path == []
    # Either way the monitor takes each change once: every ItemsChanged entry was a real change.
    assert client.changes == changed


async def test_the_paths_a_gx_reads_besides_the_limits(setup):
    h, _, _ = setup
    items = await h.items()
    assert items["/State"] == 9  # running
    assert items["/Info/ChargeRequest"] == 0
    assert items["/Info/BatteryLowVoltage"] == pytest.approx(16 * 2.90)  # 16 cells × cell_min_voltage
    assert (items["/System/NrOfBatteries"], items["/System/BatteriesParallel"], items["/System/BatteriesSeries"]) == (1, 1, 1)
    assert "/ErrorCode" not in items
