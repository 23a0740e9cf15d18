"""``dbus-bms simulate``: a simulated BMS served until interrupted, on a pty, over TCP or over BLE."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from .ant import AntSimulator, ant_ble_module
from .ble_peripheral import Peripheral
from .cbtpwr import cbtpwr_ble_module, cbtpwr_vb_ble_module
from .daly import DalySimulator, daly_ble_module
from .faults import Fault
from .jbd import JbdSimulator, jbd_ble_module
from .jbd_up import JbdUpBus
from .jk_nw import JkNwSimulator
from .jk_pb import JkPbBus
from .neey import neey_peripheral
from .pack import SimPack
from .pty_server import PtyServer
from .seplos import SeplosSimulator
from .seplos_ble import seplos_ble_module
from .seplos_v3 import SeplosV3Bus
from .smartshunt import smartshunt_peripheral
from .sok import sok_ble_module
from .supervolt import supervolt_ble_module

SIMULATORS = ("jk-nw", "jk-pb", "jbd", "daly", "seplos", "seplos-v3", "jbd-up", "ant", "ant-legacy")


def make_simulator(kind: str, *, cells: int = 16, seed: int = 1, packs: int = 3, master: bool = False):
    """A simulated BMS of ``kind`` on fresh packs of ``cells`` cells: one JK NW, or for ``jk-pb``
    a bus of ``packs`` packs (at 1.., or with ``master`` a master at 0 and slaves at 1..); for
    ``seplos-v3`` and ``jbd-up`` a bus of ``packs`` packs at 1.."""
    if kind == "jk-pb":
        return JkPbBus.with_packs(packs, master=master, cells=cells, seed=seed)
    if kind == "seplos-v3":
        return SeplosV3Bus.with_packs(packs, cells=cells, seed=seed)
    if kind == "jbd-up":
        return JbdUpBus.with_packs(packs, cells=cells, seed=seed)
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


def _jk_peripheral(index: int, *, cells: int, seed: int, layout: str = "32s") -> Peripheral:
    from .jk_ble import JkBlePeripheral, ble_address
    from .jk_records import JkRecordSimulator

    model = JkRecordSimulator(SimPack(cells=cells, seed=seed), layout=layout, serial=f"SIMBLE{index:03d}")
    return JkBlePeripheral(model, address=ble_address(index), seed=seed)


# The simulated BLE BMS of each BLE ``type:``: number ``index`` of its kind, on a fresh pack. Each
# family's MAC lies in a block of its own, so several families can share one fake BlueZ.
BLE_PERIPHERALS: dict[str, Callable[..., Peripheral]] = {
    "jk": _jk_peripheral,
    "jbd-ble": jbd_ble_module,
    "ant-ble": ant_ble_module,
    "daly-ble": daly_ble_module,
    "seplos-ble": seplos_ble_module,
    "neey-ble": neey_peripheral,
    "cbtpwr-ble": cbtpwr_ble_module,
    "cbtpwr-vb-ble": cbtpwr_vb_ble_module,
    "sok-ble": sok_ble_module,
    "supervolt-ble": supervolt_ble_module,
    "smartshunt-ble": smartshunt_peripheral,
}


BLE_SIMULATORS = tuple(BLE_PERIPHERALS)


def make_peripheral(kind: str, *, index: int = 0, cells: int = 16, seed: int = 1, **options: str) -> Peripheral:
    """Simulated BLE BMS number ``index`` of the BLE type ``kind``, for the fake BlueZ; ``options``
    are the family's own (a JK's ``layout``). Its simulated BMS is its ``bms``."""
    try:
        make = BLE_PERIPHERALS[kind]
    except KeyError:
        raise ValueError(f"no simulated BLE BMS of type {kind!r}; known: {', '.join(BLE_PERIPHERALS)}") from None
    return make(index, cells=cells, seed=seed, **options)


def stop_signals() -> asyncio.Event:
    """An event SIGINT and SIGTERM set from now on, so a simulator stopped either way removes what
    it made (its link, its private bus); taken before the simulator says where it serves."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve_pty(
    kind: str, *, link: str | None = None, fault: Fault = Fault.NONE, cells: int = 16, packs: int = 3, master: bool = False
) -> None:
    stopped = stop_signals()
    sim = make_simulator(kind, cells=cells, packs=packs, master=master)
    sim.fault = fault
    server = PtyServer(sim, link=link)
    path = server.start()
    print(path, flush=True)
    try:
        await stopped.wait()
    finally:
        server.stop()


async def serve_tcp(
    kind: str, *, port: int = 0, fault: Fault = Fault.NONE, cells: int = 16, fragment: bool = False,
    packs: int = 3, master: bool = False,
) -> None:
    """Serves a simulated BMS as an RS485-TCP gateway on 127.0.0.1:``port`` (0: a free one); prints
    the address a config names, then serves until SIGINT or SIGTERM."""
    from .tcp_server import TcpServer

    stopped = stop_signals()
    sim = make_simulator(kind, cells=cells, packs=packs, master=master)
    sim.fault = fault
    server = TcpServer(sim, port=port, fragment=fragment)
    print(server.start(), flush=True)
    try:
        await stopped.wait()
    finally:
        server.stop()


async def serve_ble(
    kind: str = "jk", *, layout: str = "32s", bus_address: str | None = None, fault: Fault = Fault.NONE, cells: int = 16
) -> None:
    """Serves a simulated BLE BMS of type ``kind`` (a JK in ``layout``) through a fake BlueZ: on
    ``bus_address``, else on a private bus of its own. Prints the bus address and the device's MAC,
    then serves until SIGINT or SIGTERM."""
    from .fake_bluez import FakeBlueZ
    from .bus import PrivateBus

    stopped = stop_signals()
    sim = make_peripheral(kind, cells=cells, **({"layout": layout} if kind == "jk" else {}))
    sim.bms.fault = fault
    private = PrivateBus() if bus_address is None else None
    address = private.start() if private is not None else bus_address
    try:
        async with FakeBlueZ(address) as bluez:
            bluez.add_peripheral(sim)
            print(f"DBUS_SYSTEM_BUS_ADDRESS={address}", flush=True)
            print(f"{sim.address} {sim.name} ({kind}{f', {layout} layout' if kind == 'jk' else ''})", flush=True)
            await stopped.wait()
    finally:
        if private is not None:
            private.stop()
