"""The JK04 record layout of the oldest JK BLE boards (JK-B2A16S, JK-B1A24S: hardware and firmware
3.x; also the JK-B5A24S balancer).

Same framing, commands and device-info record as JK02 (``jk02``), but cell voltages are float32
and the cell-info record has no pack voltage, current, temperatures or state of charge: what it
carries is the cells, the balancer's state and current, and the uptime. No public source documents
error or status bits in it, so a JK04 reading has no alarms and its ``conditions`` are None (not
sent), never "none". ``jk02.decode`` and the encoders read these tables for layout ``"jk04"``.

The offsets are those that public decoders of captures of these boards agree on, checked against the
recorded frames in the tests.
"""

from __future__ import annotations

from .jk02 import Field, Layout

CELL_SLOTS = 24

CELL_INFO: dict[str, Field] = {
    "delta_cell_voltage": Field(206, "<f", 3),  # as the BMS last measured it; the cells may be newer
    "cells_enabled": Field(214, "<I"),  # bitmask of the cell slots in use, as in JK02
    # The balancer's highest and lowest cell (0-based), as in JK02.
    "max_cell": Field(218, "B"),
    "min_cell": Field(219, "B"),
    "balance_action": Field(220, "B"),  # 0 off, 1 charging balancer, 2 discharging balancer
    "balance_current": Field(222, "<f", 3),
    "runtime": Field(286, "<I"),
}

SETTINGS: dict[str, Field] = {
    "cell_count": Field(34, "<I"),
    "balance_start_voltage": Field(98, "<f", 3),
    "balance_trigger_voltage": Field(106, "<f", 3),
    "balancer_switch": Field(114, "<I"),
}

LAYOUT = Layout(tuple(Field(6 + 4 * i, "<f", 3) for i in range(CELL_SLOTS)), CELL_INFO, SETTINGS)
