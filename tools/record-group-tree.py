#!/usr/bin/env python3
"""Records the D-Bus tree of a battery group as the running daemon publishes it, for the GUI tests.

The real daemon runs on a private bus with three members in one parallel group: two simulated JKs
over BLE (32 and 24 cells, charging, so that their top cells balance) and a JK NW on a pty that is
then silenced, so the tree holds a member offline in its own fail-safe. Writes {path: value} as JSON
(default: tests/fixtures/gui_group_tree.json).

    .venv/bin/python tools/record-group-tree.py [OUT]
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
from dbus_bms.sim.faults import Fault  # noqa: E402
from dbus_bms.sim.harness import DaemonHarness  # noqa: E402

GROUP = "bank"
MEMBERS = ("jkble0", "jkble1", "jk0")
CONFIG = (
    "poll_interval: 0.2\ncharge:\n  stale_after: 2.0\n"
    f"groups:\n  - alias: {GROUP}\n    members: [{', '.join(MEMBERS)}]\n    min_members: 2\n"
)
# Each BLE pack charges at this current, and its balancer starts at this spread (V).
CHARGE_CURRENT = 30.0
BALANCE_SPREAD = 0.002


def balancing(items: dict, k: int) -> bool:
    return any(items.get(f"/Packs/{k}/Balances/Cell{i}") == 1 for i in range(1, 33))


def all_online(items: dict) -> bool:
    return items.get("/System/NrOfModulesOnline") == 3 and balancing(items, 1) and balancing(items, 2)


def one_offline(items: dict) -> bool:
    """The silenced member is in its own fail-safe and the other two are read and balancing."""
    return (
        items.get("/Connected") == 1
        and items.get("/System/NrOfModulesOffline") == 1
        and items.get("/Packs/3/Online") == 0
        and balancing(items, 1)
        and balancing(items, 2)
    )


async def record(out: Path) -> None:
    with PrivateBus() as bus, tempfile.TemporaryDirectory() as tmp:
        h = DaemonHarness(bus, Path(tmp), count=1, ble_layouts=("32s", "24s"), extra_config=CONFIG)
        for sim in h.ble_sims:
            sim.model.pack.current_override = CHARGE_CURRENT
            sim.model.pack.balance_threshold = BALANCE_SPREAD
        await h.start()
        try:
            await h.wait_for(all_online, GROUP, timeout=60)
            h.sims[0].fault = Fault.SILENT
            items = await h.wait_for(one_offline, GROUP, timeout=60)
        finally:
            await h.stop()
    out.write_text(json.dumps(dict(sorted(items.items())), indent=1) + "\n")
    print(f"{len(items)} paths written to {out}")


if __name__ == "__main__":
    asyncio.run(record(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests/fixtures/gui_group_tree.json"))
