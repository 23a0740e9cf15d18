"""Breakpoint tables refuse a lookup they cannot answer instead of failing deep inside."""

from __future__ import annotations

import math

import pytest

from dbus_bms.charge.tables import interpolate, make_table

TABLE = make_table([[3.15, 0.0], [3.30, 600.0]])


@pytest.mark.parametrize("x", [math.nan, math.inf, -math.inf])
def test_a_non_finite_x_is_a_clear_value_error(x):
    with pytest.raises(ValueError, match=f"cannot look up {x} in a table: not a finite number"):
        interpolate(TABLE, x)


def test_finite_x_are_interpolated_and_held_flat_beyond_the_ends():
    assert interpolate(TABLE, 3.225) == pytest.approx(300.0)
    assert interpolate(TABLE, -1e308) == 0.0 and interpolate(TABLE, 1e308) == 600.0
