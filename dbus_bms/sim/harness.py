"""The real daemon as a child process on a private bus, against simulated JKs: on ptys or behind
simulated RS485-TCP gateways, and over BLE through a fake BlueZ on the same bus.

The demo, the end-to-end tests and the benchmarks all run this same arrangement.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dbus_fast.aio import MessageBus

from ..victron.reader import BATTERY_PREFIX, get_items
from .fake_bluez import FakeBlueZ
from .bus import PrivateBus, die_with_parent
from .jk_ble import JkBlePeripheral, ble_address
from .jk_pb import JkPbBus
from .jk_records import JkRecordSimulator
from .localsettings import LocalSettings
from .pack import SimPack
from .pty_server import PtyServer
from .tcp_server import TcpServer
from .ble_peripheral import Peripheral
from .serve import BLE_PERIPHERALS, make_peripheral, make_simulator

# Where the dbus_bms package lives, so the child finds it however this process was started.
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent

# bleak asks `bluetoothctl --version` once per process and refuses BlueZ versions it does not
# know; the stand-in answers for the fake BlueZ (and keeps a real bluetoothctl out of the test).
_BLUETOOTHCTL = '#!/bin/sh\necho "bluetoothctl: 5.66"\n'


def ble_env(bus_address: str, bin_dir: Path) -> dict[str, str]:
    """The environment that points bleak at a fake BlueZ on ``bus_address``, with the
    ``bluetoothctl`` stand-in put in ``bin_dir``."""
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "bluetoothctl"
    shim.write_text(_BLUETOOTHCTL)
    shim.chmod(0o755)
    return {"DBUS_SYSTEM_BUS_ADDRESS": bus_address, "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}


class DaemonHarness:
    """Private bus + localsettings + simulated JKs (``count`` serial ones named jk0.., on ptys or with
    ``tcp`` behind simulated RS485-TCP gateways; one BLE one per entry of ``ble_layouts`` named
    jkble0..; with ``pb_bus``, each pack of that JK PB bus named pb<address>, all on one pty or one
    gateway, listening when the bus has a master; with ``bus`` (a bus type and its simulated bus),
    each of its packs named <type>_<address>, all on one pty; one battery of each config type in ``families``,
    served by its simulator on a pty or through the fake BlueZ, named by its type (``jbd_ble``; a
    second of a type gets a number) + ``dbus-bms run`` as a subprocess."""

    def __init__(
        self,
        private: PrivateBus,
        tmp: Path,
        *,
        count: int = 1,
        ble_layouts: tuple[str, ...] = (),
        extra_config: str = "",
        ble_config: str = "",
        stop_hold: float | None = 0.2,
        python: str = sys.executable,
        tcp: bool = False,
        pb_bus: JkPbBus | None = None,
        bus: tuple[str, Any] | None = None,
        serial_type: str = "jk-nw",
        families: tuple[str, ...] = (),
        borrow: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.private = private
        # The interpreter that runs the daemon: another venv's, to compare builds of its dependencies.
        self.python = python
        self.tmp = tmp
        self.count = count
        self.extra_config = extra_config
        self.ble_config = ble_config
        # Short by default: every test stops a daemon, and the stop's hold of CCL 0 is tested on its own.
        self.stop_hold = stop_hold
        # The serial BMSes are JK NW ones unless ``serial_type`` names another simulated family.
        self.serial_type = serial_type
        self.sims = [make_simulator(serial_type, seed=i + 1) for i in range(count)]
        for i, sim in enumerate(self.sims):
            if serial_type == "jk-nw":
                sim.device.serial = f"SIM{i:04d}"
        # With ``tcp``, each serial JK sits behind a simulated RS485-TCP gateway instead of on a pty.
        self.servers: list[PtyServer | TcpServer] = [
            TcpServer(sim) if tcp else PtyServer(sim, link=str(tmp / f"ttyJK{i}")) for i, sim in enumerate(self.sims)
        ]
        self.ble_sims = [
            JkBlePeripheral(
                JkRecordSimulator(SimPack(seed=100 + i), layout=layout, serial=f"SIMBLE{i:03d}"),
                address=ble_address(i),
                seed=i + 1,
            )
            for i, layout in enumerate(ble_layouts)
        ]
        self.pb_bus = pb_bus
        self.pb_server: PtyServer | TcpServer | None = None
        self.pb_addresses: list[int] = []
        if pb_bus is not None:
            self.pb_server = TcpServer(pb_bus) if tcp else PtyServer(pb_bus, link=str(tmp / "ttyPB"))
            self.pb_addresses = [0] * (pb_bus.master is not None) + sorted(pb_bus.slaves)
        self.aliases = [f"jk{i}" for i in range(count)] + [f"jkble{i}" for i in range(len(ble_layouts))]
        self.aliases += [f"pb{address}" for address in self.pb_addresses]
        # ``bus``: a bus type and its simulated bus (``packs`` by address), every pack a battery
        # named <type>_<address>, all on one pty.
        self.bus_type, self.bus_sim = bus if bus is not None else ("", None)
        self.bus_server = PtyServer(self.bus_sim, link=str(tmp / "ttyBUS")) if bus is not None else None
        self.bus_aliases = {a: f"{self.bus_type.replace('-', '_')}_{a}" for a in sorted(self.bus_sim.packs)} if bus else {}
        self.aliases += list(self.bus_aliases.values())
        # Per family battery: its config type, and its simulator on a pty or its BLE peripheral.
        self.family_types: dict[str, str] = {}
        self.family_sims: dict[str, Any] = {}
        self.family_servers: dict[str, PtyServer] = {}
        self.family_peripherals: dict[str, Peripheral] = {}
        for kind in families:
            nth = list(self.family_types.values()).count(kind)
            alias = kind.replace("-", "_") + (str(nth) if nth else "")
            self.family_types[alias] = kind
            if kind in BLE_PERIPHERALS:
                index = nth + (len(ble_layouts) if kind == "jk" else 0)
                peripheral = make_peripheral(kind, index=index, seed=200 + len(self.family_types))
                self.family_peripherals[alias] = peripheral
                self.family_sims[alias] = peripheral.bms
            else:
                sim = make_simulator(kind, seed=200 + len(self.family_types))
                self.family_sims[alias] = sim
                self.family_servers[alias] = PtyServer(sim, link=str(tmp / f"tty_{alias}"))
            self.aliases.append(alias)
        # ``borrow``: (family battery alias, source type) pairs; each source a simulated BLE device
        # under that battery's ``borrow:``, its type and peripheral in ``borrowed[alias]``.
        self.borrowed: dict[str, list[tuple[str, Peripheral]]] = {}
        for n, (alias, kind) in enumerate(borrow):
            self.borrowed.setdefault(alias, []).append((kind, make_peripheral(kind, index=n, seed=300 + n)))
        self.bluez: FakeBlueZ | None = None
        self.proc: subprocess.Popen | None = None
        self.bus: MessageBus | None = None
        self.settings: LocalSettings | None = None

    def config_text(self) -> str:
        lines = [f"state_dir: {self.tmp / 'state'}", self.extra_config, "batteries:"]
        if self.stop_hold is not None:
            lines.insert(1, f"stop_hold: {self.stop_hold}")
        for i, server in enumerate(self.servers):
            port = server.address if isinstance(server, TcpServer) else self.tmp / f"ttyJK{i}"
            lines += [f"  - type: {self.serial_type}", f"    port: {port}", f"    alias: jk{i}"]
        for i in range(len(self.ble_sims)):
            lines += ["  - type: jk", f"    address: {ble_address(i)}", f"    alias: jkble{i}"]
            lines += [f"    {line}" for line in self.ble_config.splitlines()]
        if self.pb_server is not None:
            port = self.pb_server.address if isinstance(self.pb_server, TcpServer) else self.tmp / "ttyPB"
            listen = ["    listen: true"] if self.pb_bus is not None and self.pb_bus.master is not None else []
            for address in self.pb_addresses:
                lines += ["  - type: jk-pb", f"    port: {port}", f"    address: {address}", f"    alias: pb{address}", *listen]
        for address, alias in self.bus_aliases.items():
            lines += [f"  - type: {self.bus_type}", f"    port: {self.tmp / 'ttyBUS'}", f"    address: {address}", f"    alias: {alias}"]
        for alias, kind in self.family_types.items():
            peripheral = self.family_peripherals.get(alias)
            where = f"address: {peripheral.address}" if peripheral is not None else f"port: {self.tmp / f'tty_{alias}'}"
            lines += [f"  - type: {kind}", f"    {where}", f"    alias: {alias}"]
            if alias in self.borrowed:
                lines.append("    borrow:")
                for source_type, source in self.borrowed[alias]:
                    lines += [f"      - type: {source_type}", f"        address: {source.address}"]
        return "\n".join(lines) + "\n"

    async def start(self, *, with_settings: bool = True, serve: bool = True, log_level: str = "debug") -> None:
        """Starts localsettings, the simulators (unless ``serve`` is False) and the daemon."""
        self.bus = await MessageBus(bus_address=self.private.address).connect()
        if with_settings:
            await self.start_settings()
        for server in self._all_servers():
            # A gateway listens at once, for its port to be in the config; not serving, it refuses.
            if serve or isinstance(server, TcpServer):
                server.start()
            if not serve and isinstance(server, TcpServer):
                server.refuse(True)
        env = {**self.private.env(), "PYTHONPATH": str(_PACKAGE_ROOT)}
        borrowed = [p for sources in self.borrowed.values() for _, p in sources]
        if self.ble_sims or self.family_peripherals or borrowed:
            self.bluez = FakeBlueZ(self.private.address)
            await self.bluez.start()
            for sim in [*self.ble_sims, *self.family_peripherals.values(), *borrowed]:
                self.bluez.add_peripheral(sim)
            env.update(self.ble_env())
        config = self.tmp / "dbus-bms.yaml"
        config.write_text(self.config_text())
        self.log = open(self.tmp / "daemon.log", "w")
        self.proc = subprocess.Popen(
            [self.python, "-m", "dbus_bms", "run", "--config", str(config), "--log-level", log_level],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )

    def _all_servers(self) -> list[PtyServer | TcpServer]:
        return [*self.servers, *([self.pb_server] if self.pb_server is not None else []),
                *([self.bus_server] if self.bus_server is not None else []), *self.family_servers.values()]

    async def start_settings(self) -> None:
        """Starts the localsettings stand-in: by ``start``, or later, as on a GX where it comes up late."""
        assert self.bus is not None
        self.settings = LocalSettings(self.tmp / "settings.json")
        await self.settings.start(self.bus)

    def ble_env(self) -> dict[str, str]:
        """What a child process needs to reach the fake BlueZ through bleak."""
        return ble_env(self.private.address, self.tmp / "bin")

    def daemon_log(self) -> str:
        self.log.flush()
        return (self.tmp / "daemon.log").read_text()

    async def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while text not in self.daemon_log():
            if loop.time() > end:
                raise AssertionError(f"{text!r} never logged:\n{self.daemon_log()}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            # Waiting without blocking the loop: the fake BlueZ in this process must go on answering
            # while the daemon disconnects from it.
            loop = asyncio.get_running_loop()
            end = loop.time() + 10
            while self.proc.poll() is None and loop.time() < end:
                await asyncio.sleep(0.02)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        for server in self._all_servers():
            server.stop()
        if self.bluez is not None:
            await self.bluez.stop()
        if self.bus is not None:
            self.bus.disconnect()
        self.log.close()

    def service(self, i: int | str = 0) -> str:
        """The bus name of battery ``i`` (or of the battery aliased ``i``): the serial ones first,
        then the BLE ones, the PB packs, the families."""
        return f"{BATTERY_PREFIX}{i if isinstance(i, str) else self.aliases[i]}"

    async def items(self, i: int | str = 0) -> dict[str, Any]:
        assert self.bus is not None
        return await get_items(self.bus, self.service(i))

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], i: int | str = 0, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Polls the published tree until ``predicate`` holds; the bound only guards against a hang."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        last: dict[str, Any] | str = "service never appeared"
        while loop.time() < end:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.daemon_log()}")
            try:
                last = await self.items(i)
            except RuntimeError:
                pass
            else:
                if predicate(last):
                    return last
            await asyncio.sleep(0.1)
        raise AssertionError(f"condition not reached; last published: {last}\n{self.daemon_log()}")
