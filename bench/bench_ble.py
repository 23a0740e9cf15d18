"""BLE figures for N = 1, 4, 16 simulated JKs reached through the real bleak and the fake BlueZ.

Runs ``dbus-bms run`` as a child on a private bus and prints: start → all services on the bus, CPU
per battery-update of the daemon and of the dbus-daemon routing its signals (run time in ns from
``/proc/PID/schedstat``; the updates counted as ItemsChanged received), peak RSS, and how fast a link the BMS dropped is back: drop → connected again,
and drop → the next reading published (median and max over the drops). The fake BlueZ answers in
microseconds where a real radio takes tens of milliseconds per exchange, so the connect times are
the daemon's own share, not what a GX will see.
Usage: ``python bench/bench_ble.py [--seconds S] [--drops D] [--python INTERPRETER] [N ...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_daemon import CpuMeter, dbus_fast_build, peak_rss_mib, wait_for_services
from dbus_fast import Message

from dbus_bms.sim.bus import PrivateBus
from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.victron.reader import watch_items_changed

POLL = 1.0


async def measure(n: int, seconds: float, drops: int, python: str) -> dict[str, float]:
    layouts = tuple("32s" if i % 2 == 0 else "24s" for i in range(n))
    with tempfile.TemporaryDirectory(prefix="dbus-bms-bench-ble-") as tmp, PrivateBus() as private:
        h = DaemonHarness(private, Path(tmp), count=0, ble_layouts=layouts, extra_config=f"poll_interval: {POLL}",
                          python=python)
        t0 = time.monotonic()
        await h.start(log_level="warning")
        assert h.bus is not None and h.proc is not None
        owners = await wait_for_services(h, n, t0)
        startup = time.monotonic() - t0

        published = [asyncio.Event() for _ in range(n)]
        marker: dict[int, float] = {}
        signals = [0]

        def on_message(msg: Message) -> None:
            # A reading taken after the drop carries the current set at the drop; nothing older does.
            if msg.member != "ItemsChanged" or msg.sender not in owners:
                return
            signals[0] += 1
            i = owners[msg.sender]
            item = msg.body[0].get("/Dc/0/Current")
            if item is not None and i in marker and abs(item["Value"].value - marker[i]) < 0.005:
                published[i].set()

        h.bus.add_message_handler(on_message)
        await watch_items_changed(h.bus)
        await asyncio.sleep(2 * POLL)
        assert h.private.pid is not None
        meter, signals0 = CpuMeter(h.proc.pid, h.private.pid), signals[0]
        await asyncio.sleep(seconds)
        daemon, bus, _ = meter.read()
        updates = signals[0] - signals0

        reconnect, reading = [], []
        for k in range(drops):
            i = k % n
            sim = h.ble_sims[i]
            await asyncio.sleep(random.uniform(0, POLL))  # drops come at any moment of the poll period
            published[i].clear()
            marker[i] = sim.model.pack.current_override = 10.0 + k
            sim.model.pack.advance(0)  # the next record carries it, whichever request asks
            t = time.monotonic()
            sim.drop_connection()
            while not sim.connected:
                await asyncio.sleep(0.002)
            reconnect.append(time.monotonic() - t)
            await asyncio.wait_for(published[i].wait(), 30)
            reading.append(time.monotonic() - t)
        rss = peak_rss_mib(h.proc.pid)
        await h.stop()
    return {
        "startup_s": startup,
        "updates": updates,
        "daemon_ms": 1000 * daemon / max(updates, 1),
        "bus_ms": 1000 * bus / max(updates, 1),
        "total_ms": 1000 * (daemon + bus) / max(updates, 1),
        "rss_mib": rss,
        "reconnect_p50_ms": 1000 * statistics.median(reconnect),
        "reconnect_max_ms": 1000 * max(reconnect),
        "reading_p50_ms": 1000 * statistics.median(reading),
        "reading_max_ms": 1000 * max(reading),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("counts", nargs="*", type=int, default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--drops", type=int, default=10)
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs the daemon")
    args = parser.parse_args()
    print(f"BLE, poll interval {POLL:g} s, {args.seconds:g} s of measurement and {args.drops} drops per run, "
          f"daemon on {args.python} (dbus-fast {dbus_fast_build(args.python)})")
    print("N | start s | updates | CPU ms/update daemon + bus = total | peak RSS MiB | drop→connected p50 / max ms | drop→next reading p50 / max ms")
    for n in args.counts:
        r = asyncio.run(measure(n, args.seconds, args.drops, args.python))
        print(f"{n} | {r['startup_s']:.2f} | {r['updates']} | "
              f"{r['daemon_ms']:.3f} + {r['bus_ms']:.3f} = {r['total_ms']:.3f} | {r['rss_mib']:.1f} | "
              f"{r['reconnect_p50_ms']:.0f} / {r['reconnect_max_ms']:.0f} | "
              f"{r['reading_p50_ms']:.0f} / {r['reading_max_ms']:.0f}", flush=True)


if __name__ == "__main__":
    main()
