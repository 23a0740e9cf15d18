"""The floor under the daemon's CPU per update: the least a Python asyncio process must do for the
same result, measured beside the daemon in one run.

The floor process polls the same simulated JK NW on a pty once a second (raw ``os.write`` and
``loop.add_reader``), cuts the frame out, decodes it with the daemon's own codec, and sends one
ItemsChanged with the paths whose value changed (cell voltages, pack values, temperatures), each as
``{"Value", "Text"}`` the way the daemon does. No checks, no charge control, no history, no service
object tree, no watchdog. Then the real daemon runs with one battery on the same machine. Both are
metered as ``bench_daemon.py`` meters the daemon: CPU of the process and of its bus daemon, from
``/proc/PID/schedstat``, per ItemsChanged received.

With N batteries (``--count``), the floor polls N ptys, each on its own bus connection as the
daemon's services are, all on one tick.

Usage: ``python bench/bench_floor.py [--seconds S] [--python INTERPRETER] [N ...]`` (default 1 16).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import tty
from pathlib import Path

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from bench_daemon import CpuMeter
from dbus_bms.protocols import jk_nw
from dbus_bms.protocols.framing import good_frames
from dbus_bms.sim.bus import PrivateBus, die_with_parent
from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.sim.pty_server import PtyServer
from dbus_bms.sim.serve import make_simulator
from dbus_bms.victron.reader import name_owner, watch_items_changed

FLOOR_SERVICE = "com.victronenergy.battery.floor"


def _values(sample) -> dict[str, float]:
    values = {
        "/Dc/0/Voltage": sample.voltage, "/Dc/0/Current": sample.current, "/Dc/0/Power": sample.power,
        "/Soc": sample.soc, "/Capacity": sample.capacity_remaining, "/Dc/0/Temperature": sample.mosfet_temperature,
    }
    for i, v in enumerate(sample.cell_voltages, 1):
        values[f"/Voltages/Cell{i}"] = v
    for i, t in enumerate(sample.temperatures, 1):
        values[f"/System/Temperature{i}"] = t
    cells = sample.cell_voltages
    values["/System/MaxCellVoltage"], values["/System/MinCellVoltage"] = max(cells), min(cells)
    return values


async def floor_child(ports: list[str], interval: float) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time() + 1.0
    await asyncio.gather(*(floor_battery(i, port, interval, start) for i, port in enumerate(ports)))


async def floor_battery(i: int, port: str, interval: float, start: float) -> None:
    bus = await MessageBus(bus_address=os.environ["DBUS_SESSION_BUS_ADDRESS"]).connect()
    await bus.request_name(f"{FLOOR_SERVICE}{i}")
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    loop = asyncio.get_running_loop()
    last: dict[str, float] = {}
    tick = start
    while True:
        tick += interval
        await asyncio.sleep(max(0.0, tick - loop.time()))
        os.write(fd, jk_nw.READ_ALL_REQUEST)
        rx, got = jk_nw.NwAssembler(), loop.create_future()

        def readable() -> None:
            rx.feed(os.read(fd, 4096))
            for frame in good_frames(rx):
                if not got.done():
                    got.set_result(frame)

        loop.add_reader(fd, readable)
        try:
            frame = await asyncio.wait_for(got, 1.0)
        except TimeoutError:
            continue
        finally:
            loop.remove_reader(fd)
        values = _values(jk_nw.decode(frame))
        changed = {
            path: {"Value": Variant("d", v), "Text": Variant("s", f"{v:.3f}")}
            for path, v in values.items() if v is not None and last.get(path) != v
        }
        last = values
        bus.send(Message(message_type=MessageType.SIGNAL, path="/", interface="com.victronenergy.BusItem",
                         member="ItemsChanged", signature="a{sa{sv}}", body=[changed]))


async def count_signals(bus: MessageBus, owners: set[str], cpu: CpuMeter, seconds: float) -> tuple[float, float, int, float]:
    """(process ms, bus ms) of CPU per ItemsChanged from ``owners``, the count, and items per signal."""
    seen = [0, 0]

    def on_message(msg: Message) -> None:
        if msg.member == "ItemsChanged" and msg.sender in owners:
            seen[0] += 1
            seen[1] += len(msg.body[0])

    bus.add_message_handler(on_message)
    start = CpuMeter(*cpu.pids)
    await asyncio.sleep(seconds)
    daemon_s, bus_s, _ = start.read()
    bus.remove_message_handler(on_message)
    n = max(seen[0], 1)
    return 1000 * daemon_s / n, 1000 * bus_s / n, seen[0], seen[1] / n


async def wait_owner(bus: MessageBus, name: str) -> str:
    for _ in range(2000):
        owner = await name_owner(bus, name)
        if owner is not None:
            return owner
        await asyncio.sleep(0.005)
    raise RuntimeError(f"{name} never appeared")


async def measure_floor(python: str, n: int, seconds: float) -> tuple[float, float, int, float]:
    with tempfile.TemporaryDirectory(prefix="dbus-bms-floor-") as tmp, PrivateBus() as private:
        servers = [PtyServer(make_simulator("jk-nw", seed=i + 1), link=str(Path(tmp) / f"ttyJK{i}")) for i in range(n)]
        ports = [server.start() for server in servers]
        env = {**private.env(), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        child = subprocess.Popen([python, __file__, "--child", *ports], env=env, preexec_fn=die_with_parent)
        bus = await MessageBus(bus_address=private.address).connect()
        try:
            owners = {await wait_owner(bus, f"{FLOOR_SERVICE}{i}") for i in range(n)}
            await watch_items_changed(bus)
            await asyncio.sleep(2.0)
            return await count_signals(bus, owners, CpuMeter(child.pid, private.pid), seconds)
        finally:
            child.kill()
            child.wait()
            bus.disconnect()
            for server in servers:
                server.stop()


async def measure_daemon(python: str, n: int, seconds: float) -> tuple[float, float, int, float]:
    with tempfile.TemporaryDirectory(prefix="dbus-bms-floor-") as tmp, PrivateBus() as private:
        h = DaemonHarness(private, Path(tmp), count=n, extra_config="poll_interval: 1.0", python=python)
        await h.start(log_level="warning")
        assert h.bus is not None and h.proc is not None and private.pid is not None
        try:
            owners = {await wait_owner(h.bus, h.service(i)) for i in range(n)}
            await watch_items_changed(h.bus)
            await asyncio.sleep(2.0)
            return await count_signals(h.bus, owners, CpuMeter(h.proc.pid, private.pid), seconds)
        finally:
            await h.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the floor and the daemon")
    parser.add_argument("--child", nargs="+", metavar="PTY", help=argparse.SUPPRESS)
    parser.add_argument("counts", nargs="*", type=int, default=[1, 16])
    args = parser.parse_args()
    if args.child:
        asyncio.run(floor_child(args.child, 1.0))
        return
    print("1 s poll; CPU ms per ItemsChanged: process + bus daemon = total; items per signal")
    for n in args.counts:
        for label, run in (("floor", measure_floor), ("dbus-bms", measure_daemon)):
            own, bus, signals, items = asyncio.run(run(args.python, n, args.seconds))
            print(f"N={n} {label}: {own:.3f} + {bus:.3f} = {own + bus:.3f} ms ({signals} signals, {items:.1f} items each)",
                  flush=True)


if __name__ == "__main__":
    main()
