"""The ``dbus-bms`` command line: its commands, options and exit statuses are a stable contract (README, Command line)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import shutil
import string
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from . import __version__
from .model import Sample
from .protocols import jk02

if TYPE_CHECKING:
    from .charge.config import ChargeConfig
    from .config import BatteryConfig, Config
    from .sim.charge_loop import Charger
    from .sim.profiles import Clouds

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
GX_CONFIG = Path("/data/dbus-bms/config.yaml")
EXIT_STATUSES = ("exit status: 0 ok, 1 failed (no reply, undecodable bytes, a reading that cannot be true, "
                 "invalid config), 2 bad usage")
NO_DBUS_DAEMON = "dbus-daemon is not installed: install the Debian package dbus-daemon (./dev.sh does, as root)"


def format_sample(sample: Sample) -> str:
    """A reading as a person reads it: one quantity a line."""

    def num(value: float | None, unit: str, fmt: str = "{:.2f}") -> str:
        return "-" if value is None else fmt.format(value) + unit

    lines = [
        f"voltage      {num(sample.voltage, ' V')}",
        f"current      {num(sample.current, ' A')}",
        f"power        {num(sample.power, ' W', '{:.0f}')}",
        f"soc          {num(sample.soc, ' %', '{:.0f}')}",
        f"capacity     {num(sample.capacity_remaining, ' Ah', '{:.1f}')} of {num(sample.capacity_full, ' Ah', '{:.1f}')}",
        f"cycles       {sample.cycles if sample.cycles is not None else '-'}",
    ]
    if sample.cell_voltages:
        cells = sample.cell_voltages
        balancing = sample.cell_balancing or [False] * len(cells)
        lines.append(
            f"cells        {len(cells)}: min {min(cells):.3f} V, max {max(cells):.3f} V, "
            f"diff {1000 * (max(cells) - min(cells)):.0f} mV"
        )
        lines.append(
            "             " + " ".join(f"{v:.3f}{'*' if b else ''}" for v, b in zip(cells, balancing))
        )
    temps = ", ".join(f"{t:.1f}" for t in sample.temperatures or [])
    lines.append(f"temperatures {temps or '-'} °C, MOSFET {num(sample.mosfet_temperature, ' °C', '{:.1f}')}")

    def flag(v: bool | None) -> str:
        return "-" if v is None else ("on" if v else "off")

    lines.append(
        f"switches     charge {flag(sample.charge_enabled)}, discharge {flag(sample.discharge_enabled)}, "
        f"balancing {flag(sample.balancing)}"
    )
    raised = [f"{k}={'alarm' if v == 2 else 'warning'}" for k, v in sample.alarms.items() if v]
    lines.append(f"alarms       {', '.join(raised) or 'none'}")
    if sample.conditions is not None:
        lines.append(f"conditions   {'; '.join(sample.conditions) or 'none'}")
    b = sample.bms_settings
    if b is not None:
        lines.append(
            f"BMS settings cell OVP {num(b.cell_ovp, ' V', '{:.3f}')}, UVP {num(b.cell_uvp, ' V', '{:.3f}')}, "
            f"charge OCP {num(b.max_charge_current, ' A', '{:g}')}, discharge OCP {num(b.max_discharge_current, ' A', '{:g}')}"
        )
    if sample.device:
        d = sample.device
        lines.append(f"device       model {d.model or '-'}, hw {d.hw_version or '-'}, sw {d.sw_version or '-'}, serial {d.serial or '-'}")
    return "\n".join(lines)


def _print_sample(sample: Sample, as_json: bool) -> None:
    if as_json:
        print(json.dumps(sample.to_json(), indent=2))
    else:
        print(format_sample(sample))


def cmd_decode(args: argparse.Namespace) -> int:
    from .devices.plausibility import ReadingJudge, window_problems
    from .protocols.errors import ProtocolError
    from .protocols.registry import PROTOCOLS, decode_frames

    if args.list:
        for name, description in PROTOCOLS.items():
            print(f"{name:12} {description}")
        return EXIT_OK
    if not args.protocol or not args.hex:
        print("dbus-bms decode: give --protocol P and at least one HEX frame (or --list)", file=sys.stderr)
        return EXIT_USAGE
    # A config's type is spelt jk-nw, a protocol jk_nw: both are meant the same.
    protocol = args.protocol.replace("-", "_") if args.protocol.replace("-", "_") in PROTOCOLS else args.protocol
    frames = []
    for i, text in enumerate(args.hex, 1):
        cleaned = "".join(text.split()).replace(":", "")
        if len(cleaned) % 2 and all(c in string.hexdigits for c in cleaned):
            print(f"dbus-bms decode: frame {i} has an odd number of hex digits ({len(cleaned)}): one is missing "
                  "or one too many", file=sys.stderr)
            return EXIT_USAGE
        try:
            frames.append(bytes.fromhex(cleaned))
        except ValueError:
            print(f"dbus-bms decode: frame {i} is not hexadecimal: {text[:40]!r}", file=sys.stderr)
            return EXIT_USAGE
    try:
        sample = decode_frames(protocol, frames)
    except ProtocolError as exc:
        print(f"dbus-bms decode: {exc}", file=sys.stderr)
        return EXIT_FAIL
    # A value no battery can show means the bytes were read with the wrong layout: refused. Values
    # that only disagree with each other may be what the BMS really sent: shown, with a note.
    impossible = window_problems(sample)
    if impossible:
        print(f"dbus-bms decode: the bytes decode as {protocol}, but the reading cannot be true "
              f"({'; '.join(impossible)}): are they of another protocol or layout? (--list)", file=sys.stderr)
        return EXIT_FAIL
    verdict = ReadingJudge().judge(sample)
    if verdict is not None:
        print(f"dbus-bms decode: note: the daemon would refuse this reading ({'; '.join(verdict.problems)})",
              file=sys.stderr)
    _print_sample(sample, args.json)
    return EXIT_OK


def _load_config(path: Path, command: str):
    """The config at ``path``, or None after explaining on stderr why it cannot be used."""
    from .config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
    except OSError as exc:
        print(f"dbus-bms {command}: cannot read {path}: {exc.strerror}", file=sys.stderr)
    return None


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load_config(args.file, "check-config")
    if config is None:
        return EXIT_FAIL
    print(f"{args.file}: ok, {len(config.batteries)} batter{'y' if len(config.batteries) == 1 else 'ies'}")
    for b in config.batteries:
        where = f"{b.port} address {b.address}{' (listening)' if b.listen else ''}" if b.port and b.address else b.port or b.address
        print(f"  {b.alias}: {b.type} on {where}, poll every {b.poll_interval:g} s")
        for warning in _beyond_the_bms(config, b):
            print(f"  warning: {b.alias}: {warning}")
    for g in config.groups:
        print(f"  group {g.alias}: {', '.join(g.members)} in {g.wiring}, one battery while at least {g.min_members} "
              "of them are online; the members are published only in it")
    return EXIT_OK


def _beyond_the_bms(config: Config, battery: BatteryConfig) -> list[str]:
    """Where a battery's charge settings go beyond its BMS's own, from the settings the daemon last
    read from that BMS (kept in the state directory)."""
    from .bms_settings_store import load, settings_path
    from .charge.ceilings import exceeded

    path = settings_path(Path(config.state_dir), battery.alias)
    try:
        found = load(path)
    except (OSError, ValueError) as exc:
        return [f"{path}: cannot read the BMS's saved settings ({exc})"]
    if found is None:
        return []
    settings, read_at = found
    return [f"{problem} (the BMS's settings as read {read_at})" for problem in exceeded(battery.charge, settings)]


def cmd_run(args: argparse.Namespace) -> int:
    from .app import BusLost, run

    if args.config == GX_CONFIG and not GX_CONFIG.exists():
        print(f"dbus-bms run: no {GX_CONFIG}: give --config FILE, or write that one (see examples/dbus-bms.yaml)",
              file=sys.stderr)
        return EXIT_FAIL
    config = _load_config(args.config, "run")
    if config is None:
        return EXIT_FAIL
    level = (args.log_level or config.log_level).upper()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # bleak logs every D-Bus signal at debug level: hundreds of lines a second that would bury ours.
    for noisy in ("bleak", "bleak_retry_connector", "dbus_fast"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
    try:
        asyncio.run(run(config))
    except BusLost:
        return EXIT_FAIL
    except (OSError, ConnectionError) as exc:
        bus = "session bus" if os.environ.get("DBUS_SESSION_BUS_ADDRESS") else "system bus"
        address = os.environ.get("DBUS_SESSION_BUS_ADDRESS") or os.environ.get(
            "DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/var/run/dbus/system_bus_socket")
        logging.getLogger("dbus_bms").error("cannot connect to the D-Bus %s at %s: %s; is dbus-daemon running?",
                                            bus, address, getattr(exc, "strerror", None) or exc)
        return EXIT_FAIL
    return EXIT_OK


def cmd_read(args: argparse.Namespace) -> int:
    from .config import DEFAULT_TIMEOUT
    from .devices.base import DeviceError
    from .devices.registry import DEVICE_TYPES, create_device

    kind = DEVICE_TYPES.get(args.type)
    if kind is None:
        print(f"dbus-bms read: unknown type {args.type!r}; known: {', '.join(DEVICE_TYPES)}", file=sys.stderr)
        return EXIT_USAGE
    needed = {"serial": "port", "dbus": "service"}.get(kind.link, "address")
    if not getattr(args, needed):
        what = {"port": "the serial port", "service": "the battery service on the GX's D-Bus, e.g. ttyS5"}.get(
            needed, "the BLE MAC or advertised name")
        print(f"dbus-bms read: type {args.type!r} needs --{needed} ({what})", file=sys.stderr)
        return EXIT_USAGE
    if kind.bus and not (args.address is None and kind.default_address is not None):
        lowest, highest = 0 if args.listen else kind.addresses.start, kind.addresses.stop - 1
        if args.address is None or not args.address.isdigit() or not lowest <= int(args.address) <= highest:
            print(f"dbus-bms read: type {args.type!r} needs --address N, the pack's RS485 address "
                  f"({lowest}-{highest}{', 0 the master' if args.listen else ''})", file=sys.stderr)
            return EXIT_USAGE
    elif args.listen:
        print(f"dbus-bms read: --listen is for packs on a shared RS485 bus, not type {args.type!r}", file=sys.stderr)
        return EXIT_USAGE
    if args.protocol is not None and args.protocol not in kind.protocols:
        print(f"dbus-bms read: type {args.type!r} has no protocol {args.protocol!r}", file=sys.stderr)
        return EXIT_USAGE
    if args.timeout is None:
        own = kind.listen_timeout if args.listen else kind.timeout
        args.timeout = own if own is not None else DEFAULT_TIMEOUT[kind.link]
    if args.baudrate is None and not kind.probes:
        args.baudrate = kind.baudrate or 115200

    async def once() -> Sample:
        device = create_device(args)
        try:
            sample = await device.poll()
            if kind.probes:
                print(f"dbus-bms read: {device.connection}", file=sys.stderr)
            return sample
        finally:
            await device.close()

    try:
        sample = asyncio.run(once())
    except DeviceError as exc:
        # The link's failures say when it tries again, for the daemon's log; a single read does not.
        print(f"dbus-bms read: {re.sub(r'; next attempt in [0-9.]+ s$', '', str(exc))}", file=sys.stderr)
        return EXIT_FAIL
    _print_sample(sample, args.json)
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    from .sim.faults import Fault
    from .sim.serve import BLE_SIMULATORS, SIMULATORS, serve_ble, serve_pty, serve_tcp

    if args.tcp is not None and not 0 <= args.tcp <= 65535:
        print(f"dbus-bms simulate: --tcp {args.tcp} is out of range 0 to 65535 (0: a free port)", file=sys.stderr)
        return EXIT_USAGE
    known = [*SIMULATORS, *BLE_SIMULATORS]
    if args.type not in known:
        print(f"dbus-bms simulate: unknown type {args.type!r}; known: {', '.join(known)}", file=sys.stderr)
        return EXIT_USAGE
    if args.type == "jk-pb" and not 1 <= args.packs <= 15 + args.master:
        print(f"dbus-bms simulate: --packs {args.packs}: a PB bus holds 1 to {15 + args.master} packs", file=sys.stderr)
        return EXIT_USAGE
    if args.type in ("seplos-v3", "jbd-up") and not 1 <= args.packs <= 15:
        print(f"dbus-bms simulate: --packs {args.packs}: a {args.type} bus holds 1 to 15 packs", file=sys.stderr)
        return EXIT_USAGE
    ble = args.type in BLE_SIMULATORS
    tcp = args.tcp is not None
    if ble and args.bus is None and shutil.which("dbus-daemon") is None:
        print(f"dbus-bms simulate: {NO_DBUS_DAEMON}, or give --bus ADDRESS", file=sys.stderr)
        return EXIT_FAIL
    if (ble and not args.ble) or (not ble and args.pty == tcp):
        print(f"dbus-bms simulate: type {args.type!r} is served with {'--ble' if ble else '--pty or --tcp PORT'}", file=sys.stderr)
        return EXIT_USAGE
    most = 24 if args.type == "jk" and args.layout == "24s" else 32
    if not 1 <= args.cells <= most:
        print(f"dbus-bms simulate: --cells {args.cells}: a simulated {args.type} has 1 to {most} cells", file=sys.stderr)
        return EXIT_USAGE
    problem = _link_problem(args.link) if args.link else None
    if problem:
        print(f"dbus-bms simulate: --link {args.link}: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if ble:
            asyncio.run(serve_ble(args.type, layout=args.layout, bus_address=args.bus, fault=Fault(args.fault), cells=args.cells))
        elif tcp:
            asyncio.run(serve_tcp(args.type, port=args.tcp, fault=Fault(args.fault), cells=args.cells, fragment=args.fragment,
                                  packs=args.packs, master=args.master))
        else:
            asyncio.run(serve_pty(args.type, link=args.link, fault=Fault(args.fault), cells=args.cells,
                                  packs=args.packs, master=args.master))
    except KeyboardInterrupt:
        pass
    except (OSError, ConnectionError) as exc:
        where = (f"connect to the D-Bus at {args.bus}" if ble and args.bus else "start a private dbus-daemon" if ble
                 else f"listen on 127.0.0.1:{args.tcp}" if tcp else "open a pty")
        print(f"dbus-bms simulate: cannot {where}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def _link_problem(link: str) -> str | None:
    """Why ``simulate --link`` cannot make its symlink there; a link to a pty that is gone is
    replaced, one in use is another simulator's."""
    path = Path(link)
    if not path.parent.is_dir():
        return f"there is no folder {path.parent}"
    if path.is_symlink() and not path.exists():
        return None
    if path.is_symlink():
        return f"in use, it leads to {os.readlink(path)} (another simulator's?): stop that one or choose another path"
    if path.exists():
        return "exists and is not a link: choose another path"
    return None


