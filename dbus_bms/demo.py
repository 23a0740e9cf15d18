"""``dbus-bms demo``: the real daemon against two simulated JKs, one on a serial pty and one over
Bluetooth LE, shown as the GX sees them on D-Bus.

Everything runs on a private dbus-daemon: the simulated localsettings, the serial simulator and a
fake BlueZ serving the BLE one in this process, the daemon as a child process (reaching the BLE JK
through the real bleak), and the view reads the daemon's services back over D-Bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from dbus_fast.aio import MessageBus

from .sim.bus import PrivateBus
from .sim.faults import Fault
from .sim.harness import DaemonHarness
from .victron.reader import battery_services, get_items


# The demo's story, repeating: the BMS answers for a minute, then falls silent for 25 s so the
# fail-safe can be watched taking over and letting go again.
CYCLE, SILENT_FROM = 85.0, 60.0


def scenario(elapsed: float) -> tuple[Fault, str]:
    """The fault the simulated BMS shows ``elapsed`` seconds into the demo, and a line saying so."""
    at = elapsed % CYCLE
    if at < SILENT_FROM:
        return Fault.NONE, f"simulated BMS answers; it falls silent in {SILENT_FROM - at:.0f} s"
    return Fault.SILENT, f"simulated BMS is SILENT for {CYCLE - at:.0f} s more: watch the fail-safe"


def _fmt(value: Any, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "--"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def render(service: str, items: dict[str, Any]) -> str:
    """One screen of what ``service`` publishes."""
    g = items.get
    raised = [p.removeprefix("/Alarms/") for p, v in items.items() if p.startswith("/Alarms/") and v]
    cells = [items[f"/Voltages/Cell{i}"] for i in range(1, 33) if items.get(f"/Voltages/Cell{i}") is not None]
    return "\n".join(
        [
            f"{service}   {g('/ProductName')}   instance {g('/DeviceInstance')}   connected {g('/Connected')}",
            f"  SoC {_fmt(g('/Soc'), ' %', 0)}   {_fmt(g('/Dc/0/Voltage'), ' V')}   {_fmt(g('/Dc/0/Current'), ' A')}"
            f"   {_fmt(g('/Dc/0/Power'), ' W', 0)}   {_fmt(g('/Dc/0/Temperature'), ' °C', 1)}",
            f"  CVL {_fmt(g('/Info/MaxChargeVoltage'), ' V')}   CCL {_fmt(g('/Info/MaxChargeCurrent'), ' A', 1)}"
            f"   DCL {_fmt(g('/Info/MaxDischargeCurrent'), ' A', 1)}   mode {g('/Info/ChargeMode')}",
            f"  charge limited by: {g('/Info/ChargeLimitation') or '-'}   discharge limited by: {g('/Info/DischargeLimitation') or '-'}",
            f"  cells {len(cells)}: min {_fmt(g('/System/MinCellVoltage'), ' V', 3)} ({g('/System/MinVoltageCellId')})"
            f"   max {_fmt(g('/System/MaxCellVoltage'), ' V', 3)} ({g('/System/MaxVoltageCellId')})"
            f"   diff {_fmt(g('/Voltages/Diff'), ' V', 3)}",
            "  " + " ".join(f"{v:.3f}" for v in cells),
            f"  allow charge {g('/Io/AllowToCharge')}  discharge {g('/Io/AllowToDischarge')}   alarms: {', '.join(raised) or 'none'}",
            f"  link: {g('/Mgmt/Connection')}",
        ]
    )


async def demo(seconds: float | None = None) -> int:
    interactive = sys.stdout.isatty()
    with tempfile.TemporaryDirectory(prefix="dbus-bms-demo-") as tmp, PrivateBus() as private:
        harness = DaemonHarness(private, Path(tmp), ble_layouts=("32s",))
        for pack in (harness.sims[0].pack, harness.ble_sims[0].model.pack):
            pack.swing_amps, pack.swing_period = 60.0, 120.0  # a solar day in two minutes
        await harness.start(log_level="info")
        assert harness.bus is not None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        begin = loop.time()
        end = begin + seconds if seconds else None
        print(
            f"dbus-bms demo: private bus {private.address}, simulated JKs on {harness.servers[0].path} and over BLE "
            f"as {harness.ble_sims[0].address}; Ctrl-C stops",
            flush=True,
        )
        try:
            while not stop.is_set() and harness.proc.poll() is None and (end is None or loop.time() < end):
                harness.sims[0].fault, story = scenario(loop.time() - begin)
                screen = await _snapshot(harness.bus)
                if interactive:
                    print("\x1b[H\x1b[2J", end="")
                print(f"{story}\n{screen}\n", flush=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            crashed = harness.proc.poll()
            await harness.stop()
        if crashed is not None:
            print(f"the daemon exited with {crashed}; its log:\n{harness.daemon_log()}", file=sys.stderr)
            return 1
    return 0


async def _snapshot(bus: MessageBus) -> str:
    services = await battery_services(bus)
    if not services:
        return "waiting for the daemon to publish a battery ..."
    screens = []
    for service in services:
        try:
            screens.append(render(service, await get_items(bus, service)))
        except RuntimeError as exc:
            screens.append(f"{service}: {exc}")
    return "\n\n".join(screens)
