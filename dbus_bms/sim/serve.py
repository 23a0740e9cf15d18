"""``dbus-bms simulate``: a simulated BMS served until interrupted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .faults import Fault
from .jk_nw import JkNwSimulator
from .pack import SimPack
from .pty_server import PtyServer

SIMULATORS: dict[str, Callable[[SimPack], object]] = {
    "jk-nw": lambda pack: JkNwSimulator(pack),
}


def make_simulator(kind: str, *, cells: int = 16, seed: int = 1):
    """A simulated BMS of ``kind`` on a fresh pack of ``cells`` cells."""
    return SIMULATORS[kind](SimPack(cells=cells, seed=seed))


async def serve_pty(kind: str, *, link: str | None = None, fault: Fault = Fault.NONE, cells: int = 16) -> None:
    sim = make_simulator(kind, cells=cells)
    sim.fault = fault
    server = PtyServer(sim, link=link)
    path = server.start()
    print(path, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        server.stop()
