"""What a battery group costs the GX beside the same packs as separate batteries.

Runs the real ``dbus-bms run`` on a private bus against N simulated serial JKs, once with the packs
as N batteries and once with them as the members of one group, and prints for each: the daemon's and
the bus daemon's CPU per pack reading (run time from ``/proc/PID/schedstat``), the ItemsChanged
signals the services sent per second, and the daemon's peak RSS. A group publishes once per poll
tick for all its members, so it should cost less on the bus than N services, and its combining a
little more in the daemon.

Usage: ``python bench/bench_group.py [--seconds S] [--poll-interval P] [N ...]`` (default 3 and 15).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from bench_daemon import CpuMeter, peak_rss_mib
from dbus_fast import Message

from dbus_bms.sim.bus import PrivateBus
from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.victron.reader import battery_services, name_owner, watch_items_changed


async def measure(n: int, grouped: bool, seconds: float, poll_interval: float) -> dict[str, float]:
    config = f"poll_interval: {poll_interval}\n"
    if grouped:
        config += f"groups:\n  - alias: bank\n    members: [{', '.join(f'jk{i}' for i in range(n))}]\n"
    with tempfile.TemporaryDirectory(prefix="dbus-bms-bench-") as tmp, PrivateBus() as private:
        h = DaemonHarness(private, Path(tmp), count=n, extra_config=config)
        await h.start(log_level="warning")
        assert h.bus is not None and h.proc is not None and private.pid is not None
        names = ["bank"] if grouped else list(range(n))
        await h.wait_for(lambda it: it.get("/Connected") == 1, names[-1])
        services = await battery_services(h.bus)
        owners = {await name_owner(h.bus, name) for name in services}
        signals = [0]

        def count(msg: Message) -> None:
            if msg.member == "ItemsChanged" and msg.sender in owners:
                signals[0] += 1

        h.bus.add_message_handler(count)
        await watch_items_changed(h.bus)
        await asyncio.sleep(2 * poll_interval)
        polls0, signals0 = sum(s.requests for s in h.sims), signals[0]
        meter = CpuMeter(h.proc.pid, private.pid)
        await asyncio.sleep(seconds)
        daemon_s, bus_s, wall = meter.read()
        polls = sum(s.requests for s in h.sims) - polls0
        sent = signals[0] - signals0
        rss = peak_rss_mib(h.proc.pid)
        await h.stop()
    return {
        "services": len(services),
        "polls": polls,
        "daemon_ms": 1000 * daemon_s / max(polls, 1),
        "bus_ms": 1000 * bus_s / max(polls, 1),
        "signals_per_s": sent / wall,
        "rss_mib": rss,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement per run")
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("n", type=int, nargs="*", default=[3, 15], help="packs per run")
    args = parser.parse_args()
    print(f"poll interval {args.poll_interval:g} s, {args.seconds:g} s per run")
    print(f"{'N':>3} {'as':<10} {'services':>8} {'pack readings':>13} {'CPU ms/reading daemon + bus':>28} "
          f"{'signals/s':>9} {'peak RSS MiB':>12}")
    for n in args.n:
        for grouped in (False, True):
            r = await measure(n, grouped, args.seconds, args.poll_interval)
            cpu = f"{r['daemon_ms']:.2f} + {r['bus_ms']:.2f} = {r['daemon_ms'] + r['bus_ms']:.2f}"
            print(f"{n:>3} {'one group' if grouped else 'batteries':<10} {r['services']:>8} {r['polls']:>13} "
                  f"{cpu:>28} {r['signals_per_s']:>9.1f} {r['rss_mib']:>12.1f}")


if __name__ == "__main__":
    asyncio.run(main())