# Past 3.45 V a LiFePO4 cell climbs 75 mV per % of charge: at the profiles' 0.35 C about 0.75 mV/s,
# a weak cell 1 mV/s. In a step over 10 s it moves more than the 10 mV the over-voltage control is
# held to between two readings, and the run would show the step's lag, not the controller.
_MAX_DT = 10.0


def cmd_simulate_charge(args: argparse.Namespace) -> int:
    import time

    from .charge.config import ChargeConfig
    from .sim.charge_loop import Charger, Glitch, run
    from .sim.loop_pack import BmsProtection, LoopPack
    from .sim.profiles import PROFILES, Clouds

    def usage(message: str) -> int:
        print(f"dbus-bms simulate-charge: {message}", file=sys.stderr)
        return EXIT_USAGE

    if args.profile not in PROFILES:
        return usage(f"unknown profile {args.profile!r}; known: {', '.join(PROFILES)}")
    if args.dt <= 0 or args.hours * 3600 < args.dt or args.cells < 1 or args.capacity <= 0:
        return usage("--dt and --capacity must be positive, --hours at least one step long, --cells at least 1")
    if args.dt > _MAX_DT:
        return usage(f"--dt {args.dt:g} s is too coarse: near full a cell climbs up to 1 mV/s, so above {_MAX_DT:g} s "
                     "it moves further between two readings than the 10 mV the over-voltage control is held to, "
                     "and the run would show the step, not the controller")
    balance_current = args.balance_current
    if balance_current is None:
        balance_current = 0.1 if args.balancer == "passive" else 1.0
    if balance_current < 0:
        return usage("--balance-current cannot be negative")
    if args.noise < 0 or args.uptake < 0 or args.restart_every < 0 or args.clouds < 0:
        return usage("--noise, --uptake, --restart-every and --clouds cannot be negative")
    if args.weak_cell is not None and not 1 <= args.weak_cell <= args.cells:
        return usage(f"--weak-cell {args.weak_cell} is not one of the {args.cells} cells (1 to {args.cells})")
    if any(not 0 <= hour < args.hours for hour in args.glitch):
        return usage("--glitch takes an hour within the run")
    cfg = ChargeConfig()
    if args.config is not None:
        config = _load_config(args.config, "simulate-charge")
        if config is None:
            return EXIT_FAIL
        cfg = config.batteries[0].charge
    protection = BmsProtection(balance_mode=args.balancer, balance_current=balance_current)
    pack = LoopPack(cells=args.cells, capacity_ah=args.capacity, seed=args.seed, protection=protection,
                    temperature=PROFILES[args.profile](0.0, args.capacity).ambient, reading_noise=args.noise / 1000,
                    weak_cell=None if args.weak_cell is None else args.weak_cell - 1)
    charger = Charger(obeys_ccl=args.charger == "obeys", offset=args.charger_offset / 1000, uptake=args.uptake)
    clouds = Clouds(per_day=args.clouds, seed=args.seed) if args.clouds else None
    if args.group:
        return _simulate_group(args, cfg, charger, clouds, balance_current, usage)
    started = time.perf_counter()
    trace = run(args.hours, args.profile, cfg, pack=pack, dt=args.dt, charger=charger, clouds=clouds,
                restart_every=args.restart_every, glitches=[Glitch(hour * 3600, cell=0) for hour in args.glitch])
    elapsed = time.perf_counter() - started
    top, cell, hour = trace.max_cell()
    modes = ", ".join(f"{mode} {hours:.1f} h" for mode, hours in trace.hours_per_mode().items())
    to_float = trace.time_to_float()
    step_volts, step_hour = trace.largest_cvl_step()
    print(f"{args.hours:g} h of {args.profile}, {args.cells} × {args.capacity:g} Ah cells, {args.balancer} balancer "
          f"{balance_current:g} A, step {args.dt:g} s (simulated in {elapsed:.1f} s)")
    print(f"chargers          {'obey CCL' if charger.obeys_ccl else 'feed-in, ignore CCL'}, regulate at CVL "
          f"{args.charger_offset:+g} mV, take the limits up every {args.uptake:g} s")
    events = [f"{args.clouds} clouds a day"] if args.clouds else []
    events += [f"{len(trace.restarts)} restarts"] if trace.restarts else []
    events += [f"glitch at {', '.join(f'{h:g}' for h in args.glitch)} h"] if args.glitch else []
    events += [f"±{args.noise:g} mV reading noise"] if args.noise else []
    events += [f"weak cell {args.weak_cell}"] if args.weak_cell is not None else []
    print(f"events            {', '.join(events) or 'none'}")
    print(f"peak cell         {top:.3f} V (cell {cell}, at {hour:.1f} h); BMS over-voltage protection at {trace.cell_ovp:g} V")
    print(f"charge modes      {modes}")
    print(f"time to float     {'never' if to_float is None else f'{to_float:.2f} h'}")
    print(f"absorptions       {' '.join(str(n) for n in trace.absorptions_per_day())} (per day)")
    print(f"CVL reversals     {trace.cvl_reversals_per_hour():.1f} per hour; largest step {step_volts:+.3f} V "
          f"at {step_hour:.1f} h (over-voltage cuts excepted)")
    print(f"SoC               final {trace.soc[-1]:.0f} %, min {min(trace.soc):.0f} %")
    print(f"unserved load     {trace.unserved_ah():.1f} Ah")
    print(f"BMS FETs opened   charge {trace.fet_openings(trace.charge_fet)}x, discharge {trace.fet_openings(trace.discharge_fet)}x")
    if args.plot is not None:
        from .sim.plot import MatplotlibMissing, plot

        try:
            plot(trace, args.plot)
        except MatplotlibMissing as exc:
            print(f"dbus-bms simulate-charge: {exc}", file=sys.stderr)
            return EXIT_FAIL
        except OSError as exc:
            print(f"dbus-bms simulate-charge: cannot write {args.plot}: {exc.strerror}", file=sys.stderr)
            return EXIT_FAIL
        print(f"plot              {args.plot}")
    return EXIT_OK


