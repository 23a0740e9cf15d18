#!/usr/bin/env python3
"""Records the D-Bus tree of one battery as the running daemon publishes it, for the GUI tests.

The real daemon runs on a private bus against a simulated JK over BLE (through the fake BlueZ),
with control on and the pack charging, so the tree holds cells that balance, the BMS's own
settings and the three switches. Writes {path: value} as JSON (default: tests/fixtures/gui_tree.json).

    .venv/bin/python tools/record-tree.py [OUT]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dbus_bms.sim.bus import PrivateBus  # noqa: E402
from dbus_bms.sim.harness import DaemonHarness  # noqa: E402

CONFIG = "poll_interval: 0.2\ncontrol: true\n"
# The pack charges at this current, and its balancer starts at this spread (V): its top cells balance.
CHARGE_CURRENT = 30.0
BALANCE_SPREAD = 0.002


def complete(items: dict) -> bool:
    """Every part of the tree the pages show has been filled by a live reading."""
    return (
        items.get("/Connected") == 1
        and items.get("/Bms/CellOverVoltageProtection") is not None
        and items.get("/Settings/ForceChargingOff") is not None
        and any(items.get(f"/Balances/Cell{i}") == 1 for i in range(1, 33))
    )


async def record(out: Path) -> None:
    with PrivateBus() as bus, tempfile.TemporaryDirectory() as tmp:
        h = DaemonHarness(bus, Path(tmp), count=0, ble_layouts=("32s",), extra_config=CONFIG)
        pack = h.ble_sims[0].model.pack
        pack.current_override = CHARGE_CURRENT
        pack.balance_threshold = BALANCE_SPREAD
        await h.start()
        try:
            items = await h.wait_for(complete, 0, timeout=60)
        finally:
            await h.stop()
    out.write_text(json.dumps(dict(sorted(items.items())), indent=1) + "\n")
    print(f"{len(items)} paths written to {out}")


if __name__ == "__main__":
    asyncio.run(record(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests/fixtures/gui_tree.json"))
