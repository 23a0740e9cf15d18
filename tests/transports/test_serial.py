"""The real serial transport against a pseudo-terminal: bytes both ways, timeouts, a vanishing port."""

from __future__ import annotations

import asyncio
import os
import tty

import pytest

from dbus_bms.transports.errors import TransportError
from dbus_bms.transports.serial import SerialTransport
from dbus_bms.transports.stream import FREE_READS


class PtyPeer:
    """The far end of a serial line: a pty master we read and write by hand, reachable via a symlink."""

    def __init__(self, link: str) -> None:
        self.link = link
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.ttyname(self.slave), link)

    async def read(self, n: int, timeout: float = 5.0) -> bytes:
        got = b""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while len(got) < n and loop.time() < end:
            try:
                got += os.read(self.master, n - len(got))
            except BlockingIOError:
                await asyncio.sleep(0.005)
        return got

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def unplug(self) -> None:
        os.close(self.master)
        os.close(self.slave)
        os.unlink(self.link)


@pytest.fixture
def link(tmp_path):
    return str(tmp_path / "ttyTEST")


async def test_bytes_flow_both_ways(link):
    peer = PtyPeer(link)
    t = SerialTransport(link)
    await t.write(b"\x4e\x57hello")
    assert await peer.read(7) == b"\x4e\x57hello"
    peer.write(b"reply")
    assert await t.read(2.0) == b"reply"
    await t.close()
    peer.unplug()


async def test_read_times_out_when_nothing_arrives(link):
    peer = PtyPeer(link)
    t = SerialTransport(link)
    await t.open()
    with pytest.raises(TimeoutError):
        await t.read(0.05)
    await t.close()
    peer.unplug()


async def test_missing_port_is_a_transport_error(tmp_path):
    t = SerialTransport(str(tmp_path / "nothing-here"))
    with pytest.raises(TransportError, match="cannot open"):
        await t.open()


async def test_unplug_and_replug_is_survived(link):
    peer = PtyPeer(link)
    t = SerialTransport(link)
    await t.write(b"a")
    assert await peer.read(1) == b"a"
    peer.unplug()
    with pytest.raises(TransportError):
        await t.read(2.0)
    assert not t.is_open
    with pytest.raises(TransportError):
        await t.write(b"b")  # still unplugged: re-open fails cleanly

    peer = PtyPeer(link)  # plugged back: a new tty behind the same name
    await t.write(b"c")
    assert await peer.read(1) == b"c"
    peer.write(b"d")
    assert await t.read(2.0) == b"d"
    assert t.opens == 2
    await t.close()
    peer.unplug()


async def test_a_port_in_use_by_another_program_is_refused(link):
    peer = PtyPeer(link)
    first, second = SerialTransport(link), SerialTransport(link)
    await first.open()
    with pytest.raises(TransportError, match="cannot open"):
        await second.open()
    await first.close()
    await second.open()  # free again
    await second.close()
    peer.unplug()


async def test_unasked_bytes_can_be_discarded(link):
    peer = PtyPeer(link)
    t = SerialTransport(link)
    await t.open()
    peer.write(b"noise")
    dropped = 0
    for _ in range(500):
        dropped += t.discard_input()
        if dropped >= 5:
            break
        await asyncio.sleep(0.01)
    assert dropped == 5
    with pytest.raises(TimeoutError):
        await t.read(0.05)
    await t.close()
    peer.unplug()


async def test_a_trickling_line_wakes_the_reader_once_per_gather_period(link):
    """Bytes that trickle in one at a time (noise, or a slow reply) are collected by the kernel
    between reads: past the first few after the request, each read waits ``gather`` after the one
    before, so the reads are bounded by the time taken, not by the bytes (one per byte without it)."""
    peer = PtyPeer(link)
    t = SerialTransport(link, baudrate=9600)
    assert t.gather == pytest.approx(64 * 10 / 9600)
    await t.write(b"?")
    loop = asyncio.get_running_loop()

    async def trickle() -> None:
        for i in range(150):
            peer.write(bytes([i]))
            await asyncio.sleep(0.002)

    writer = asyncio.create_task(trickle())
    start, got, reads = loop.time(), b"", 0
    while len(got) < 150:
        got += await t.read(5.0)
        reads += 1
    elapsed = loop.time() - start
    await writer
    assert got == bytes(range(150))
    assert reads <= FREE_READS + elapsed / t.gather
    assert reads < 150 / 2
    await t.close()
    peer.unplug()
