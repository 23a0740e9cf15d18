"""The paths through which the GX switches a battery's BMS: its charge FET, discharge FET and balancer.

They carry the names the leading Venus driver for DIY BMSes gives them, which its GUI pages, and
owners' scripts, already use: 1 means switched off. Each shows the BMS's own switch as the last
live reading reports it (a BMS that reports no switch: its FET), invalid while unknown. A write
answers only once the BMS has been read back: 0 when the switch reads as asked, 2 when it was
refused or did not take. ``/Settings/HasSettings`` is 1 when the GX may switch this BMS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..model import Sample
from .busitem import BusItemTree

SWITCH_PATHS = {
    "/Settings/ForceChargingOff": "charge",
    "/Settings/ForceDischargingOff": "discharge",
    "/Settings/TurnBalancingOff": "balance",
}
HAS_SETTINGS = "/Settings/HasSettings"

# Switches ``which`` on or off; answers True once the BMS's state read back shows it, and the
# reading is published.
Switcher = Callable[[str, bool], Awaitable[bool]]


def add_paths(tree: BusItemTree, switcher: Switcher, *, has_settings: bool) -> None:
    """The control paths, invalid until a reading fills them; a write goes to ``switcher``."""
    for path, which in SWITCH_PATHS.items():
        tree.add(path, writeable=True, on_write=_writer(which, switcher))
    tree.add(HAS_SETTINGS, int(has_settings))


def _writer(which: str, switcher: Switcher) -> Callable[[str, Any], bool | Awaitable[bool]]:
    def on_write(path: str, value: Any) -> bool | Awaitable[bool]:
        if not isinstance(value, int) or value not in (0, 1):
            return False
        return switcher(which, not value)

    return on_write


def values(sample: Sample | None) -> dict[str, Any]:
    """The control paths' values for a live reading (None: all invalid)."""
    fets = {"charge": sample.charge_enabled, "discharge": sample.discharge_enabled} if sample is not None else {}
    out: dict[str, Any] = {}
    for path, which in SWITCH_PATHS.items():
        on = sample.switches.get(which, fets.get(which)) if sample is not None else None
        out[path] = None if on is None else int(not on)
    return out
