"""A picture of a charge-loop trace: what the cells did, what the algorithm asked, and why.

matplotlib is optional (``pip install dbus-bms[plot]``): only this module needs it, and only
when called, so the daemon on a GX never imports it.
"""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

from .charge_loop import Trace


class MatplotlibMissing(ImportError):
    """Plotting was asked for but matplotlib is not installed."""


def _runs(values: list, hours: list[float], step: float) -> list[tuple[object, float, float]]:
    """(value, start hour, width) for each stretch of equal consecutive values."""
    runs, i = [], 0
    for value, group in groupby(values):
        n = len(list(group))
        runs.append((value, hours[i], n * step))
        i += n
    return runs


def plot(trace: Trace, path: str | Path) -> None:
    """Write the trace as a PNG (or any format matplotlib knows from the suffix) to ``path``."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
        from matplotlib.ticker import MultipleLocator
    except ImportError as exc:
        raise MatplotlibMissing("plotting needs matplotlib: pip install matplotlib") from exc
    if not trace.t:
        raise ValueError("the trace is empty: simulate at least one step")

    h = trace.hours
    step_h = trace.dt / 3600.0
    span = h[-1] + step_h - h[0]
    # A Figure without pyplot: no GUI backend, no global state, safe in any process.
    fig = Figure(figsize=(15, 14), layout="constrained")
    axes = fig.subplots(5, 1, sharex=True, height_ratios=[3, 2, 2, 1.5, 0.6])
    cells_ax, pack_ax, amps_ax, soc_ax, mode_ax = axes
    fig.suptitle(
        f"{trace.profile}: {span:g} h, {trace.cells} cells, step {trace.dt:g} s", fontsize=13
    )

    per_cell = [None if v is None else v / trace.cells for v in trace.cvl]
    columns = list(zip(*trace.cell_voltages))
    for i, column in enumerate(columns):
        cells_ax.plot(h, column, linewidth=0.5, alpha=0.8, label="cells (one line each)" if i == 0 else None)
    cells_ax.plot(h, per_cell, color="black", linestyle="--", linewidth=1.2, label="CVL / cells")
    cells_ax.axhline(trace.cell_max_voltage, color="tab:green", linestyle=":", linewidth=1.5,
                     label=f"cell_max_voltage {trace.cell_max_voltage:g} V")
    cells_ax.axhline(trace.cell_ovp, color="tab:red", linestyle="-.", linewidth=1.2,
                     label=f"BMS over-voltage protection {trace.cell_ovp:g} V")
    for fets, colour, text in ((trace.charge_fet, "tab:red", "BMS charge FET open"),
                               (trace.discharge_fet, "tab:purple", "BMS discharge FET open")):
        spans = [(start, width) for on, start, width in _runs(fets, h, step_h) if not on]
        for start, width in spans:
            cells_ax.axvspan(start, start + width, color=colour, alpha=0.15, linewidth=0)
        if spans:
            cells_ax.add_patch(Patch(color=colour, alpha=0.15, label=text, visible=False))
    low = min(min(v) for v in trace.cell_voltages)
    high = max(max(v) for v in trace.cell_voltages)
    # The top is where charge control happens: keep the protection line in view, not the whole
    # flat middle of the curve when the cells never went low.
    cells_ax.set_ylim(max(low - 0.02, 2.4), max(high, trace.cell_ovp) + 0.03)
    cells_ax.set_ylabel("cell voltage (V)")
    cells_ax.set_title("Cells: the highest one is what the BMS protects", loc="left", fontsize=10)

    pack_ax.plot(h, trace.voltage, color="tab:blue", linewidth=1, label="pack voltage (at the BMS)")
    if any(abs(b - v) > 0.001 for b, v in zip(trace.bus_voltage, trace.voltage)):
        pack_ax.plot(h, trace.bus_voltage, color="tab:cyan", linewidth=0.8, label="voltage at the chargers")
    pack_ax.plot(h, trace.cvl, color="black", linestyle="--", linewidth=1.2, label="CVL (charge voltage limit)")
    pack_ax.set_ylabel("pack voltage (V)")

    amps_ax.plot(h, trace.charge_available, color="0.6", linewidth=0.7, label="chargers could give")
    amps_ax.plot(h, trace.ccl, color="tab:green", linewidth=1.2, label="CCL (charge current limit)")
    amps_ax.plot(h, [-d if d is not None else None for d in trace.dcl], color="tab:red", linewidth=1.2,
                 label="−DCL (discharge current limit)")
    amps_ax.plot(h, trace.current, color="tab:blue", linewidth=0.8, label="battery current (+ charging)")
    if any(trace.unserved):
        amps_ax.fill_between(h, [-u for u in trace.unserved], 0, color="tab:orange", alpha=0.5,
                             linewidth=0, label="load not served")
    amps_ax.axhline(0, color="black", linewidth=0.5)
    amps_ax.set_ylabel("current (A)")

    soc_ax.plot(h, trace.soc, color="tab:blue", linewidth=1.2, label="SoC")
    soc_ax.set_ylim(0, 100)
    soc_ax.set_ylabel("SoC (%)")
    temp_ax = soc_ax.twinx()
    temp_ax.plot(h, trace.temperature, color="tab:red", linewidth=1, label="cell temperature")
    temp_ax.plot(h, trace.ambient, color="tab:red", linewidth=0.6, linestyle=":", label="ambient")
    temp_ax.axhline(0, color="tab:red", linewidth=0.4, alpha=0.5)
    temp_ax.set_ylabel("temperature (°C)", color="tab:red")
    soc_lines, soc_labels = soc_ax.get_legend_handles_labels()
    temp_lines, temp_labels = temp_ax.get_legend_handles_labels()
    # Past the temperature axis' labels, in line with the other panels' legends.
    soc_ax.legend(soc_lines + temp_lines, soc_labels + temp_labels, loc="upper left", bbox_to_anchor=(1.05, 1.0),
                  fontsize=8)

    colours: dict[str, str] = {}
    palette = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
    for mode, start, width in _runs(trace.charge_mode, h, step_h):
        colour = colours.setdefault(str(mode), palette[len(colours) % len(palette)])
        mode_ax.broken_barh([(start, width)], (0, 1), color=colour, linewidth=0)
    mode_ax.set_yticks([])
    mode_ax.set_ylabel("mode")
    mode_ax.legend(handles=[Patch(color=c, label=m) for m, c in colours.items()], loc="upper left",
                   bbox_to_anchor=(1.0, 1.0), fontsize=8, title="charge mode")

    for ax in (cells_ax, pack_ax, amps_ax, mode_ax):
        for i, at in enumerate(trace.restarts):
            ax.axvline(at / 3600.0, color="tab:gray", linestyle="--", linewidth=0.8,
                       label="daemon restart" if i == 0 and ax is cells_ax else None)
    for i, at in enumerate(trace.glitches):
        cells_ax.axvline(at / 3600.0, color="tab:red", linewidth=0.8, alpha=0.6)
        cells_ax.plot([at / 3600.0], [trace.cell_ovp], marker="v", color="tab:red", linestyle="none",
                      label="glitch reading" if i == 0 else None)
    for ax in (cells_ax, pack_ax, amps_ax):
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    mode_ax.set_xlim(h[0], h[0] + span)
    mode_ax.xaxis.set_major_locator(MultipleLocator(6 if span <= 72 else 24))
    mode_ax.set_xlabel("time (hours since midnight of day one)")
    fig.savefig(path, dpi=100)
