"""Charge-control settings, with the reason for each default (the README quotes them).

Each numeric field declares its unit and the range the config accepts, so the YAML parser can
name a wrong value with its key and line without knowing what the field means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .tables import Table, make_table


def _v(default: float, lo: float, hi: float, unit: str) -> float:
    return field(default=default, metadata={"range": (lo, hi), "unit": unit})


def _table(points: list[tuple[float, float]] | None) -> Table | None:
    return field(default=make_table(points) if points is not None else None, metadata={"table": True})


@dataclass(frozen=True, slots=True)
class ChargeConfig:
    # --- Charge voltage (CVL) -------------------------------------------------------------------
    # 3.45 V per LiFePO4 cell is full for practical purposes (above 99 % SoC) with headroom under
    # the 3.65 V cell maximum and the usual BMS over-voltage protection at 3.60-3.65 V.
    cell_max_voltage: float = _v(3.45, 2.0, 4.5, "V")
    # Below 2.90 V a LiFePO4 cell has nothing left worth taking; discharge ends here.
    cell_min_voltage: float = _v(2.90, 1.5, 4.0, "V")
    # Float holds a full LiFePO4 pack at its resting voltage (about 3.35 V per cell when full), a
    # little above so the chargers cover the loads, without keeping the cells at the stressful top.
    cell_float_voltage: float = _v(3.375, 2.5, 4.5, "V")
    # Absorption: time at the charge voltage with the cells close together before float. 15 min
    # lets an active or passive balancer finish the last millivolts and the BMS see the pack full.
    absorption_time: float = _v(900.0, 0.0, 86400.0, "s")
    # The absorption clock only runs while the cells are this close (highest - lowest); it starts
    # over when they drift this much further apart. A pack this tight at the top is balanced; the
    # 5 mV between the two keep a BMS's ±2 mV reading noise (up to 4 mV on the spread) from
    # restarting it.
    absorption_cell_diff: float = _v(0.010, 0.001, 0.5, "V")
    absorption_restart_diff: float = _v(0.005, 0.0, 0.5, "V")
    # The pack is at the target within this per cell (or its highest cell within this of its limit,
    # where the over-voltage control holds it): chargers regulate a little under their set point,
    # and the cables take a few millivolts more.
    at_target_margin: float = _v(0.005, 0.0, 0.1, "V per cell")
    # Float transition: CVL falls at this rate per cell (16 cells: 1.6 mV/s, 75 mV per cell in
    # 12.5 min), so chargers and the loads settle gently instead of the battery covering a step.
    float_transition_rate: float = _v(0.0001, 0.00001, 0.1, "V/s per cell")
    # Back to bulk from float on what the cells do, not on the BMS's SoC, which drifts (a JK's
    # counter can read 40 % on a full pack): when the highest cell has stayed below this for the
    # rest time (3.32 V is about 75 % on the LiFePO4 curve, below anything a full pack shows
    # under a house load)...
    rebulk_rest_voltage: float = _v(3.32, 2.0, 4.5, "V")
    rebulk_rest_time: float = _v(1800.0, 0.0, 86400.0, "s")
    # ...or when this share of the BMS's full capacity has been taken out since the last full
    # charge, counted here from the current (a fifth: a day's house load on most packs, far more
    # than the load steps a full pack rides through in float)...
    rebulk_discharged: float = _v(0.20, 0.01, 1.0, "share of capacity")
    # ...with the BMS's SoC below this as a hint only: it halves the rest time and the share, so a
    # SoC that drifted low cannot send a full pack round absorption on its own...
    rebulk_soc: float = _v(80.0, 0.0, 100.0, "%")
    # ...or the cells drift this far apart (a fresh charge lets the balancer work at the top)...
    rebulk_cell_diff: float = _v(0.080, 0.005, 1.0, "V")
    # ...or the lowest cell falls below this: 3.25 V even under load means a LiFePO4 pack well
    # below full.
    rebulk_cell_voltage: float = _v(3.25, 2.0, 4.5, "V")
    # A full charge to a higher cell voltage every N days (0: never), so the BMS's balancer works
    # where cell voltages differ and its SoC counter resets at the top. Ends like any absorption.
    top_balance_days: float = _v(0.0, 0.0, 365.0, "days")
    top_balance_cell_voltage: float = _v(3.55, 2.0, 4.5, "V")
    # A top balance ends, counted as done for its period, after this long from its first
    # absorption, or when the spread has not narrowed by the progress step for the stall time: a
    # weak cell or a balancer too small for the pack would otherwise hold a cell at 3.55 V for
    # hours every day. 4 h lets a 2 A balancer move 8 Ah; an hour without 5 mV of progress means
    # it is not getting there.
    top_balance_max_time: float = _v(14400.0, 600.0, 172800.0, "s")
    top_balance_stall_time: float = _v(3600.0, 300.0, 86400.0, "s")
    top_balance_progress: float = _v(0.005, 0.001, 0.5, "V")
    # Added to CVL for the voltage lost on the cables between charger and BMS (measure it at full
    # charge current). Near full the current and the drop are small, so the pack then sits above
    # the target by up to this much; the cell over-voltage control below catches any cell that
    # passes its limit that way.
    voltage_drop: float = _v(0.0, 0.0, 2.0, "V")
    # CVL never rises faster than this per cell, whatever raises it (a start, float → bulk, the
    # recovery after a cut): a charger that ignores CCL, a feed-in MPPT, then cannot push a cell
    # past its limit before the next reading shows it. 0.1 mV/s per cell, the recovery's rate:
    # 16 cells climb the 1.2 V from float to bulk in 12.5 min.
    cvl_rise_rate: float = _v(0.0001, 0.000001, 0.1, "V/s per cell")
    # At a start CVL begins at the sum of the cells plus this per cell (or the target, if lower)
    # and climbs from there: nothing on record says what the cells did a moment ago. 10 mV per
    # cell lets about 20 A into a 16-cell 280 Ah pack at once.
    cvl_start_margin: float = _v(0.010, 0.0, 0.5, "V per cell")
    # The published CVL rises only once the computed one is this far above it (then follows it at
    # the rise rate): every change is a write to every charger. Reductions go out at once.
    cvl_publish_step: float = _v(0.010, 0.0, 0.5, "V")

    # --- Cell over-voltage control ----------------------------------------------------------------
    # The controller pulls CVL down as soon as the highest cell passes its limit (cell_max_voltage,
    # or the top-balance voltage), long before the BMS's own protection at 3.60-3.65 V.
    # How hard: 1.0 lowers CVL by (cells × excess), which moves the highest cell back to its set
    # point when the cells' resistances are alike; more reacts harder, less more gently.
    ovp_gain: float = _v(1.0, 0.1, 10.0, "")
    # After a cut, CVL stays down this long, then climbs back: per cell, at the highest cell's
    # headroom under its limit times the gain, at most at the rate. 0.01/s with 10 mV of headroom
    # is 0.1 mV/s; with 1 mV it is 0.01 mV/s, so CVL creeps up to where the highest cell sits at
    # its limit instead of overshooting into the next cut (a cell that ran away near full needs
    # minutes of balancing, and climbing fast would only provoke one).
    ovp_recovery_hold: float = _v(60.0, 0.0, 3600.0, "s")
    ovp_recovery_gain: float = _v(0.01, 0.0001, 1.0, "1/s")
    ovp_recovery_rate: float = _v(0.0001, 0.000001, 0.1, "V/s per cell")
    # A cut aims this far under the limit, and CVL climbs only while the highest cell is more
    # than this under it: a band wider than the ±2 mV a BMS's reading wobbles, so the hold does
    # not cut and climb on noise.
    ovp_deadband: float = _v(0.005, 0.0, 0.05, "V")
    # The climb needs the pack charging (current above this) and sitting at CVL: a cell that
    # sagged under a load or a cloud says nothing about the CVL it can take, and climbing then
    # would leave a high CVL for the sun's return through a charger that ignores CCL. A pack that
    # rests at the held CVL is at its target for the absorption clock, so float still comes.
    ovp_recovery_min_current: float = _v(0.5, 0.0, 1000.0, "A")

    # --- Readings the physics rules out ---------------------------------------------------------
    # Between two readings a cell moves by at most (change of current) × its resistance, plus the
    # drift of its open-circuit voltage with the charge that flowed, plus the BMS's reading noise.
    # Each bound is generous, so only what no cell does is held back (one poll, until the next
    # reading confirms it): 5 mΩ is ten times a large cell with its busbar share, 0.5 V per % of
    # capacity the steepest part of the LiFePO4 curve above full, 5 mV twice a BMS's noise.
    glitch_cell_resistance: float = _v(0.005, 0.0, 1.0, "Ω")
    glitch_ocv_slope: float = _v(0.5, 0.0, 100.0, "V per % of capacity")
    glitch_noise: float = _v(0.005, 0.0, 1.0, "V")

    # --- Currents (CCL, DCL) ----------------------------------------------------------------------
    max_charge_current: float = _v(100.0, 0.0, 10000.0, "A")
    max_discharge_current: float = _v(150.0, 0.0, 10000.0, "A")
    # Charging LiFePO4 below 0 °C plates lithium on the anode, permanently.
    min_charge_temperature: float = _v(0.0, -40.0, 60.0, "°C")
    # Without a temperature reading we cannot know the pack is above freezing: refuse to charge.
    charge_without_temperature: bool = False
    # Fraction of max_charge_current over the highest cell voltage: full current until the knee,
    # then tapering so the highest cell arrives at cell_max_voltage slowly, and 0 just above it.
    ccl_cell_voltage: Table = _table([(3.40, 1.0), (3.45, 0.2), (3.50, 0.05), (3.55, 0.0)])
    # Fraction of max_discharge_current over the lowest cell voltage: tapering into the knee, 0 at
    # cell_min_voltage.
    dcl_cell_voltage: Table = _table([(2.90, 0.0), (3.00, 0.1), (3.10, 0.5), (3.15, 1.0)])
    # Fraction of current over the coldest and warmest cell sensor, derating near the limits.
    ccl_temperature: Table = _table([(0.0, 0.0), (5.0, 0.3), (10.0, 1.0), (40.0, 1.0), (45.0, 0.0)])
    dcl_temperature: Table = _table([(-20.0, 0.0), (-10.0, 0.3), (0.0, 1.0), (55.0, 1.0), (60.0, 0.0)])
    ccl_mosfet_temperature: Table = _table([(70.0, 1.0), (85.0, 0.0)])
    dcl_mosfet_temperature: Table = _table([(70.0, 1.0), (85.0, 0.0)])
    # Optional fractions over the BMS's SoC (off by default: a drifting SoC should not throttle).
    ccl_soc: Table | None = _table(None)
    dcl_soc: Table | None = _table(None)
    # A limit that rose again waits this long after the last reduction, then climbs at this rate;
    # from 0 it resumes only once the tables allow this share of the maximum. So a cell hovering at
    # a table's knee does not switch the chargers on and off every poll.
    current_recovery_hold: float = _v(30.0, 0.0, 3600.0, "s")
    current_recovery_rate: float = _v(5.0, 0.01, 10000.0, "A/s")
    current_recovery_threshold: float = _v(0.015, 0.0, 1.0, "share of max")

    # --- The BMS's own settings -------------------------------------------------------------------
    # Where the BMS reports its protections, charge control keeps this far inside them: every cell
    # voltage it charges to stays this much under the BMS's over-voltage protection, and discharge
    # ends this much above its under-voltage protection, so the BMS never has to trip first.
    bms_margin: float = _v(0.03, 0.005, 0.5, "V")

    # --- Fail-safe --------------------------------------------------------------------------------
    # Ten polls at 1 s: long enough to ride out a few lost frames, short enough that a charger
    # pushing 100 A adds under 0.3 Ah before charging is blocked.
    stale_after: float = _v(10.0, 1.0, 3600.0, "s")
    # While the BMS is silent, discharge goes on at most at this current, for a grace time that
    # depends on how full the pack was: a pack near empty gets DCL 0 at once.
    failsafe_discharge_current: float = _v(20.0, 0.0, 10000.0, "A")
    # The grace: none for a pack near empty (3.15 V), 2 h for one in its flat middle (3.30 V and
    # up). At 20 A a 100 Ah pack in the middle of its curve has 2-4 h left, a full one more: a
    # blackout after minutes on a quiet night is what the pack's state does not justify, and the
    # BMS's own under-voltage protection still stands behind the cells whatever we do.
    failsafe_grace: Table = _table([(3.15, 0.0), (3.30, 7200.0)])
    # A BMS whose firmware hangs can go on answering with the same reading. Readings that repeat
    # identically (every cell and the current) this many polls in a row while current flows are
    # not fresh data, and the fail-safe takes over (0: never). With current flowing, the cells and
    # the current move by a digit within seconds on every BMS we read.
    frozen_polls: float = _v(60.0, 0.0, 100000.0, "polls")

    def check(self) -> list[tuple[str, str]]:
        """Settings that contradict each other, as (key, message)."""
        problems = []
        if self.cell_min_voltage >= self.cell_max_voltage:
            problems.append(("cell_min_voltage", f"{self.cell_min_voltage} must be below cell_max_voltage {self.cell_max_voltage}"))
        if not self.cell_min_voltage < self.cell_float_voltage <= self.cell_max_voltage:
            problems.append(("cell_float_voltage", f"{self.cell_float_voltage} must lie between cell_min_voltage and cell_max_voltage"))
        if self.top_balance_days and self.top_balance_cell_voltage < self.cell_max_voltage:
            problems.append(("top_balance_cell_voltage", f"{self.top_balance_cell_voltage} is below cell_max_voltage {self.cell_max_voltage}"))
        return problems
