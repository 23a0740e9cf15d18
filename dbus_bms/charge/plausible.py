"""Cell readings the physics rules out: held back one poll, applied once the next reading agrees.

A BMS now and then sends one cell wrong (a sense line that bounces, a frame whose checksum let
a bit through). Taken at its word, one reading of 3.60 V cuts CVL by volts and CCL to 0, or
sends a floating pack back to bulk. Between two readings a cell can only move by

    |change of current| × resistance  +  |current| × time / capacity × dV/d%  +  reading noise

(``ChargeConfig.glitch_*``: each bound generous, so a real cell never comes near it). A cell that
moved further keeps its previous voltage for this one poll; the next reading decides: still that
far from the kept voltage, it is real and applies at once. Without the current or the capacity
there is no bound, and every reading applies as it comes.
"""

from __future__ import annotations

from ..model import Sample
from .config import ChargeConfig


def cell_step_bound(cfg: ChargeConfig, current: float, prev_current: float, dt: float, capacity: float) -> float:
    """The most a cell's voltage can move in ``dt`` seconds between these two currents (V)."""
    flowed = max(abs(current), abs(prev_current)) * dt / 3600.0 / capacity * 100.0  # % of capacity
    return abs(current - prev_current) * cfg.glitch_cell_resistance + flowed * cfg.glitch_ocv_slope + cfg.glitch_noise


def plausible_cells(
    s: Sample, prev: Sample | None, used: tuple[float, ...] | None, held: bool, dt: float, cfg: ChargeConfig,
    limit: float,
) -> tuple[tuple[float, ...], bool]:
    """The cell voltages to control on, and whether any was held back.

    ``prev`` is the reading before ``s``, ``dt`` the seconds between them, ``used`` the cells
    control used last and ``held`` whether that poll held one back (then ``s`` confirms or not).
    The first reading after a start has nothing to be checked against: a cell over ``limit`` in
    it counts as at the limit until the next reading confirms it. CVL starts at the cells there,
    so one poll adds little, and a cut on a wrong first reading would hold CVL down for nothing.
    """
    cells = tuple(s.cell_voltages or ())
    if s.current is None or not s.capacity_full or s.capacity_full <= 0 or held:
        return cells, False
    if used is None:
        if max(cells, default=0.0) <= limit:
            return cells, False
        return tuple(min(v, limit) for v in cells), True
    if prev is None or prev.current is None or len(used) != len(cells) or dt <= 0:
        return cells, False
    bound = cell_step_bound(cfg, s.current, prev.current, dt, s.capacity_full)
    if all(abs(v - u) <= bound for v, u in zip(cells, used)):
        return cells, False
    return tuple(u if abs(v - u) > bound else v for v, u in zip(cells, used)), True
