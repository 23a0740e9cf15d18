"""The simulated line that streams garbage whatever the host asks, as the benchmark drives it."""

from __future__ import annotations

import asyncio
import os

from dbus_bms.sim.pty_server import PtyServer
from dbus_bms.sim.serve import make_simulator


async def read_until(fd: int, count: int) -> bytes:
    """Reads the host side until ``count`` bytes came; the bound only guards against a hang."""
    got = bytearray()
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while len(got) < count and loop.time() < end:
        try:
            got += os.read(fd, 65536)
        except BlockingIOError:
            await asyncio.sleep(0.005)
    return bytes(got)


def drain(fd: int) -> int:
    n = 0
    try:
        while True:
            n += len(os.read(fd, 65536))
    except BlockingIOError:
        return n


async def test_a_stream_flows_unasked_at_line_rate_and_flat_out_and_stops() -> None:
    server = PtyServer(make_simulator("jk-nw", seed=1))
    fd = os.open(server.start(), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        for rate, count in ((11520, 200), (None, 100_000)):
            server.stream_garbage(rate, seed=3)
            received = len(await read_until(fd, count))
            assert received >= count
            server.stop_garbage()
            received += drain(fd)  # what was written before the stop is still in the pty
            # A write cut short by the stop may have gone out uncounted.
            assert server.garbage_sent <= received <= server.garbage_sent + 4096
            await asyncio.sleep(0.05)
            assert drain(fd) == 0, "bytes still arrive after the stream stopped"
    finally:
        os.close(fd)
        server.stop()
