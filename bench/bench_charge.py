"""Charge control's figures: the cost of one ``step`` (its share of the daemon's CPU per
battery-update), how fast ``simulate-charge`` runs simulated days, and the figure of each case a
real owner meets (``dbus_bms.sim.cases``: restarts, glitches, a drifted SoC, clouds over a
feed-in charger, ...) against its bound.

``step`` is timed on readings recorded from a closed-loop run, so every stage and the cell
over-voltage controller are in the mix, not one lucky branch. Usage:
``python bench/bench_charge.py [--hours H] [--cells N ...] [--case NAME ...] [--no-cases]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from dbus_bms.charge.config import ChargeConfig
from dbus_bms.charge.limits import initial_state, step
from dbus_bms.model import Sample
from dbus_bms.sim.cases import CASES
from dbus_bms.sim.charge_loop import run
from dbus_bms.sim.loop_pack import BmsProtection, LoopPack


def recorded_samples(cells: int, hours: float) -> list[Sample]:
    """The readings a BMS reported through a solar day, one per 5 s."""
    pack = LoopPack(cells=cells, protection=BmsProtection(balance_mode="active", balance_current=2.0))
    samples: list[Sample] = []
    original = pack.sample

    def recording() -> Sample:
        sample = original()
        samples.append(sample)
        return sample

    pack.sample = recording  # type: ignore[method-assign]
    run(hours, "solar-day", pack=pack, dt=5.0)
    return samples


def step_cost(samples: list[Sample], repeats: int = 5) -> float:
    """Median µs per step over ``repeats`` passes through the recorded day."""
    cfg = ChargeConfig()
    passes = []
    for _ in range(repeats):
        state = initial_state()
        started = time.perf_counter()
        for i, sample in enumerate(samples):
            _, state = step(sample, state, cfg, i * 5.0)
        passes.append((time.perf_counter() - started) / len(samples) * 1e6)
    return statistics.median(passes)


def simulation_speed(cells: int, hours: float) -> float:
    """Simulated hours per second of wall time for ``simulate-charge`` at its default 5 s step."""
    started = time.perf_counter()
    run(hours, "solar-day", cells=cells, dt=5.0)
    return hours / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--cells", type=int, nargs="*", default=[4, 16, 24])
    parser.add_argument("--case", nargs="*", choices=list(CASES), default=list(CASES), help="the cases to run")
    parser.add_argument("--no-cases", action="store_true", help="only the step cost and the simulation speed")
    args = parser.parse_args()
    print(f"{'cells':>5}  {'step (µs)':>9}  {'simulated h per s':>17}")
    for cells in args.cells:
        cost = step_cost(recorded_samples(cells, args.hours))
        speed = simulation_speed(cells, args.hours)
        print(f"{cells:>5}  {cost:>9.1f}  {speed:>17.0f}")
    if args.no_cases:
        return
    print()
    print(f"{'case':<22}  {'figure':<40}  {'value':>10}  {'bound':>11}  holds")
    for name in args.case:
        figure = CASES[name](ChargeConfig())
        sign = "≥" if figure.at_least else "≤"
        print(f"{name:<22}  {figure.what:<40}  {figure.value:>6.4g} {figure.unit:<3}  {sign} {figure.bound:>5g} {figure.unit:<3}"
              f"  {'yes' if figure.holds else 'NO'}", flush=True)


if __name__ == "__main__":
    main()
