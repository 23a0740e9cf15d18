"""The BMS's own protection settings as ceilings on the charge settings: what charge control asks
for stays inside what the BMS would allow, whatever the config says.

A BMS that reports a protection tighter than the config (an over-voltage protection at 3.50 V with
``cell_max_voltage: 3.55``) wins, less ``bms_margin``. A reported value that contradicts the
config's own order (an over-voltage protection under the discharge floor, an under-voltage one over
the float voltage) is not a setting anyone made: a misread, it is left out rather than let it stop
charging or discharging.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from ..model import BmsSettings
from .config import ChargeConfig

_VOLTAGES = ("cell_max_voltage", "top_balance_cell_voltage", "cell_float_voltage")
# How far apart the BMS's limits and our discharge floor and float voltage must stay to be believed.
_SANE_GAP = 0.1


def cell_ceiling(cfg: ChargeConfig, bms: BmsSettings | None) -> float | None:
    """The highest cell voltage charge control may ask for under the BMS's over-voltage protection,
    None when the BMS reports none (or one that cannot be right)."""
    if bms is None or bms.cell_ovp is None:
        return None
    ceiling = round(bms.cell_ovp - cfg.bms_margin, 4)
    return ceiling if ceiling > cfg.cell_min_voltage + _SANE_GAP else None


def cell_floor(cfg: ChargeConfig, bms: BmsSettings | None) -> float | None:
    """The lowest cell voltage discharge may reach above the BMS's under-voltage protection, None
    when the BMS reports none (or one that cannot be right)."""
    if bms is None or bms.cell_uvp is None:
        return None
    floor = round(bms.cell_uvp + cfg.bms_margin, 4)
    top = min(cfg.cell_float_voltage, cell_ceiling(cfg, bms) or cfg.cell_float_voltage)
    return floor if floor < top - _SANE_GAP else None


@lru_cache(maxsize=32)
def bounded(cfg: ChargeConfig, bms: BmsSettings | None) -> ChargeConfig:
    """``cfg`` with its cell voltages, currents and lowest charge temperature inside ``bms``'s."""
    if bms is None:
        return cfg
    changes: dict[str, float] = {}
    ceiling = cell_ceiling(cfg, bms)
    if ceiling is not None:
        changes.update({key: ceiling for key in _VOLTAGES if getattr(cfg, key) > ceiling})
    floor = cell_floor(cfg, bms)
    if floor is not None and cfg.cell_min_voltage < floor:
        changes["cell_min_voltage"] = floor
    if bms.max_charge_current and bms.max_charge_current < cfg.max_charge_current:
        changes["max_charge_current"] = bms.max_charge_current
    if bms.max_discharge_current and bms.max_discharge_current < cfg.max_discharge_current:
        changes["max_discharge_current"] = bms.max_discharge_current
    if bms.charge_min_temperature is not None and bms.charge_min_temperature > cfg.min_charge_temperature:
        changes["min_charge_temperature"] = bms.charge_min_temperature
    return replace(cfg, **changes) if changes else cfg


def exceeded(cfg: ChargeConfig, bms: BmsSettings) -> list[str]:
    """What in ``cfg`` goes beyond the BMS's settings, in words, for a warning at start and from
    check-config."""
    out = []
    ceiling = cell_ceiling(cfg, bms)
    for key in _VOLTAGES:
        if key == "top_balance_cell_voltage" and not cfg.top_balance_days:
            continue
        value = getattr(cfg, key)
        if ceiling is not None and value > ceiling:
            out.append(f"{key} {value:g} V is not {cfg.bms_margin:g} V under the BMS's cell over-voltage "
                       f"protection {bms.cell_ovp:g} V: charging stops at {ceiling:g} V per cell")
    floor = cell_floor(cfg, bms)
    if floor is not None and cfg.cell_min_voltage < floor:
        out.append(f"cell_min_voltage {cfg.cell_min_voltage:g} V is not {cfg.bms_margin:g} V over the BMS's cell "
                   f"under-voltage protection {bms.cell_uvp:g} V: discharge stops at {floor:g} V per cell")
    for key, limit, what in (
        ("max_charge_current", bms.max_charge_current, "charge over-current protection"),
        ("max_discharge_current", bms.max_discharge_current, "discharge over-current protection"),
    ):
        value = getattr(cfg, key)
        if limit and value > limit:
            out.append(f"{key} {value:g} A is above the BMS's {what} {limit:g} A: limited to {limit:g} A")
    if bms.charge_min_temperature is not None and cfg.min_charge_temperature < bms.charge_min_temperature:
        out.append(f"min_charge_temperature {cfg.min_charge_temperature:g} °C is below the BMS's charge "
                   f"under-temperature protection {bms.charge_min_temperature:g} °C: charging stops at "
                   f"{bms.charge_min_temperature:g} °C")
    if bms.cell_ovp is not None and ceiling is None:
        out.append(f"the BMS reports a cell over-voltage protection of {bms.cell_ovp:g} V, which cannot be right "
                   f"with cell_min_voltage {cfg.cell_min_voltage:g} V: ignored")
    if bms.cell_uvp is not None and floor is None:
        out.append(f"the BMS reports a cell under-voltage protection of {bms.cell_uvp:g} V, too close to the float "
                   f"voltage to be right: ignored")
    return out
