"""``dbus-bms simulate``: a simulated BMS served until interrupted, on a pty or over BLE."""

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
BLE_SIMULATORS = ("jk",)


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
