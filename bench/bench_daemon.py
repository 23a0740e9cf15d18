"""What the daemon costs a GX, for N simulated serial JKs (default 1, 4, 16, 64).

Runs the real ``dbus-bms run`` as a child on a private bus against JK simulators on ptys, with this
process as the one consumer of its signals, and prints: start → all services on the bus; CPU per
battery-update of the daemon and of the dbus-daemon routing its signals (run time in ns from
``/proc/PID/schedstat``), the updates counted as ItemsChanged received; peak RSS; value change at
the BMS → the ItemsChanged carrying it (half a poll interval of waiting plus the processing) and
BMS reply written → that signal (the processing alone), p50 and p95; the GetItems round trip p95;
and, while the last line streams garbage without pause at 115200 baud (11,520 bytes/s, one byte per
write) and then flat out, the extra CPU of daemon and bus daemon in % of one core and the GetItems
round trip p95.

Usage: ``python bench/bench_daemon.py [--seconds S] [--garbage-seconds G] [--poll-interval P]
[--python INTERPRETER] [--properties-changed] [N ...]``. ``--python`` runs the daemon with another
interpreter, e.g. a venv holding the pure-Python dbus-fast that the release bundle ships.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dbus_fast import Message

from dbus_bms.sim.bus import PrivateBus
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.victron.reader import get_items, name_owner, watch_items_changed

LINE_RATE = 115200 / 10  # bytes per second: 8 data bits plus start and stop bit


def cpu_ns(pid: int) -> int:
    """Run time of every thread of ``pid`` so far, in ns (``/proc/PID/task/*/schedstat``)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended between listing and reading
    return total


class CpuMeter:
    """CPU run time of the daemon and of its bus daemon since the meter was made."""

    def __init__(self, daemon: int, bus: int) -> None:
        self.pids = (daemon, bus)
        self.start = [cpu_ns(p) for p in self.pids]
        self.t0 = time.monotonic()

    def read(self) -> tuple[float, float, float]:
        """Seconds of CPU of (daemon, bus daemon) and of wall time since the start."""
        daemon, bus = (cpu_ns(p) - s for p, s in zip(self.pids, self.start))
        return daemon / 1e9, bus / 1e9, time.monotonic() - self.t0


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def dbus_fast_build(python: str) -> str:
    """``compiled`` or ``pure`` for the dbus-fast that ``python`` imports."""
    probe = "import dbus_fast.message as m; print('compiled' if m.__file__.endswith(('.so', '.pyd')) else 'pure')"
    try:
        return subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


class ReplyClock:
    """Wraps a simulator to note when it produced the reply carrying a given current."""

    def __init__(self, sim) -> None:
        self.sim = sim
        self.watch: float | None = None
        self.replied_at: float | None = None

    @property
    def pack(self):
        return self.sim.pack

    def handle(self, data: bytes) -> bytes:
        reply = self.sim.handle(data)
        if reply and self.watch is not None and self.replied_at is None and abs(self.sim.pack.current - self.watch) < 0.005:
            self.replied_at = time.monotonic()
        return reply


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def wait_for_services(h: DaemonHarness, n: int, t0: float) -> dict[str, int]:
    """Waits until the daemon owns the names of batteries 0..n-1; maps each owner to its battery."""
    assert h.bus is not None
    owners: dict[str, int] = {}
    while len(owners) < n:
        for i in range(n):
            if i in owners.values():
                continue
            owner = await name_owner(h.bus, h.service(i))
            if owner is not None:
                owners[owner] = i
        if time.monotonic() - t0 > 60:
            raise RuntimeError(h.daemon_log())
        await asyncio.sleep(0.005)
    return owners


async def round_trips(h: DaemonHarness, count: int) -> list[float]:
    assert h.bus is not None
    out = []
    for _ in range(count):
        t = time.monotonic()
        await get_items(h.bus, h.service(0))
        out.append(time.monotonic() - t)
        await asyncio.sleep(0.01)
    return out


async def garbage_phase(h: DaemonHarness, rate: float | None, seconds: float, calm_load: float) -> dict[str, float]:
    """The last line streams garbage at ``rate`` bytes/s (None: flat out) and answers polls with it."""
    assert h.proc is not None
    server = h.servers[-1]
    h.sims[-1].fault = Fault.GARBAGE
    server.stream_garbage(rate)
    await asyncio.sleep(1.0)
    sent0, meter = server.garbage_sent, CpuMeter(h.proc.pid, h.private.pid)
    await asyncio.sleep(seconds)
    daemon, bus, wall = meter.read()
    sent = server.garbage_sent - sent0
    trips = await round_trips(h, 200)
    server.stop_garbage()
    h.sims[-1].fault = Fault.NONE
    return {
        "bytes_per_s": sent / wall,
        "load_pct": 100 * (daemon + bus) / wall,
        "extra_pct": 100 * ((daemon + bus) / wall - calm_load),
        "getitems_p95_ms": 1000 * pct(trips, 0.95),
    }


async def measure(n: int, seconds: float, garbage_seconds: float, poll_interval: float, python: str,
                  properties_changed: bool) -> dict[str, float]:
    config = f"poll_interval: {poll_interval}" + ("\nproperties_changed: true" if properties_changed else "")
    with tempfile.TemporaryDirectory(prefix="dbus-bms-bench-") as tmp, PrivateBus() as private:
        h = DaemonHarness(private, Path(tmp), count=n, extra_config=config, python=python)
        clocks = [ReplyClock(sim) for sim in h.sims]
        for server, clock in zip(h.servers, clocks):
            server.device = clock
        t0 = time.monotonic()
        await h.start(log_level="warning")
        bus = h.bus
        assert bus is not None and h.proc is not None and private.pid is not None
        owners = await wait_for_services(h, n, t0)
        startup = time.monotonic() - t0

        pending: dict[int, tuple[float, float]] = {}
        seen = [asyncio.Event() for _ in range(n)]
        change_lat: list[float] = []
        frame_lat: list[float] = []
        signals = [0]

        def on_message(msg: Message) -> None:
            if msg.member != "ItemsChanged" or msg.sender not in owners:
                return
            signals[0] += 1
            i = owners[msg.sender]
            item = msg.body[0].get("/Dc/0/Current")
            if item is None or i not in pending:
                return
            value, changed_at = pending[i]
            if abs(item["Value"].value - value) < 0.005:
                now = time.monotonic()
                change_lat.append(now - changed_at)
                if clocks[i].replied_at is not None:
                    frame_lat.append(now - clocks[i].replied_at)
                del pending[i]
                clocks[i].watch = None
                seen[i].set()

        bus.add_message_handler(on_message)
        await watch_items_changed(bus)
        await asyncio.sleep(2 * poll_interval)

        async def change_values(i: int, end: float) -> None:
            # Each change lands at a uniformly random moment of the poll period, as a real change
            # at the BMS would, so the latency includes the wait for the next poll.
            rng = random.Random(i)
            step = 0
            while time.monotonic() < end:
                await asyncio.sleep(rng.uniform(0, poll_interval))
                step += 1
                value = round((-1) ** step * (5 + (step % 400) * 0.01), 2)
                clocks[i].watch, clocks[i].replied_at = value, None
                seen[i].clear()
                h.sims[i].pack.current_override = value
                pending[i] = (value, time.monotonic())
                try:
                    await asyncio.wait_for(seen[i].wait(), 5 * poll_interval + 5)
                except TimeoutError:
                    pending.pop(i, None)

        polls0, signals0 = sum(s.requests for s in h.sims), signals[0]
        meter = CpuMeter(h.proc.pid, private.pid)
        await asyncio.gather(*(change_values(i, time.monotonic() + seconds) for i in range(n)))
        daemon_s, bus_s, wall = meter.read()
        polls = sum(s.requests for s in h.sims) - polls0
        updates = signals[0] - signals0

        calm = await round_trips(h, 100)
        line_rate = await garbage_phase(h, LINE_RATE, garbage_seconds, (daemon_s + bus_s) / wall)
        flat_out = await garbage_phase(h, None, garbage_seconds, (daemon_s + bus_s) / wall)
        rss = peak_rss_mib(h.proc.pid)
        await h.stop()
        per_update = 1000 / max(updates, 1)
        return {
            "startup_s": startup,
            "updates": updates,
            "polls": polls,
            "daemon_ms": per_update * daemon_s,
            "bus_ms": per_update * bus_s,
            "total_ms": per_update * (daemon_s + bus_s),
            "rss_mib": rss,
            "change_p50_ms": 1000 * median(change_lat),
            "change_p95_ms": 1000 * pct(change_lat, 0.95),
            "frame_p50_ms": 1000 * median(frame_lat),
            "frame_p95_ms": 1000 * pct(frame_lat, 0.95),
            "getitems_p95_ms": 1000 * pct(calm, 0.95),
            "line": line_rate,
            "flat": flat_out,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("counts", nargs="*", type=int, default=[1, 4, 16, 64])
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement of updates and latency per run")
    parser.add_argument("--garbage-seconds", type=float, default=10.0, help="CPU measurement per garbage stream")
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs the daemon")
    parser.add_argument("--properties-changed", action="store_true", help="also send per-path PropertiesChanged")
    args = parser.parse_args()
    build = dbus_fast_build(args.python)
    print(f"poll interval {args.poll_interval:g} s, {args.seconds:g} s of updates and {args.garbage_seconds:g} s "
          f"per garbage stream per run, daemon on {args.python} (dbus-fast {build}), "
          f"PropertiesChanged {'on' if args.properties_changed else 'off'}")
    header = ("N", "start s", "updates / polls", "CPU ms/update daemon + bus = total", "peak RSS MiB",
              "change p50 / p95 ms", "frame→signal p50 / p95 ms", "GetItems p95 ms",
              "line-rate garbage B/s, +% core, GetItems p95 ms", "flat-out garbage MB/s, % core, GetItems p95 ms")
    print(" | ".join(header))
    for n in args.counts:
        r = asyncio.run(measure(n, args.seconds, args.garbage_seconds, args.poll_interval, args.python,
                                args.properties_changed))
        line, flat = r["line"], r["flat"]
        print(" | ".join([
            str(n), f"{r['startup_s']:.2f}", f"{r['updates']} / {r['polls']}",
            f"{r['daemon_ms']:.3f} + {r['bus_ms']:.3f} = {r['total_ms']:.3f}", f"{r['rss_mib']:.1f}",
            f"{r['change_p50_ms']:.0f} / {r['change_p95_ms']:.0f}", f"{r['frame_p50_ms']:.2f} / {r['frame_p95_ms']:.2f}",
            f"{r['getitems_p95_ms']:.2f}",
            f"{line['bytes_per_s']:.0f}, +{line['extra_pct']:.1f} %, {line['getitems_p95_ms']:.2f}",
            f"{flat['bytes_per_s'] / 1e6:.1f}, {flat['load_pct']:.0f} %, {flat['getitems_p95_ms']:.2f}",
        ]), flush=True)


if __name__ == "__main__":
    main()
