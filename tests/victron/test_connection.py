"""A bus that reads more slowly than we write must not cost us the connection.

dbus-fast takes EAGAIN from the socket as a fatal error; victron.connection makes it wait for the
socket to drain instead. This test fails with a dbus-fast whose writer still does that and whose
internals the patch no longer reaches. A burst straight at the bus daemon does not show it: the
daemon, in a process of its own, drains the socket while we write, on a machine with a core free.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

from dbus_fast import Message, MessageType

from dbus_bms.victron.connection import connect

BURST = 20_000


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunk: int) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(chunk):
            writer.write(data)
            await writer.drain()
    writer.close()


class SlowBus:
    """A relay in front of the bus daemon, run by this test's own event loop: while our writer
    fills the socket nothing reads it, and then it is read a few KiB at a time. A bus daemon in
    another process (the GX's own, busy) drains it meanwhile only when it has the time to."""

    def __init__(self, daemon_address: str, socket_path: Path) -> None:
        match = re.search(r"path=([^,;]+)", daemon_address)
        assert match, daemon_address
        self.daemon_path = match.group(1)
        self.path = socket_path
        self.address = f"unix:path={socket_path}"
        self.server: asyncio.AbstractServer | None = None
        self.pumps: set[asyncio.Task] = set()

    async def __aenter__(self) -> SlowBus:
        self.server = await asyncio.start_unix_server(self._relay, path=str(self.path))
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.pumps:
            task.cancel()
        await asyncio.gather(*self.pumps, return_exceptions=True)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        daemon_r, daemon_w = await asyncio.open_unix_connection(self.daemon_path)
        for task in (_pump(client_r, daemon_w, 4096), _pump(daemon_r, client_w, 65536)):
            t = asyncio.create_task(task)
            self.pumps.add(t)
            t.add_done_callback(self.pumps.discard)


async def _burst_arrives(sender_address: str, receiver_address: str) -> None:
    """A burst far larger than the socket buffer arrives whole and in order, the sender still connected."""
    sender = await connect(sender_address)
    receiver = await connect(receiver_address)
    got: list[int] = []
    done = asyncio.Event()

    def on_signal(msg: Message) -> None:
        if msg.message_type == MessageType.SIGNAL and msg.member == "Tick":
            got.append(msg.body[0])
            if len(got) == BURST:
                done.set()

    receiver.add_message_handler(on_signal)
    await receiver.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                interface="org.freedesktop.DBus", member="AddMatch", signature="s",
                                body=["type='signal',member='Tick'"]))
    for i in range(BURST):  # no await in between: the socket fills long before the loop ends
        sender.send(Message.new_signal("/x", "com.example.Test", "Tick", "i", [i]))
    lost = asyncio.ensure_future(sender.wait_for_disconnect())
    arrived = asyncio.ensure_future(done.wait())
    await asyncio.wait([lost, arrived], timeout=60, return_when=asyncio.FIRST_COMPLETED)
    assert not lost.done(), "the connection was closed under the burst"
    assert got == list(range(BURST))
    lost.cancel()
    sender.disconnect()
    receiver.disconnect()


async def test_a_bus_that_reads_slowly_keeps_the_connection(private_bus, tmp_path):
    async with SlowBus(private_bus.address, tmp_path / "slow.sock") as slow:
        await _burst_arrives(slow.address, private_bus.address)
