"""Breakpoint tables with linear interpolation, clamped at both ends."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

Table = tuple[tuple[float, float], ...]


def make_table(points: Sequence[Sequence[float]]) -> Table:
    """A validated table: at least one point, x strictly increasing."""
    table = tuple((float(x), float(y)) for x, y in points)
    if not table:
        raise ValueError("a table needs at least one [x, y] point")
    for (x0, _), (x1, _) in zip(table, table[1:]):
        if x1 <= x0:
            raise ValueError(f"table x values must increase: {x0} then {x1}")
    return table


def interpolate(table: Table, x: float) -> float:
    """The table's value at ``x``; a non-finite ``x`` is refused, not clamped to either end."""
    if not math.isfinite(x):
        raise ValueError(f"cannot look up {x} in a table: not a finite number")
    if x <= table[0][0]:
        return table[0][1]
    if x >= table[-1][0]:
        return table[-1][1]
    i = bisect_right([p[0] for p in table], x)
    (x0, y0), (x1, y1) = table[i - 1], table[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
