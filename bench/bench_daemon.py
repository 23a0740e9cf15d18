"""The daemon's budget figures (DESIGN.md, Performance budget) for N = 1, 4, 16 simulated serial JKs.

Runs the real ``dbus-bms run`` as a child on a private bus against JK simulators on ptys and prints:
start → all services on the bus, CPU per battery-update, peak RSS, value change at the BMS → the
ItemsChanged carrying it (median, p95), BMS reply written → that signal, and the GetItems round trip
while one line spews garbage. Usage: ``python bench/bench_daemon.py [--seconds S] [--poll-interval P] [N ...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dbus_fast import Message

from dbus_bms.sim.bus import PrivateBus
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.victron.reader import get_items, name_owner, watch_items_changed

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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


async def measure(n: int, seconds: float, poll_interval: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="dbus-bms-bench-") as tmp, PrivateBus() as private:
        h = DaemonHarness(private, Path(tmp), count=n, extra_config=f"poll_interval: {poll_interval}")
        clocks = [ReplyClock(sim) for sim in h.sims]
        for server, clock in zip(h.servers, clocks):
            server.device = clock
        t0 = time.monotonic()
        await h.start(log_level="warning")
        bus = h.bus
        assert bus is not None and h.proc is not None
        owners = await wait_for_services(h, n, t0)
        startup = time.monotonic() - t0

        pending: dict[int, tuple[float, float]] = {}
        seen = [asyncio.Event() for _ in range(n)]
        change_lat: list[float] = []
        frame_lat: list[float] = []

        def on_message(msg: Message) -> None:
            if msg.member != "ItemsChanged" or msg.sender not in owners:
                return
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
        polls0 = sum(s.requests for s in h.sims)
        cpu0 = cpu_seconds(h.proc.pid)

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

        await asyncio.gather(*(change_values(i, time.monotonic() + seconds) for i in range(n)))
        cpu = cpu_seconds(h.proc.pid) - cpu0
        updates = sum(s.requests for s in h.sims) - polls0

        async def round_trips(count: int) -> list[float]:
            out = []
            for _ in range(count):
                t = time.monotonic()
                await get_items(bus, h.service(0))
                out.append(time.monotonic() - t)
                await asyncio.sleep(0.01)
            return out

        calm = await round_trips(100)
        h.sims[-1].fault = Fault.GARBAGE
        garbage = await round_trips(200)
        h.sims[-1].fault = Fault.NONE
        rss = peak_rss_mib(h.proc.pid)
        await h.stop()
        return {
            "startup_s": startup,
            "cpu_ms_per_update": 1000 * cpu / max(updates, 1),
            "updates": updates,
            "rss_mib": rss,
            "change_p50_ms": 1000 * statistics.median(change_lat) if change_lat else float("nan"),
            "change_p95_ms": 1000 * pct(change_lat, 0.95),
            "changes": len(change_lat),
            "frame_p50_ms": 1000 * statistics.median(frame_lat) if frame_lat else float("nan"),
            "frame_p95_ms": 1000 * pct(frame_lat, 0.95),
            "getitems_p95_ms": 1000 * pct(calm, 0.95),
            "getitems_garbage_p95_ms": 1000 * pct(garbage, 0.95),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("counts", nargs="*", type=int, default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    args = parser.parse_args()
    print(f"poll interval {args.poll_interval:g} s, {args.seconds:g} s of measurement per run, "
          f"Python {sys.version.split()[0]}")
    header = ("N", "start s", "CPU ms/update", "updates", "peak RSS MiB", "change p50 ms", "change p95 ms",
              "frame→signal p50 ms", "p95 ms", "GetItems p95 ms", "…while garbage")
    print(" | ".join(header))
    for n in args.counts:
        r = asyncio.run(measure(n, args.seconds, args.poll_interval))
        print(" | ".join([
            str(n), f"{r['startup_s']:.2f}", f"{r['cpu_ms_per_update']:.3f}", str(r["updates"]),
            f"{r['rss_mib']:.1f}", f"{r['change_p50_ms']:.0f}", f"{r['change_p95_ms']:.0f}",
            f"{r['frame_p50_ms']:.2f}", f"{r['frame_p95_ms']:.2f}", f"{r['getitems_p95_ms']:.2f}",
            f"{r['getitems_garbage_p95_ms']:.2f}",
        ]), flush=True)


if __name__ == "__main__":
    main()