def _simulate_group(args: argparse.Namespace, cfg: ChargeConfig, charger: Charger, clouds: Clouds | None,
                    balance_current: float, usage: Callable[[str], int]) -> int:
    """simulate-charge --group: the three-pack parallel bank under one group's limits."""
    import time

    from .sim.group_loop import member_config, run_group
    from .sim.parallel_bank import THREE_PACKS, three_pack_bank
    from .sim.profiles import PROFILES

    unsupported = [flag for flag, given in (("--glitch", args.glitch), ("--restart-every", args.restart_every),
                                            ("--plot", args.plot), ("--weak-cell", args.weak_cell is not None),
                                            ("--noise", args.noise), ("--capacity", args.capacity != 280.0)) if given]
    if unsupported:
        return usage(f"--group runs its own bank (280, 230 and 100 Ah, an aged cell in the second) and does not take "
                     f"{', '.join(unsupported)}")
    ambient = PROFILES[args.profile](0.0, sum(THREE_PACKS)).ambient
    bank = three_pack_bank(cells=args.cells, seed=args.seed, temperature=ambient, balance_mode=args.balancer,
                           balance_current=balance_current)
    started = time.perf_counter()
    trace = run_group(args.hours, args.profile, [member_config(p.capacity_ah, cfg) for p in bank.packs], bank=bank,
                      dt=args.dt, charger=charger, clouds=clouds)
    elapsed = time.perf_counter() - started
    to_float = trace.time_to_float()
    print(f"{args.hours:g} h of {args.profile}, 3 packs in parallel of {args.cells} cells (280, 230 and 100 Ah), "
          f"{args.balancer} balancer {balance_current:g} A, step {args.dt:g} s (simulated in {elapsed:.1f} s)")
    print(f"chargers          {'obey CCL' if charger.obeys_ccl else 'feed-in, ignore CCL'}, regulate at the group CVL "
          f"{args.charger_offset:+g} mV, take the limits up every {args.uptake:g} s")
    for k, name in enumerate(trace.names):
        top, cell, hour = trace.max_cell(k)
        print(f"peak cell {name:<7} {top:.3f} V (cell {cell}, at {hour:.1f} h); its limit "
              f"{trace.cell_max_voltage[k]:g} V, final SoC {trace.member_soc[-1][k]:.0f} %")
    print(f"charge modes      {', '.join(f'{mode} {hours:.1f} h' for mode, hours in trace.hours_per_mode().items())}")
    print(f"time to float     {'never' if to_float is None else f'{to_float:.2f} h'}")
    narrowest = trace.narrowest_ccl()
    if narrowest is not None:
        print(f"group CCL         {narrowest[0]:.1f} A where the members' CCLs add up to {narrowest[1]:.1f} A "
              f"(at {narrowest[2]:.1f} h)")
    print(f"unserved load     {trace.unserved_ah():.1f} Ah")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import choose, demo

    try:
        bms = choose(args.bms) if args.bms is not None else None
    except ValueError as exc:
        print(f"dbus-bms demo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.group and bms is not None:
        print("dbus-bms demo: --group simulates its own three JK packs and takes no --bms", file=sys.stderr)
        return EXIT_USAGE
    if shutil.which("dbus-daemon") is None:
        print(f"dbus-bms demo: {NO_DBUS_DAEMON}", file=sys.stderr)
        return EXIT_FAIL
    return asyncio.run(demo(seconds=args.seconds, bms=bms, group=args.group))


def cmd_scan(args: argparse.Namespace) -> int:
    from .devices.ble_match import guess_type
    from .transports.ble_discovery import Discovery

    from .devices.registry import AIOBMSBLE_MODULES

    async def scan() -> list[dict]:
        seen = await Discovery.shared().scan(args.seconds, args.adapter)
        found = []
        for address, s in sorted(seen.items()):
            kind = guess_type(s.name, s.adv.service_uuids, s.adv.manufacturer_data)
            entry = {"type": kind, "address": address, "name": s.name, "rssi": s.adv.rssi}
            if AIOBMSBLE_MODULES:  # installed: also the aiobmsble module that would read it
                from .devices.aiobmsble_adapter import matching_module

                entry["aiobmsble"] = matching_module(AIOBMSBLE_MODULES, s.adv, s.device.address)
                entry["type"] = kind or ("aiobmsble" if entry["aiobmsble"] else None)
            if entry["type"] or args.all:
                found.append(entry)
        return found

    try:
        found = asyncio.run(scan())
    except Exception as exc:  # noqa: BLE001 - bleak raises many kinds; all mean "cannot scan here"
        print(f"dbus-bms scan: cannot scan ({type(exc).__name__}: {exc}); is bluetoothd running and the adapter up?", file=sys.stderr)
        return EXIT_FAIL
    if args.json:
        print(json.dumps(found, indent=2))
    elif not found:
        print(f"no BMS found in {args.seconds:g} s" + ("" if args.all else " (--all lists every device)"))
    else:
        print(f"{'type':10} {'address':17} {'rssi':>5}  name")
        for d in found:
            module = f"  (aiobmsble: {d['aiobmsble']})" if d.get("aiobmsble") else ""
            print(f"{d['type'] or '?':10} {d['address']:17} {d['rssi']:>5}  {d['name'] or ''}{module}")
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """One line for a usage error, naming the command and where its help is, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


class _Names(str):
    """A help text listing names that cost an import to know: formatted only when help is printed."""

    def __new__(cls, text: str, names: Callable[[], Iterable[str]]) -> _Names:
        self = super().__new__(cls, text)
        self.names = names
        return self

    def __mod__(self, params: object) -> str:
        return str.__mod__(f"{self}: {', '.join(self.names())}", params)


def _device_types() -> Iterable[str]:
    from .devices.registry import DEVICE_TYPES

    return DEVICE_TYPES


def _protocols() -> Iterable[str]:
    from .protocols.registry import PROTOCOLS

    return PROTOCOLS


def _simulators() -> Iterable[str]:
    from .sim.serve import BLE_SIMULATORS, SIMULATORS

    return [*SIMULATORS, *BLE_SIMULATORS]


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, not {text!r}")
    return value


def _pin(text: str) -> str:
    if not re.fullmatch(r"[0-9]{1,6}", text):
        raise argparse.ArgumentTypeError(f"expected up to 6 digits, not {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dbus-bms", description="Lithium BMSes as Victron batteries on D-Bus.", epilog=EXIT_STATUSES)
    p.add_argument("--version", action="version", version=f"dbus-bms {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("run", help="the daemon", epilog=EXIT_STATUSES)
    s.add_argument("--config", type=Path, default=GX_CONFIG, help=f"the YAML config (default {GX_CONFIG}, the GX's)")
    s.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("demo", help="private bus, simulated BMS, the daemon and a live view of D-Bus",
                       epilog=EXIT_STATUSES)
    s.add_argument("--seconds", type=_positive_seconds,
                   help="stop by itself after this many seconds (the fail-safe shows from 60 s to 85 s)")
    s.add_argument("--bms", metavar="NAME,...",
                   help="one battery of each: a family (jk, jbd, ...: serial and BLE) or a type (jk-nw, jbd-ble); default jk")
    s.add_argument("--group", action="store_true", help="three simulated JK packs as one battery group")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("scan", help="BLE devices nearby that look like a supported BMS", epilog=EXIT_STATUSES)
    s.add_argument("--json", action="store_true", help="print a JSON list of type, address, name, rssi")
    s.add_argument("--seconds", type=_positive_seconds, default=10.0, help="how long to listen (default 10)")
    s.add_argument("--adapter", help="hci0, hci1, ...; default: BlueZ's default adapter")
    s.add_argument("--all", action="store_true", help="also list devices that look like no supported BMS")
    s.set_defaults(func=cmd_scan)

    s = sub.add_parser("read", help="one reading, printed", epilog=EXIT_STATUSES)
    s.add_argument("--type", required=True, help=_Names("the BMS type, as in the config", _device_types))
    s.add_argument("--port", help="serial: /dev/ttyUSB0, ... or tcp://host:port for an RS485-TCP gateway")
    s.add_argument("--address", help="BLE: the MAC or advertised name; jk-pb: the pack's RS485 address")
    s.add_argument("--listen", action="store_true", help="jk-pb: send nothing, wait for the master pack's cycle")
    s.add_argument("--service", help="dbus-battery: the battery monitor's service, com.victronenergy.battery.ttyS5 or ttyS5")
    s.add_argument("--adapter", help="BLE: hci0, hci1, ...")
    s.add_argument("--pin", type=_pin, help="BLE: pairing PIN, up to 6 digits, when the BMS needs one (jbd-ble: the module's password)")
    s.add_argument("--protocol", help="force a protocol (layout) instead of detecting it")
    s.add_argument("--baudrate", type=int, help="the serial line's (default: the type's, else 115200)")
    s.add_argument("--timeout", type=_positive_seconds, help="seconds to wait for the reply (serial 0.5, jk-pb 0.3, BLE 5)")
    s.set_defaults(ble_mode="per-poll")
    s.add_argument("--json", action="store_true", help="print the reading as JSON (README, Command line)")
    s.set_defaults(func=cmd_read)

    s = sub.add_parser("decode", help="decode captured bytes offline", epilog=EXIT_STATUSES)
    s.add_argument("--protocol", help=_Names("how the bytes are framed", _protocols))
    s.add_argument("--list", action="store_true", help="print the protocol names")
    s.add_argument("--json", action="store_true", help="print the reading as JSON (README, Command line)")
    s.add_argument("hex", nargs="*", help="one poll's responses, in order")
    s.set_defaults(func=cmd_decode)

    s = sub.add_parser("simulate", help="serve a simulated BMS", epilog=EXIT_STATUSES)
    s.add_argument("type", help=_Names("the BMS type to simulate", _simulators))
    s.add_argument("--pty", action="store_true")
    s.add_argument("--link", help="also make this symlink to the pty")
    s.add_argument("--tcp", type=int, metavar="PORT", help="as an RS485-TCP gateway on 127.0.0.1:PORT (0: a free port)")
    s.add_argument("--fragment", action="store_true", help="with --tcp: replies in pieces, as gateways send them")
    s.add_argument("--ble", action="store_true", help="through a fake BlueZ on a D-Bus of its own (or --bus)")
    s.add_argument("--bus", help="with --ble: serve on this D-Bus address instead")
    s.add_argument("--layout", default="32s", choices=jk02.LAYOUTS, help="with --ble: the JK record layout")
    s.add_argument("--cells", type=int, default=16)
    s.add_argument("--packs", type=int, default=3, metavar="N", help="jk-pb, seplos-v3, jbd-up: N packs on the bus, at addresses 1 to N")
    s.add_argument("--master", action="store_true",
                   help="jk-pb: pack 0 is the bus master and runs its own poll cycle (slaves 1 to N-1)")
    s.add_argument("--fault", default="none", choices=["none", "silent", "garbage", "bad-checksum", "truncated"])
    s.set_defaults(func=cmd_simulate)

    s = sub.add_parser("simulate-charge", help="days of charge control against a simulated pack, in seconds",
                       epilog=EXIT_STATUSES)
    s.add_argument("--hours", type=float, required=True, help="simulated time")
    s.add_argument("--profile", default="solar-day", help="solar-day (default), constant-load or cold-night")
    s.add_argument("--cells", type=int, default=16)
    s.add_argument("--capacity", type=float, default=280.0, metavar="AH", help="cell capacity in Ah (default 280)")
    s.add_argument("--seed", type=int, default=0, help="draws the cells' capacity, charge and resistance spread")
    s.add_argument("--balancer", choices=["passive", "active"], default="passive",
                   help="the BMS's balancer: passive bleeds the high cells, active moves charge (default passive)")
    s.add_argument("--balance-current", type=float, metavar="A",
                   help="balancing current (default 0.1 A passive, 1 A active)")
    s.add_argument("--weak-cell", type=int, metavar="N", help="cell N (1-based) is aged: 80 %% capacity, twice the resistance")
    s.add_argument("--noise", type=float, default=0.0, metavar="MV", help="BMS reading noise, ± mV per cell (default 0)")
    s.add_argument("--charger", choices=["obeys", "feed-in"], default="obeys",
                   help="chargers that obey CCL, or a DC-coupled feed-in MPPT that follows CVL only (default obeys)")
    s.add_argument("--charger-offset", type=float, default=0.0, metavar="MV",
                   help="the chargers regulate this many mV over (+) or under (-) CVL (default 0)")
    s.add_argument("--uptake", type=float, default=3.0, metavar="S",
                   help="the chargers take the limits up every S seconds, as DVCC does (default 3; 0: at once)")
    s.add_argument("--clouds", type=int, nargs="?", const=12, default=0, metavar="N",
                   help="N passing clouds a day between 9:00 and 15:00 (default 12 when given)")
    s.add_argument("--restart-every", type=float, default=0.0, metavar="S", help="the daemon restarts every S seconds")
    s.add_argument("--glitch", type=float, action="append", default=[], metavar="HOUR",
                   help="one reading with cell 1 at 3.60 V at this hour (repeatable)")
    s.add_argument("--dt", type=float, default=5.0, help=f"simulation step in seconds (at most {_MAX_DT:g})")
    s.add_argument("--plot", type=Path, metavar="FILE.png", help="draw the run (needs matplotlib)")
    s.add_argument("--config", type=Path, help="take the charge settings of the first battery in this config")
    s.add_argument("--group", action="store_true",
                   help="three packs in parallel (280, 230 and 100 Ah) as one group, each with its own charge control")
    s.set_defaults(func=cmd_simulate_charge)

    s = sub.add_parser("check-config", help="validate a config and explain every error with its line", epilog=EXIT_STATUSES)
    s.add_argument("file", type=Path)
    s.set_defaults(func=cmd_check_config)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
        sys.stdout.flush()  # a pipe is written at exit otherwise, where a closed reader cannot be handled
        return status
    except BrokenPipeError:
        # The reader went away (`dbus-bms scan | head -1`): what it wanted it got. Point stdout at
        # /dev/null so the interpreter's final flush does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return 128 + 2  # Ctrl-C, as a shell counts it: asked for, not a failure to explain
    except Exception:  # noqa: BLE001 - every mistake a user can make is answered above; this is ours
        traceback.print_exc()
        print(f"dbus-bms {__version__}: this is a bug in dbus-bms; please report it with the lines above", file=sys.stderr)
        return EXIT_FAIL
