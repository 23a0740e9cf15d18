"""``dbus-bms simulate``: a simulated BMS served until interrupted, on a pty, over TCP or over BLE."""

from __future__ import annotations

import asyncio

from .ant import AntSimulator
from .daly import DalySimulator
from .faults import Fault
from .jbd import JbdSimulator
from .jk_nw import JkNwSimulator
from .jk_pb import JkPbBus
from .pack import SimPack
from .pty_server import PtyServer
from .seplos import SeplosSimulator

SIMULATORS = ("jk-nw", "jk-pb", "jbd", "daly", "seplos", "ant", "ant-legacy")
BLE_SIMULATORS = ("jk",)


def make_simulator(kind: str, *, cells: int = 16, seed: int = 1, packs: int = 3, master: bool = False):
    """A simulated BMS of ``kind`` on fresh packs of ``cells`` cells: one JK NW, or for ``jk-pb``
    a bus of ``packs`` packs (at 1.., or with ``master`` a master at 0 and slaves at 1..)."""
    if kind == "jk-pb":
        return JkPbBus.with_packs(packs, master=master, cells=cells, seed=seed)
    if kind == "jk-nw":
        return JkNwSimulator(SimPack(cells=cells, seed=seed))
    if kind == "jbd":
        return JbdSimulator(SimPack(cells=cells, seed=seed))
    if kind == "daly":
        return DalySimulator(SimPack(cells=cells, seed=seed))
    if kind == "seplos":
        return SeplosSimulator(SimPack(cells=cells, seed=seed))
    if kind in ("ant", "ant-legacy"):
        return AntSimulator(SimPack(cells=cells, seed=seed), legacy=kind == "ant-legacy")
    raise ValueError(f"unknown simulator {kind!r}; known: {', '.join(SIMULATORS)}")


async def serve_pty(
    kind: str, *, link: str | None = None, fault: Fault = Fault.NONE, cells: int = 16, packs: int = 3, master: bool = False
) -> None:
    sim = make_simulator(kind, cells=cells, packs=packs, master=master)
    sim.fault = fault
    server = PtyServer(sim, link=link)
    path = server.start()
    print(path, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        server.stop()


async def serve_tcp(
    kind: str, *, port: int = 0, fault: Fault = Fault.NONE, cells: int = 16, fragment: bool = False,
    packs: int = 3, master: bool = False,
) -> None:
    """Serves a simulated BMS as an RS485-TCP gateway on 127.0.0.1:``port`` (0: a free one); prints
    the address a config names, then serves until cancelled."""
    from .tcp_server import TcpServer

    sim = make_simulator(kind, cells=cells, packs=packs, master=master)
    sim.fault = fault
    server = TcpServer(sim, port=port, fragment=fragment)
    print(server.start(), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        server.stop()


async def serve_ble(
    *, layout: str = "32s", bus_address: str | None = None, fault: Fault = Fault.NONE, cells: int = 16
) -> None:
    """Serves a simulated BLE JK through a fake BlueZ: on ``bus_address``, else on a private bus of
    its own. Prints the bus address and the device's MAC, then serves until cancelled."""
    from .fake_bluez import FakeBlueZ
    from .bus import PrivateBus
    from .jk_ble import JkBlePeripheral, ble_address
    from .jk_records import JkRecordSimulator

    model = JkRecordSimulator(SimPack(cells=cells), layout=layout)
    model.fault = fault
    sim = JkBlePeripheral(model, address=ble_address(0))
    private = PrivateBus() if bus_address is None else None
    address = private.start() if private is not None else bus_address
    try:
        async with FakeBlueZ(address) as bluez:
            bluez.add_peripheral(sim)
            print(f"DBUS_SYSTEM_BUS_ADDRESS={address}", flush=True)
            print(f"{sim.address} {sim.name} (JK, {layout} layout)", flush=True)
            await asyncio.Event().wait()
    finally:
        if private is not None:
            private.stop()
