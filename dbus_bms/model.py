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


@dataclass(frozen=True, slots=True)
class BmsSettings:
    """What the BMS itself is set to protect the cells at, as its protocol reports it; every field
    optional. Charge control treats these as ceilings: it never asks for a cell voltage at the BMS's
    over-voltage protection, nor for more current than the BMS lets through."""

    cell_ovp: float | None = None  # V: the BMS opens its charge FET above this
    cell_ovp_recovery: float | None = None  # V
    cell_uvp: float | None = None  # V: the BMS opens its discharge FET below this
    cell_uvp_recovery: float | None = None  # V
    max_charge_current: float | None = None  # A: charge over-current protection
    max_discharge_current: float | None = None  # A: discharge over-current protection
    charge_max_temperature: float | None = None  # °C: charge over-temperature protection
    charge_min_temperature: float | None = None  # °C: charge under-temperature protection
    discharge_max_temperature: float | None = None  # °C
    discharge_min_temperature: float | None = None  # °C
    balance_start_voltage: float | None = None  # V: the cell voltage from which it balances
    balance_trigger_voltage: float | None = None  # V: the cell difference that starts balancing
    cell_count: int | None = None
    nominal_capacity: float | None = None  # Ah


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
    # Ah taken out since full, <= 0, as Victron's battery monitors count it; None: derived from the
    # capacities where the BMS reports both.
    consumed_ah: float | None = None
    cell_voltages: list[float] | None = None
    cell_balancing: list[bool] | None = None
    # Each cell's internal resistance with its connection (Ω), as an active balancer measures it.
    cell_resistances: list[float] | None = None
    temperatures: list[float] | None = None
    mosfet_temperature: float | None = None
    charge_enabled: bool | None = None
    discharge_enabled: bool | None = None
    balancing: bool | None = None
    alarms: dict[str, int] = field(default_factory=dict)
    # Every condition the BMS's alarm and status bits report, in words, in the BMS's bit order
    # ("cell over-voltage protection, cell 7"), notices that raise no alarm included; () when
    # none is set, None when the BMS sent no such bits.
    conditions: tuple[str, ...] | None = None
    device: DeviceInfo | None = None
    # The BMS's own protection settings, for BMSes that report them; charge control stays inside them.
    bms_settings: BmsSettings | None = None
    # The BMS's own switches as it reports them ("charge", "discharge", "balance" → on), which control
    # from the GX sets; a FET whose switch is on still opens while the BMS protects, so the FETs
    # themselves are ``charge_enabled`` and ``discharge_enabled``. Empty when the BMS reports none.
    switches: dict[str, bool] = field(default_factory=dict)
    # Where the values came from when the battery borrows some from other devices
    # (``cells: neey-ble 3C:A5:4E:00:00:01; rest: jk-nw``); None when they all are the BMS's.
    sources: str | None = None

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
