"""The real daemon as a child process on a private bus, against simulated JKs on ptys.

The demo, the end-to-end tests and the benchmarks all run this same arrangement.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dbus_fast.aio import MessageBus

from ..victron.reader import BATTERY_PREFIX, get_items
from .bus import PrivateBus, die_with_parent
from .localsettings import LocalSettings
from .pty_server import PtyServer
from .serve import make_simulator

# Where the dbus_bms package lives, so the child finds it however this process was started.
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent


class DaemonHarness:
    """Private bus + localsettings + N simulated JKs + ``dbus-bms run`` as a subprocess."""

    def __init__(self, private: PrivateBus, tmp: Path, *, count: int = 1, extra_config: str = "") -> None:
        self.private = private
        self.tmp = tmp
        self.count = count
        self.extra_config = extra_config
        self.sims = [make_simulator("jk-nw", seed=i + 1) for i in range(count)]
        for i, sim in enumerate(self.sims):
            sim.device.serial = f"SIM{i:04d}"
        self.servers = [PtyServer(sim, link=str(tmp / f"ttyJK{i}")) for i, sim in enumerate(self.sims)]
        self.proc: subprocess.Popen | None = None
        self.bus: MessageBus | None = None
        self.settings: LocalSettings | None = None

    def config_text(self) -> str:
        lines = [f"state_dir: {self.tmp / 'state'}", self.extra_config, "batteries:"]
        for i in range(self.count):
            lines += [f"  - type: jk-nw", f"    port: {self.tmp / f'ttyJK{i}'}", f"    alias: jk{i}"]
        return "\n".join(lines) + "\n"

    async def start(self, *, with_settings: bool = True, serve: bool = True, log_level: str = "debug") -> None:
        """Starts localsettings, the simulators (unless ``serve`` is False) and the daemon."""
        self.bus = await MessageBus(bus_address=self.private.address).connect()
        if with_settings:
            self.settings = LocalSettings(self.tmp / "settings.json")
            await self.settings.start(self.bus)
        if serve:
            for server in self.servers:
                server.start()
        config = self.tmp / "dbus-bms.yaml"
        config.write_text(self.config_text())
        self.log = open(self.tmp / "daemon.log", "w")
        env = {**self.private.env(), "PYTHONPATH": str(_PACKAGE_ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dbus_bms", "run", "--config", str(config), "--log-level", log_level],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )

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
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for server in self.servers:
            server.stop()
        if self.bus is not None:
            self.bus.disconnect()
        self.log.close()

    def service(self, i: int = 0) -> str:
        return f"{BATTERY_PREFIX}jk{i}"

    async def items(self, i: int = 0) -> dict[str, Any]:
        assert self.bus is not None
        return await get_items(self.bus, self.service(i))

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], i: int = 0, timeout: float = 30.0) -> dict[str, Any]:
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
