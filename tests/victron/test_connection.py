"""A burst of signals larger than the socket buffer must not cost us the connection."""

from __future__ import annotations

import asyncio

from dbus_fast import Message, MessageType

from dbus_bms.victron.connection import connect

BURST = 20_000


async def test_a_burst_that_fills_the_socket_is_sent_whole_and_in_order(private_bus):
    sender = await connect(private_bus.address)
    receiver = await connect(private_bus.address)
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
    await asyncio.wait_for(done.wait(), 60)
    assert got == list(range(BURST))
    assert sender.connected
    sender.disconnect()
    receiver.disconnect()
