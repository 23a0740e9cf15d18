"""What a BMS told us, in Victron's units and sign.

Units: V, A, W, Ah, °C, %, seconds. Current > 0 means charging. A value the BMS
did not send is ``None``, never 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Alarm levels as Victron publishes them on /Alarms/*.
ALARM_OK = 0
ALARM_WARNING = 1
ALARM_ALARM = 2

# The /Alarms/<name> paths a BMS can raise; Sample.alarms uses these names as keys.
ALARM_NAMES = (
    "LowVoltage",
    "HighVoltage",
    "LowCellVoltage",
    "HighCellVoltage",
    "LowSoc",
    "HighChargeCurrent",
    "HighDischargeCurrent",
    "HighCurrent",
    "CellImbalance",
    "HighChargeTemperature",
    "LowChargeTemperature",
    "HighTemperature",
    "LowTemperature",
    "HighInternalTemperature",
    "InternalFailure",
    "FuseBlown",
    "BmsCable",
)


@dataclass(slots=True)
class DeviceInfo:
    """Identity of a BMS; every field optional because families report different subsets."""

    model: str | None = None
    hw_version: str | None = None
    sw_version: str | None = None
    serial: str | None = None

    def merged(self, other: DeviceInfo | None) -> DeviceInfo:
        """This info with the fields ``other`` knows filled in over ours."""
        if other is None:
            return self
        return DeviceInfo(
            model=other.model or self.model,
            hw_version=other.hw_version or self.hw_version,
            sw_version=other.sw_version or self.sw_version,
            serial=other.serial or self.serial,
        )


@dataclass(slots=True)
class Sample:
    """One reading of a battery pack."""

    voltage: float | None = None
    current: float | None = None
    power: float | None = None
    soc: float | None = None
    soh: float | None = None
    capacity_remaining: float | None = None
    capacity_full: float | None = None
    cycles: int | None = None
    cell_voltages: list[float] | None = None
    cell_balancing: list[bool] | None = None
    temperatures: list[float] | None = None
    mosfet_temperature: float | None = None
    charge_enabled: bool | None = None
    discharge_enabled: bool | None = None
    balancing: bool | None = None
    # The BMS's own configured current limits (A), for BMSes that report their settings.
    charge_current_limit: float | None = None
    discharge_current_limit: float | None = None
    alarms: dict[str, int] = field(default_factory=dict)
    device: DeviceInfo | None = None

    def __post_init__(self) -> None:
        unknown = set(self.alarms) - set(ALARM_NAMES)
        if unknown:
            raise ValueError(f"unknown alarm names: {sorted(unknown)}")
        if self.power is None and self.voltage is not None and self.current is not None:
            self.power = round(self.voltage * self.current, 3)

    @property
    def min_cell(self) -> float | None:
        return min(self.cell_voltages) if self.cell_voltages else None

    @property
    def max_cell(self) -> float | None:
        return max(self.cell_voltages) if self.cell_voltages else None

    def to_json(self) -> dict[str, Any]:
        """The --json shape: Sample field names, ``device`` only when known."""
        data = asdict(self)
        if self.device is None:
            del data["device"]
        return data
