"""One battery as a ``com.victronenergy.battery.*`` service: the path set and how a reading fills it."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from dbus_fast.aio import MessageBus

from .. import __version__
from ..charge.types import Limits
from ..model import ALARM_ALARM, ALARM_NAMES, Sample
from . import settings
from .busitem import BusItemTree

SERVICE_PREFIX = "com.victronenergy.battery."
# Not in Victron's product-id tables, and not 0xBA77, which Victron reserved for another driver:
# systemcalc applies brand quirks by ProductId, so a borrowed id would borrow its quirks.
PRODUCT_ID = 0xBD01

_MEASUREMENTS = (
    "/Dc/0/Voltage", "/Dc/0/Current", "/Dc/0/Power", "/Dc/0/Temperature", "/Soc", "/Soh", "/Capacity",
    "/ConsumedAmphours", "/TimeToGo", "/Voltages/Sum", "/Voltages/Diff", "/System/MinCellVoltage",
    "/System/MaxCellVoltage", "/System/MinVoltageCellId", "/System/MaxVoltageCellId",
    "/System/MinCellTemperature", "/System/MaxCellTemperature", "/System/MOSTemperature", "/Balancing",
    "/Io/AllowToBalance", "/History/ChargeCycles",
)
_STATIC = (
    "/System/NrOfCellsPerBattery", "/System/NrOfModulesOnline", "/System/NrOfModulesOffline",
    "/System/NrOfModulesBlockingCharge", "/System/NrOfModulesBlockingDischarge", "/InstalledCapacity",
    "/Info/MaxChargeVoltage", "/Info/MaxChargeCurrent", "/Info/MaxDischargeCurrent", "/Info/ChargeMode",
    "/Info/ChargeLimitation", "/Info/DischargeLimitation", "/Io/AllowToCharge", "/Io/AllowToDischarge",
    "/Mgmt/Connection", "/Mgmt/LinkQuality", "/Connected", "/FirmwareVersion", "/HardwareVersion", "/Serial",
    "/ProductName",
)


def service_name(suffix: str) -> str:
    """A valid bus name element: letters, digits, underscores; never a leading digit."""
    clean = re.sub(r"[^A-Za-z0-9_]", "_", suffix)
    return SERVICE_PREFIX + (clean if clean and not clean[0].isdigit() else "_" + clean)


def _cell_id(cells: list[float], pick) -> str:
    return f"C{cells.index(pick(cells)) + 1}"


class BatteryService:
    def __init__(
        self,
        bus: MessageBus,
        *,
        unique_id: str,
        service_suffix: str,
        product_name: str,
        process_name: str,
        connection: str,
        device_instance_fallback: int | None,
        state_dir: Path,
        cell_count: int | None,
    ) -> None:
        self.bus = bus
        self.unique_id = unique_id
        self.name = service_name(service_suffix)
        self.product_name = product_name
        self.process_name = process_name
        self.connection = connection
        self.fallback = device_instance_fallback
        self.state_file = Path(state_dir) / f"{settings.setting_key(unique_id)}.json"
        self.cells = cell_count or 0
        self.tree = BusItemTree(bus)
        self._use_settings = False
        self._custom_name_setting = f"/Settings/Devices/{settings.setting_key(unique_id)}/CustomName"
        self._pending: set[asyncio.Task] = set()

    async def start(self) -> None:
        t = self.tree
        self._use_settings = await settings.available(self.bus)
        instance = await settings.device_instance(self.bus, self.unique_id, fallback=self.fallback)
        custom = await self._load_custom_name()
        for path, value in (
            ("/Mgmt/ProcessName", self.process_name),
            ("/Mgmt/ProcessVersion", __version__),
            ("/DeviceInstance", instance),
            ("/ProductId", PRODUCT_ID),
        ):
            t.add(path, value)
        t.add("/CustomName", custom, writeable=True, on_write=self._on_custom_name)
        for path in (*_STATIC, *_MEASUREMENTS):
            t.add(path)
        for name in ALARM_NAMES:
            t.add(f"/Alarms/{name}")
        t.update({"/Mgmt/Connection": self.connection, "/ProductName": self.product_name, "/Connected": 0})
        self._add_cells(self.cells)
        await self.bus.request_name(self.name)

    async def stop(self) -> None:
        await self.bus.release_name(self.name)

    def _add_cells(self, upto: int) -> None:
        for i in range(1, upto + 1):
            if f"/Voltages/Cell{i}" not in self.tree:
                self.tree.add(f"/Voltages/Cell{i}")
                self.tree.add(f"/Balances/Cell{i}")
        self.cells = max(self.cells, upto)

    async def _load_custom_name(self) -> str:
        if self._use_settings:
            return await settings.add_setting(self.bus, self._custom_name_setting, "")
        try:
            return json.loads(self.state_file.read_text()).get("custom_name", "")
        except (OSError, ValueError):
            return ""

    def _on_custom_name(self, path: str, value: Any) -> bool:
        if not isinstance(value, str) or len(value) > 64:
            return False
        if self._use_settings:
            # A BusItem write handler cannot wait for a call of its own; the save follows at once.
            task = asyncio.get_running_loop().create_task(settings.set_value(self.bus, self._custom_name_setting, value))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        else:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"custom_name": value}))
            tmp.replace(self.state_file)
        return True

    def publish(self, sample: Sample | None, limits: Limits, *, connection_text: str | None = None, link_quality: float | None = None) -> None:
        v: dict[str, Any] = {
            "/Info/MaxChargeVoltage": limits.cvl,
            "/Info/MaxChargeCurrent": limits.ccl,
            "/Info/MaxDischargeCurrent": limits.dcl,
            "/Io/AllowToCharge": int(limits.allow_charge),
            "/Io/AllowToDischarge": int(limits.allow_discharge),
            "/Info/ChargeMode": limits.charge_mode,
            "/Info/ChargeLimitation": limits.charge_limitation,
            "/Info/DischargeLimitation": limits.discharge_limitation,
            "/Connected": 0 if limits.stale else 1,
            "/Mgmt/Connection": connection_text or self.connection,
            "/Mgmt/LinkQuality": round(100 * link_quality) if link_quality is not None else None,
            "/System/NrOfModulesOnline": 0 if limits.stale else 1,
            "/System/NrOfModulesOffline": 1 if limits.stale else 0,
            "/System/NrOfModulesBlockingCharge": 0 if limits.allow_charge else 1,
            "/System/NrOfModulesBlockingDischarge": 0 if limits.allow_discharge else 1,
        }
        live = sample if sample is not None and not limits.stale else None
        if sample is not None:
            if sample.device:
                v["/FirmwareVersion"] = sample.device.sw_version
                v["/HardwareVersion"] = sample.device.hw_version
                v["/Serial"] = sample.device.serial
            v["/InstalledCapacity"] = sample.capacity_full
            if sample.cell_voltages:
                v["/System/NrOfCellsPerBattery"] = len(sample.cell_voltages)
                self._add_cells(len(sample.cell_voltages))
        v.update(self._measurements(live))
        for name in ALARM_NAMES:
            v[f"/Alarms/{name}"] = live.alarms.get(name, 0) if live is not None else None
        v["/Alarms/BmsCable"] = ALARM_ALARM if limits.stale else 0
        self.tree.update(v)

    def _measurements(self, s: Sample | None) -> dict[str, Any]:
        v: dict[str, Any] = dict.fromkeys(_MEASUREMENTS)
        cells = (s.cell_voltages or []) if s is not None else []
        for i in range(1, self.cells + 1):
            v[f"/Voltages/Cell{i}"] = cells[i - 1] if i <= len(cells) else None
            bal = s.cell_balancing if s is not None else None
            v[f"/Balances/Cell{i}"] = int(bal[i - 1]) if bal and i <= len(bal) else None
        if s is None:
            return v
        temps = s.temperatures or []
        v.update({
            "/Dc/0/Voltage": s.voltage,
            "/Dc/0/Current": s.current,
            "/Dc/0/Power": s.power,
            # Like Victron's own batteries, the pack temperature is its warmest sensor.
            "/Dc/0/Temperature": max(temps) if temps else None,
            "/Soc": s.soc,
            "/Soh": s.soh,
            "/Capacity": s.capacity_remaining,
            # Negative, as Victron's own battery monitors count the charge taken out (VE.Direct CE).
            "/ConsumedAmphours": round(s.capacity_remaining - s.capacity_full, 3)
            if s.capacity_full is not None and s.capacity_remaining is not None else None,
            "/TimeToGo": round(s.capacity_remaining / -s.current * 3600)
            if s.capacity_remaining is not None and s.current is not None and s.current < 0 else None,
            "/System/MinCellTemperature": min(temps) if temps else None,
            "/System/MaxCellTemperature": max(temps) if temps else None,
            "/System/MOSTemperature": s.mosfet_temperature,
            "/Balancing": int(s.balancing) if s.balancing is not None else None,
            "/Io/AllowToBalance": int(s.balancing) if s.balancing is not None else None,
            "/History/ChargeCycles": s.cycles,
        })
        if cells:
            v.update({
                "/Voltages/Sum": round(sum(cells), 3),
                "/Voltages/Diff": round(max(cells) - min(cells), 3),
                "/System/MinCellVoltage": min(cells),
                "/System/MaxCellVoltage": max(cells),
                "/System/MinVoltageCellId": _cell_id(cells, min),
                "/System/MaxVoltageCellId": _cell_id(cells, max),
            })
        return v
