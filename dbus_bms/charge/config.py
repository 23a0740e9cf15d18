"""Charge-control settings, with the reason for each default (the README quotes them)."""

from __future__ import annotations

from dataclasses import dataclass

from .tables import Table, make_table


@dataclass(frozen=True, slots=True)
class ChargeConfig:
    # 3.45 V per LiFePO4 cell is full for practical purposes (above 99 % SoC) with headroom under
    # the 3.65 V cell maximum and the usual BMS over-voltage protection at 3.60-3.65 V.
    cell_max_voltage: float = 3.45
    # Below 2.90 V a LiFePO4 cell has nothing left worth taking; discharge ends here.
    cell_min_voltage: float = 2.90
    max_charge_current: float = 100.0
    max_discharge_current: float = 150.0
    # Charging LiFePO4 below 0 °C plates lithium on the anode, permanently.
    min_charge_temperature: float = 0.0
    # Without a temperature reading we cannot know the pack is above freezing: refuse to charge.
    charge_without_temperature: bool = False
    # Fraction of max_charge_current over the highest cell voltage: full current until the knee,
    # then tapering so the highest cell arrives at cell_max_voltage slowly, and 0 just above it.
    ccl_cell_voltage: Table = make_table([(3.40, 1.0), (3.45, 0.2), (3.50, 0.05), (3.55, 0.0)])
    # Fraction of max_discharge_current over the lowest cell voltage: tapering into the knee, 0 at
    # cell_min_voltage.
    dcl_cell_voltage: Table = make_table([(2.90, 0.0), (3.00, 0.1), (3.10, 0.5), (3.15, 1.0)])
    # Fraction of current over the coldest and warmest cell sensor, derating near the limits.
    ccl_temperature: Table = make_table([(0.0, 0.0), (5.0, 0.3), (10.0, 1.0), (40.0, 1.0), (45.0, 0.0)])
    dcl_temperature: Table = make_table([(-20.0, 0.0), (-10.0, 0.3), (0.0, 1.0), (55.0, 1.0), (60.0, 0.0)])
    ccl_mosfet_temperature: Table = make_table([(70.0, 1.0), (85.0, 0.0)])
    dcl_mosfet_temperature: Table = make_table([(70.0, 1.0), (85.0, 0.0)])
    # Ten polls at 1 s: long enough to ride out a few lost frames, short enough that a charger
    # pushing 100 A adds under 0.3 Ah before charging is blocked.
    stale_after: float = 10.0
    # While the BMS is silent, discharge goes on at most at this current, for a grace time that
    # depends on how full the pack was: a pack near empty gets DCL 0 at once.
    failsafe_discharge_current: float = 20.0
    failsafe_grace: Table = make_table([(3.15, 0.0), (3.30, 600.0)])
