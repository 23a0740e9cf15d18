"""A group's own paths on its battery service: each member under ``/Packs/<k>/`` (k = 1..N in config
order), and the ``/System`` values that say what the one battery is made of.

A member's measurements and cells are shown while it is online only, as a battery's are: a member in
its own fail-safe shows its name, its link text and its own (fail-safe) limits, never a stale reading
as a live one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..charge.types import Limits
from ..group.combine import GroupReading
from ..model import ALARM_ALARM, ALARM_WARNING, Sample

_MEASURED = ("/Dc/0/Voltage", "/Dc/0/Current", "/Soc", "/System/MinCellVoltage", "/System/MaxCellVoltage")
_LIMITS = (
    "/Info/MaxChargeVoltage", "/Info/MaxChargeCurrent", "/Info/MaxDischargeCurrent", "/Info/ChargeLimitation",
    "/Io/AllowToCharge", "/Io/AllowToDischarge",
)
PACK_PATHS = ("/Name", "/Online", "/InstalledCapacity", "/Mgmt/Connection", *_MEASURED, *_LIMITS)


@dataclass(frozen=True, slots=True)
class Pack:
    """What the group's service shows of one member."""

    name: str
    sample: Sample | None  # its last accepted reading
    limits: Limits | None  # its own charge control's limits now
    online: bool
    connection: str  # its link text
    # The pack voltage at which its own charge control takes DCL to 0 with even cells (None: unknown).
    low_voltage: float | None = None


def pack_path(k: int, path: str) -> str:
    return f"/Packs/{k}{path}"


def pack_paths(count: int) -> list[str]:
    """Every member's paths but its cells, which come with its first reading (``cell_paths``)."""
    return [pack_path(k, p) for k in range(1, count + 1) for p in PACK_PATHS]


def cell_paths(k: int, first: int, upto: int) -> list[str]:
    """Member ``k``'s cell paths from cell ``first`` to ``upto``."""
    return [pack_path(k, f"/{kind}/Cell{i}") for i in range(first, upto + 1) for kind in ("Voltages", "Balances")]


def pack_values(k: int, pack: Pack, cells: int) -> dict[str, Any]:
    """Member ``k``'s paths, its cells up to ``cells`` (the cell paths it has)."""
    s, lim = pack.sample, pack.limits
    live = s if pack.online else None
    v: dict[str, Any] = {
        "/Name": pack.name,
        "/Online": int(pack.online),
        "/InstalledCapacity": s.capacity_full if s is not None else None,
        "/Mgmt/Connection": pack.connection,
        "/Dc/0/Voltage": live.voltage if live is not None else None,
        "/Dc/0/Current": live.current if live is not None else None,
        "/Soc": live.soc if live is not None else None,
        "/System/MinCellVoltage": live.min_cell if live is not None else None,
        "/System/MaxCellVoltage": live.max_cell if live is not None else None,
        "/Info/MaxChargeVoltage": lim.cvl if lim is not None else None,
        "/Info/MaxChargeCurrent": lim.ccl if lim is not None else None,
        "/Info/MaxDischargeCurrent": lim.dcl if lim is not None else None,
        "/Info/ChargeLimitation": lim.charge_limitation if lim is not None else None,
        "/Io/AllowToCharge": int(lim.allow_charge) if lim is not None else None,
        "/Io/AllowToDischarge": int(lim.allow_discharge) if lim is not None else None,
    }
    volts = (live.cell_voltages or []) if live is not None else []
    balancing = (live.cell_balancing or []) if live is not None else []
    for i in range(1, cells + 1):
        v[f"/Voltages/Cell{i}"] = volts[i - 1] if i <= len(volts) else None
        v[f"/Balances/Cell{i}"] = int(balancing[i - 1]) if i <= len(balancing) else None
    return {pack_path(k, path): value for path, value in v.items()}


def system_values(reading: GroupReading, packs: Sequence[Pack], wiring: str) -> dict[str, Any]:
    """The group's paths that a one-pack battery fills from its own reading: how many packs it has,
    how many are online, its lowest and highest cell and which pack it is in, the cable alarm."""
    stale = reading.limits.stale
    count = len(packs)
    low = reading.min_cell if not stale else None
    high = reading.max_cell if not stale else None
    counts = {len(p.sample.cell_voltages) for p in packs if p.sample is not None and p.sample.cell_voltages}
    lows = [p.low_voltage for p in packs]
    if any(v is None for v in lows):
        low_voltage = None
    else:
        # Parallel: DCL goes to 0 at the first pack that reaches its low; in series, the string's is the sum.
        low_voltage = round(sum(lows) if wiring == "series" else max(lows), 2)  # type: ignore[arg-type]
    return {
        "/System/NrOfModulesOnline": reading.online,
        "/System/NrOfModulesOffline": reading.offline,
        "/System/NrOfModulesBlockingCharge": reading.blocking_charge,
        "/System/NrOfModulesBlockingDischarge": reading.blocking_discharge,
        "/System/MinCellVoltage": low[0] if low is not None else None,
        "/System/MinVoltageCellId": low[1] if low is not None else None,
        "/System/MaxCellVoltage": high[0] if high is not None else None,
        "/System/MaxVoltageCellId": high[1] if high is not None else None,
        "/System/NrOfBatteries": count,
        "/System/BatteriesParallel": count if wiring == "parallel" else 1,
        "/System/BatteriesSeries": count if wiring == "series" else 1,
        "/System/NrOfCellsPerBattery": counts.pop() if len(counts) == 1 else None,
        "/Info/BatteryLowVoltage": low_voltage,
        # A warning while the group goes on without a pack, the alarm in its own fail-safe.
        "/Alarms/BmsCable": ALARM_ALARM if stale else ALARM_WARNING if reading.offline else 0,
    }
