"""``dbus-bms demo``: the real daemon against simulated BMSes, shown as the GX sees them on D-Bus; by
default two JKs, one on a serial pty and one over Bluetooth LE, or one battery of each family
``--bms`` names, or with ``--group`` three JKs on ptys as one battery group.

Everything runs on a private dbus-daemon: the simulated localsettings, the serial simulators and a
fake BlueZ serving the BLE ones in this process, the daemon as a child process (reaching the BLE
BMSes through the real bleak), and the view reads the daemon's services back over D-Bus.
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

from .devices.registry import DEVICE_TYPES
from .sim.bus import PrivateBus
from .sim.faults import Fault
from .sim.harness import DaemonHarness
from .sim.parallel_bank import three_pack_bank
from .sim.serve import BLE_PERIPHERALS, SIMULATORS
from .sim.shared_bank import SharedBank
from .victron.reader import BATTERY_PREFIX, battery_services, get_items

# The demo's story, repeating: the first BMS answers for a minute, falls silent for 25 s so the
# fail-safe can be watched taking over, then answers again while the limits recover gently (a 30 s
# hold, then a ramp: about a minute).
SILENT_FROM, ANSWERS_AGAIN, CYCLE = 60.0, 85.0, 145.0
DEFAULT_BMS = "jk"
# Up to this many batteries each get a screen of their own; more get two lines each, to fit 80x24.
FULL_VIEW_UP_TO = 2
WIDTH = 80
CELLS_PER_ROW = 12
# ``--group``: the three packs of ``three_pack_bank`` (280, 230 and 100 Ah in parallel, sharing one
# charger and load), each behind a JK NW, as one group that goes on with two while the first is silent.
GROUP_CONFIG = "groups:\n  - alias: bank\n    members: [jk0, jk1, jk2]\n    min_members: 2\n"


def demo_types() -> dict[str, str]:
    """Every config type the demo can simulate, and the family it belongs to (JK's serial type is
    jk-nw, its BLE one jk; another family's BLE type is its own name with -ble)."""
    # A bus type is shown when a battery of it needs no address (the pack at its default one).
    serial = [name for name in SIMULATORS
              if name in DEVICE_TYPES and (not DEVICE_TYPES[name].bus or DEVICE_TYPES[name].default_address is not None)]
    types = [*serial, *(name for name in BLE_PERIPHERALS if name in DEVICE_TYPES)]
    return {name: "jk" if name in ("jk-nw", "jk") else name.removesuffix("-ble") for name in types}


def choose(names: str) -> tuple[str, ...]:
    """The config types ``--bms`` asks for: a family's name (jk, jbd, ...) is each of its types,
    serial and BLE; a type's own name (jk-nw, jbd-ble) just that one. ValueError names the known."""
    types = demo_types()
    chosen: list[str] = []
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        if name in types.values():
            wanted = [t for t, family in types.items() if family == name]
        elif name in types:
            wanted = [name]
        else:
            known = sorted({*types.values(), *types})
            raise ValueError(f"no simulated BMS {name!r}; known: {', '.join(known)}")
        chosen += [t for t in wanted if t not in chosen]
    if not chosen:
        raise ValueError("--bms names no BMS")
    return tuple(chosen)


def scenario(elapsed: float, who: str = "the simulated BMS") -> tuple[Fault, str]:
    """The fault the first simulated BMS shows ``elapsed`` seconds into the demo, and a line saying so."""
    at = elapsed % CYCLE
    if at < SILENT_FROM:
        return Fault.NONE, f"{who} answers; it falls silent in {SILENT_FROM - at:.0f} s"
    if at < ANSWERS_AGAIN:
        return Fault.SILENT, f"{who} is SILENT for {ANSWERS_AGAIN - at:.0f} s more: watch the fail-safe"
    return Fault.NONE, f"{who} answers again: its limits recover gently ({CYCLE - at:.0f} s)"


def _fmt(value: Any, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "--"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def _cells(items: dict[str, Any]) -> list[float]:
    return [items[f"/Voltages/Cell{i}"] for i in range(1, 33) if items.get(f"/Voltages/Cell{i}") is not None]


def _alarms(items: dict[str, Any]) -> list[str]:
    return [p.removeprefix("/Alarms/") for p, v in items.items() if p.startswith("/Alarms/") and v]


def _cell_summary(items: dict[str, Any], cells: list[float]) -> list[str]:
    """The cells' line and their voltages in mV, CELLS_PER_ROW a row; one line saying so when none came."""
    g = items.get
    if not cells:
        return ["  cells --: no reading"]
    lines = [f"  cells {len(cells)}: min {_fmt(g('/System/MinCellVoltage'), ' V', 3)} ({g('/System/MinVoltageCellId') or '-'})"
             f"   max {_fmt(g('/System/MaxCellVoltage'), ' V', 3)} ({g('/System/MaxVoltageCellId') or '-'})"
             f"   diff {_fmt(g('/Voltages/Diff'), ' V', 3)}"]
    for first in range(0, len(cells), CELLS_PER_ROW):
        lines.append("  mV " + " ".join(f"{1000 * v:4.0f}" for v in cells[first:first + CELLS_PER_ROW]))
    return lines


def _pack_summary(items: dict[str, Any]) -> list[str]:
    """A group's lowest and highest cell, then a line per member (its /Packs/<k>/ paths)."""
    g = items.get
    lines = [f"  packs {g('/System/NrOfModulesOnline')} of {g('/System/NrOfBatteries')} online:"
             f" min cell {_fmt(g('/System/MinCellVoltage'), ' V', 3)} ({g('/System/MinVoltageCellId') or '-'})"
             f"  max {_fmt(g('/System/MaxCellVoltage'), ' V', 3)} ({g('/System/MaxVoltageCellId') or '-'})"]
    k = 1
    while f"/Packs/{k}/Name" in items:
        def p(path: str) -> Any:
            return g(f"/Packs/{k}{path}")

        lines.append(f"  {str(p('/Name')):6.6} {'online' if p('/Online') == 1 else 'OFFLINE':7} SoC {_fmt(p('/Soc'), ' %', 0):>5}"
                     f" {_fmt(p('/Dc/0/Voltage'), ' V'):>7} {_fmt(p('/Dc/0/Current'), ' A'):>8}"
                     f"  cells {_fmt(p('/System/MinCellVoltage'), '', 3)}-{_fmt(p('/System/MaxCellVoltage'), ' V', 3)}"
                     f"  CCL {_fmt(p('/Info/MaxChargeCurrent'), ' A', 0)}")
        k += 1
    return lines


def render(service: str, items: dict[str, Any]) -> str:
    """What ``service`` publishes, each line at most WIDTH characters: 8 lines and a row per
    CELLS_PER_ROW cells."""
    g = items.get
    lines = [
        f"{service}  {str(g('/ProductName')):.22}  instance {g('/DeviceInstance')}  "
        f"{'online' if g('/Connected') == 1 else 'OFFLINE'}",
        f"  SoC {_fmt(g('/Soc'), ' %', 0)}   {_fmt(g('/Dc/0/Voltage'), ' V')}   {_fmt(g('/Dc/0/Current'), ' A')}"
        f"   {_fmt(g('/Dc/0/Power'), ' W', 0)}   {_fmt(g('/Dc/0/Temperature'), ' °C', 1)}",
        f"  CVL {_fmt(g('/Info/MaxChargeVoltage'), ' V')}   CCL {_fmt(g('/Info/MaxChargeCurrent'), ' A', 1)}"
        f"   DCL {_fmt(g('/Info/MaxDischargeCurrent'), ' A', 1)}   mode {g('/Info/ChargeMode') or '-'}",
        f"  charge limited by: {g('/Info/ChargeLimitation') or '-'}",
        f"  discharge limited by: {g('/Info/DischargeLimitation') or '-'}",
        *(_pack_summary(items) if "/Packs/1/Name" in items else _cell_summary(items, _cells(items))),
        f"  allow charge {_fmt(g('/Io/AllowToCharge'))}  discharge {_fmt(g('/Io/AllowToDischarge'))}"
        f"   alarms: {', '.join(_alarms(items)) or 'none'}",
        f"  link: {_fmt(g('/Mgmt/Connection'))}",
    ]
    return "\n".join(line[:WIDTH] for line in lines)


def render_line(service: str, items: dict[str, Any]) -> str:
    """Two lines of what ``service`` publishes, each at most WIDTH characters: the battery, then its
    limits and what limits them (or its alarms)."""
    g = items.get
    state = "online" if g("/Connected") == 1 else "OFFLINE"
    first = (f"{service.removeprefix(BATTERY_PREFIX):11.11} {str(g('/ProductName')):18.18} {state:7} "
             f"SoC {_fmt(g('/Soc'), ' %', 0):>5} {_fmt(g('/Dc/0/Voltage'), ' V'):>7} "
             f"{_fmt(g('/Dc/0/Current'), ' A'):>8} {_fmt(g('/Dc/0/Temperature'), ' °C', 1):>7}")
    alarms = _alarms(items)
    why = f"alarms {', '.join(alarms)}" if alarms else f"{g('/Info/ChargeMode') or '-'}: {g('/Info/ChargeLimitation') or '-'}"
    second = (f"  CVL {_fmt(g('/Info/MaxChargeVoltage'), ' V')}  CCL {_fmt(g('/Info/MaxChargeCurrent'), ' A', 0)}"
              f"  DCL {_fmt(g('/Info/MaxDischargeCurrent'), ' A', 0)}  cells {len(_cells(items))}  {why}")
    return "\n".join(line[:WIDTH] for line in (first, second))


def _harness(private: PrivateBus, tmp: Path, types: tuple[str, ...], group: SharedBank | None) -> DaemonHarness:
    """JK's two as today's demo has them (jk0 on a pty, jkble0 over BLE), every other type as one
    battery named after it; with ``group``, a JK on a pty for each pack of that bank, as one group."""
    if group is not None:
        harness = DaemonHarness(private, tmp, count=len(group.views), extra_config=GROUP_CONFIG)
        for sim, view in zip(harness.sims, group.views):
            sim.pack = view
        return harness
    others = tuple(t for t in types if t not in ("jk-nw", "jk"))
    return DaemonHarness(private, tmp, count=int("jk-nw" in types), ble_layouts=("32s",) if "jk" in types else (),
                         families=others)


def _simulated(harness: DaemonHarness) -> dict[str, Any]:
    """Each battery's alias and its simulated BMS (the thing with a ``pack`` and a ``fault``)."""
    sims = dict(zip(harness.aliases, harness.sims))
    sims.update((f"jkble{i}", peripheral.model) for i, peripheral in enumerate(harness.ble_sims))
    sims.update(harness.family_sims)
    return sims


def _where(harness: DaemonHarness) -> str:
    places = [f"{alias} on {server.path}" for alias, server in zip(harness.aliases, harness.servers)]
    places += [f"jkble{i} over BLE as {sim.address}" for i, sim in enumerate(harness.ble_sims)]
    places += [f"{alias} over BLE as {p.address}" for alias, p in harness.family_peripherals.items()]
    places += [f"{alias} on {server.path}" for alias, server in harness.family_servers.items()]
    return ", ".join(places)


async def demo(seconds: float | None = None, bms: tuple[str, ...] | None = None, group: bool = False) -> int:
    """Runs the demo with one battery of each of the config types ``bms`` (as ``choose`` gives
    them; None: those of DEFAULT_BMS), or with ``group``, the three packs of a parallel bank as one group."""
    interactive = sys.stdout.isatty()
    # A terminal's Ctrl-C reaches the whole process group: the children start with SIGINT ignored, so
    # the private dbus-daemon outlives the fake BlueZ and the daemon that still use it, and this
    # process stops them in order (the daemon installs its own handler and stops as on SIGTERM).
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return await _run(seconds, bms or choose(DEFAULT_BMS), interactive, group)
    finally:
        signal.signal(signal.SIGINT, previous)


async def _run(seconds: float | None, bms: tuple[str, ...], interactive: bool, group: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="dbus-bms-demo-") as tmp, PrivateBus() as private:
        # A solar day in two minutes; a group's packs share one charger and load.
        bank = SharedBank(three_pack_bank(soc=55.0), swing_amps=150.0, swing_period=120.0) if group else None
        harness = _harness(private, Path(tmp), bms, bank)
        sims = _simulated(harness)
        if bank is None:
            for sim in sims.values():
                sim.pack.swing_amps, sim.pack.swing_period = 60.0, 120.0
        storyteller, told = next(iter(sims.items()))
        who = f"{storyteller}'s BMS" + (" alone" if len(sims) > 1 else "")
        await harness.start(log_level="info")
        assert harness.bus is not None and harness.proc is not None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)  # kept through the stop: a second Ctrl-C changes nothing
        try:
            begin = loop.time()
            end = begin + seconds if seconds else None
            print(f"dbus-bms demo: private bus {private.address}, simulated {_where(harness)}; Ctrl-C stops", flush=True)
            while not stop.is_set() and harness.proc.poll() is None and (end is None or loop.time() < end):
                told.fault, story = scenario(loop.time() - begin, who)
                screen = await _snapshot(harness.bus, full=group or len(sims) <= FULL_VIEW_UP_TO)
                if bank is not None:
                    await _obey(harness, bank)
                if interactive:
                    # Home and clear, and no newline after the last line: a screen of 24 lines never scrolls.
                    print(f"\x1b[H\x1b[2J{f'Ctrl-C stops · {story}'[:WIDTH]}\n{screen}", end="", flush=True)
                else:
                    print(f"{story}\n{screen}\n", flush=True)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await stop.wait()
        finally:
            # A daemon that exits before it was asked to has crashed (or refused its config).
            crashed = None if stop.is_set() else harness.proc.poll()
            log = harness.daemon_log() if crashed is not None else ""
            await harness.stop()
        if interactive:
            print()
        if crashed is not None:
            print(f"the daemon exited with {crashed}; its log:\n{log}", file=sys.stderr)
            return 1
    return 0


async def _obey(harness: DaemonHarness, bank: SharedBank) -> None:
    """The bank's charger and load take the group's limits as DVCC would pass them on."""
    assert harness.bus is not None
    with contextlib.suppress(RuntimeError):
        items = await get_items(harness.bus, harness.service("bank"))
        bank.obey(items.get("/Info/MaxChargeCurrent"), items.get("/Info/MaxDischargeCurrent"))


async def _snapshot(bus: MessageBus, *, full: bool) -> str:
    services = await battery_services(bus)
    if not services:
        return "waiting for the daemon to publish a battery ..."
    screens = []
    for service in services:
        try:
            items = await get_items(bus, service)
        except RuntimeError as exc:
            screens.append(f"{service}: {exc}"[:WIDTH])
            continue
        screens.append(render(service, items) if full else render_line(service, items))
    return ("\n\n" if full else "\n").join(screens)
