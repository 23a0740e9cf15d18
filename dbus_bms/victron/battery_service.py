"""One battery as a ``com.victronenergy.battery.*`` service: the path set and how a reading fills it."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any

from dbus_fast.aio import MessageBus

from .. import __version__, statefile
from ..charge.types import Limits
from ..history import History
from ..model import ALARM_ALARM, ALARM_NAMES, Sample
from . import control_paths, settings
from .busitem import BusItemTree

SERVICE_PREFIX = "com.victronenergy.battery."
# Not in Victron's product-id tables, and not 0xBA77, which Victron reserved for another driver:
# systemcalc applies brand quirks by ProductId, so a borrowed id would borrow its quirks.
PRODUCT_ID = 0xBD01
# The instance localsettings is asked for first, and the fallback when none is configured.
DEFAULT_INSTANCE = 512
CUSTOM_NAME_MAX = 64
# Without localsettings, /CustomName goes to the state dir at most this often (s): a client that
# writes it in a loop costs one flash write per period, the last value wins, stop() writes the rest.
NAME_WRITE_SPACING = 5.0

log = logging.getLogger("dbus_bms.victron")

# The seconds charge control's absorption clock has counted (time at the charge voltage with the
# cells together), while the pack is in absorption; invalid in every other stage and in the fail-safe.
# No Victron path carries it, so the name is dbus-bms's own.
ABSORPTION_PATH = "/Info/AbsorptionTime"
# dbus-bms's own meters beside Victron's: the Ah put in (positive; TotalAhDrawn has only what was taken
# out), and full cycles by throughput (the Ah taken out over the capacity), beside the BMS's own count,
# which /History/ChargeCycles keeps. Kept across restarts, valid while the BMS is silent.
AH_CHARGED_PATH = "/History/TotalAhCharged"
FULL_CYCLES_PATH = "/History/FullCycles"
# The BMS's own SoC while /Soc follows dbus-bms's count (``soc_counting``); invalid while counting is off.
BMS_SOC_PATH = "/Bms/Soc"

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
    "/Info/ChargeLimitation", "/Info/DischargeLimitation", ABSORPTION_PATH, "/Io/AllowToCharge", "/Io/AllowToDischarge",
    "/Mgmt/Connection", "/Mgmt/LinkQuality", "/Connected", "/FirmwareVersion", "/HardwareVersion", "/Serial",
    "/ProductName", "/State", "/Info/BatteryLowVoltage", "/Info/ChargeRequest", "/System/NrOfBatteries",
    "/System/BatteriesParallel", "/System/BatteriesSeries",
)
# What the battery went through, kept across restarts: valid while the BMS is silent too.
_HISTORY = (
    "/History/MinimumCellVoltage", "/History/MaximumCellVoltage", "/History/MinimumVoltage",
    "/History/MaximumVoltage", "/History/MinimumTemperature", "/History/MaximumTemperature",
    "/History/ChargedEnergy", "/History/DischargedEnergy", "/History/TotalAhDrawn",
    "/History/TimeSinceLastFullCharge", AH_CHARGED_PATH, FULL_CYCLES_PATH,
)
# The BMS's own protection settings (model.BmsSettings field → path), as it last reported them: valid
# while it is silent too, invalid where its protocol carries no such setting.
BMS_SETTINGS_PATHS = {
    "cell_ovp": "/Bms/CellOverVoltageProtection",
    "cell_ovp_recovery": "/Bms/CellOverVoltageRecovery",
    "cell_uvp": "/Bms/CellUnderVoltageProtection",
    "cell_uvp_recovery": "/Bms/CellUnderVoltageRecovery",
    "max_charge_current": "/Bms/ChargeOverCurrentProtection",
    "max_discharge_current": "/Bms/DischargeOverCurrentProtection",
    "charge_max_temperature": "/Bms/ChargeOverTemperatureProtection",
    "charge_min_temperature": "/Bms/ChargeUnderTemperatureProtection",
    "discharge_max_temperature": "/Bms/DischargeOverTemperatureProtection",
    "discharge_min_temperature": "/Bms/DischargeUnderTemperatureProtection",
    "balance_start_voltage": "/Bms/BalanceStartVoltage",
    "balance_trigger_voltage": "/Bms/BalanceTriggerVoltage",
    "cell_count": "/Bms/CellCount",
    "nominal_capacity": "/Bms/NominalCapacity",
}
# What the BMS's own alarm and status bits report, in words, joined by "; ": no Victron path carries
# a battery's conditions as text. "" when none is set; invalid without a live reading, or when the
# BMS sends no such bits.
CONDITIONS_PATH = "/Info/BmsConditions"
# Where the values came from, for a battery that borrows some from other devices
# (``cells: neey-ble 3C:A5:4E:00:00:01; rest: jk-nw``); invalid for one that borrows nothing, and
# without a live reading.
SOURCES_PATH = "/Info/Sources"
# /State as Victron's batteries and the GUI number it: 9 running, 10 error. A battery whose readings
# are stale or not trusted is in error: its limits are the fail-safe's.
STATE_RUNNING, STATE_ERROR = 9, 10


def service_name(suffix: str) -> str:
    """A valid bus name element: letters, digits, underscores; never a leading digit."""
    clean = re.sub(r"[^A-Za-z0-9_]", "_", suffix)
    return SERVICE_PREFIX + (clean if clean and not clean[0].isdigit() else "_" + clean)


def valid_custom_name(value: Any) -> bool:
    """Printable text of at most CUSTOM_NAME_MAX characters ("" clears the name)."""
    return isinstance(value, str) and len(value) <= CUSTOM_NAME_MAX and value.isprintable()


def _cell_id(cells: list[float], pick) -> str:
    return f"C{cells.index(pick(cells)) + 1}"


class BatteryService:
    """The service of one battery; ``start`` registers it, ``publish`` fills it.

    The device instance and /CustomName live in localsettings, as for Victron's own devices. At
    ``start`` the service waits up to ``settings_wait`` s for localsettings (velib's SettingsDevice
    waits the same way); if it never came (a desktop), the configured instance is used and the name
    is kept in ``state_dir``, and the service moves to localsettings as soon as it appears. Once on
    localsettings it follows the owner's changes there (the GUI's device instance and name) at once.

    ``cell_min_voltage`` (V) makes /Info/BatteryLowVoltage; ``properties_changed`` adds a per-path
    PropertiesChanged to each ItemsChanged (see busitem). A write to a control path goes to
    ``switcher`` (refused without one); ``has_settings`` is /Settings/HasSettings (control_paths).
    """

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
        settings_wait: float = 10.0,
        cell_min_voltage: float | None = None,
        properties_changed: bool = False,
        switcher: control_paths.Switcher | None = None,
        has_settings: bool = False,
    ) -> None:
        self.bus = bus
        self.switcher = switcher
        self.has_settings = has_settings
        self.unique_id = unique_id
        self.name = service_name(service_suffix)
        self.product_name = product_name
        self.process_name = process_name
        self.connection = connection
        self.fallback = device_instance_fallback if device_instance_fallback is not None else DEFAULT_INSTANCE
        self.state_file = Path(state_dir) / f"{settings.setting_key(unique_id)}.json"
        # Where /CustomName is kept while localsettings is absent.
        self.name_file = statefile.CoalescedJsonFile(self.state_file, NAME_WRITE_SPACING)
        self.cells = cell_count or 0
        # /Resistances/Cell<n>, added once a reading carries them (an active balancer measures them).
        self.resistances = 0
        self.settings_wait = settings_wait
        self.cell_min_voltage = cell_min_voltage
        self.tree = BusItemTree(bus, properties_changed=properties_changed)
        self._use_settings = False
        self._presence = settings.SettingsPresence(bus, on_appear=self._settings_appeared)
        group = f"/Settings/Devices/{settings.setting_key(unique_id)}"
        self._custom_name_setting = f"{group}/CustomName"
        self._instance_setting = f"{group}/ClassAndVrmInstance"
        self._watch = settings.SettingsWatch(self._presence, group, self._setting_changed)
        self._instance_changes: set[asyncio.Task] = set()
        # One /CustomName change at a time: a SetValue or the move to localsettings.
        self._name_lock = asyncio.Lock()
        self._name_set_meanwhile = False
        self._move: asyncio.Task | None = None
        self._registered = False

    async def start(self) -> None:
        t = self.tree
        await self._presence.start()
        await self._watch.start()
        instance: int | None = None
        if await self._presence.wait(self.settings_wait):
            try:
                instance, custom = await self._settings_values(self._load_file_name())
                self._use_settings = True
            except settings.SettingsError as exc:
                log.warning("%s: localsettings failed (%s); using the fallback until it starts again", self.name, exc)
        else:
            log.warning(
                "%s: localsettings (%s) not on the bus after %g s: device instance %d from the config, "
                "/CustomName kept in %s; moving to localsettings when it appears",
                self.name, settings.SETTINGS_SERVICE, self.settings_wait, self.fallback, self.state_file.parent,
            )
        if instance is None:
            instance, custom = self.fallback, self._load_file_name()
        for path, value in (
            ("/Mgmt/ProcessName", self.process_name),
            ("/Mgmt/ProcessVersion", __version__),
            ("/DeviceInstance", instance),
            ("/ProductId", PRODUCT_ID),
        ):
            t.add(path, value)
        t.add("/CustomName", custom, writeable=True, on_write=self._on_custom_name)
        for path in (*_STATIC, *_MEASUREMENTS, *_HISTORY, *BMS_SETTINGS_PATHS.values()):
            t.add(path)
        for name in ALARM_NAMES:
            t.add(f"/Alarms/{name}")
        t.add(CONDITIONS_PATH)
        t.add(SOURCES_PATH)
        t.add(BMS_SOC_PATH)
        control_paths.add_paths(t, self.switcher or _refuse_switch, has_settings=self.has_settings)
        t.update({
            "/Mgmt/Connection": self.connection, "/ProductName": self.product_name, "/Connected": 0,
            # One pack per BMS. The GUI opens its System page only when /System/NrOfBatteries is valid.
            "/System/NrOfBatteries": 1, "/System/BatteriesParallel": 1, "/System/BatteriesSeries": 1,
            # dbus-bms never asks the system for a forced charge; systemcalc shows "Recharging"
            # while a battery's /Info/ChargeRequest is 1.
            "/Info/ChargeRequest": 0,
        })
        self._add_cells(self.cells)
        await self.bus.request_name(self.name)
        self._registered = True
        if not self._use_settings and self._presence.present:
            self._settings_appeared()  # it came while the service was being set up

    async def stop(self) -> None:
        """Leaves the bus; a /CustomName not yet written to the state dir is written first."""
        tasks = [t for t in (self._move, *self._instance_changes) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.name_file.flush()
        if self.bus.connected:
            await self._watch.close()
            await self._presence.close()
            await self.bus.release_name(self.name)
        self._registered = False

    def _add_cells(self, upto: int) -> None:
        for i in range(1, upto + 1):
            if f"/Voltages/Cell{i}" not in self.tree:
                self.tree.add(f"/Voltages/Cell{i}")
                self.tree.add(f"/Balances/Cell{i}")
        self.cells = max(self.cells, upto)

    def _add_resistances(self, upto: int) -> None:
        for i in range(self.resistances + 1, upto + 1):
            self.tree.add(f"/Resistances/Cell{i}")
        self.resistances = max(self.resistances, upto)

    async def _settings_values(self, ours: str) -> tuple[int, str]:
        """The device instance and /CustomName from localsettings. ``ours``, a name kept without
        it, goes into localsettings when the owner set it while localsettings was away, or when
        localsettings has none."""
        instance = await settings.device_instance(self.bus, self.unique_id)
        stored = await settings.add_setting(self.bus, self._custom_name_setting, "")
        stored = stored if valid_custom_name(stored) else ""
        if ours != stored and (self._name_set_meanwhile or (ours and not stored)):
            await settings.set_value(self.bus, self._custom_name_setting, ours)
            log.info("%s: /CustomName %r handed to localsettings", self.name, ours)
            stored = ours
        # localsettings keeps the name from now on; the state-dir copy would only go stale.
        await self.name_file.discard()
        try:
            self.state_file.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("%s: cannot remove %s (%s)", self.name, self.state_file, exc)
        return instance, stored

    def _settings_appeared(self) -> None:
        if self._use_settings:
            log.info("%s: localsettings is back", self.name)
            return
        if self._registered and (self._move is None or self._move.done()):
            self._move = asyncio.get_running_loop().create_task(self._move_to_settings())

    async def _move_to_settings(self) -> None:
        async with self._name_lock:
            if self._use_settings:
                return
            try:
                instance, custom = await self._settings_values(self.tree.value("/CustomName"))
            except settings.SettingsError as exc:
                log.warning("%s: localsettings appeared but failed (%s); staying on the fallback", self.name, exc)
                return
            self._use_settings = True
            self.tree.update({"/CustomName": custom})
            old = self.tree.value("/DeviceInstance")
            await self._take_instance(instance)
            log.info("%s: moved to localsettings: device instance %d (was %d), /CustomName %r",
                     self.name, instance, old, custom)

    async def _take_instance(self, instance: int) -> None:
        if instance == self.tree.value("/DeviceInstance"):
            return
        # GX consumers (dbusmonitor, so systemcalc and the GUI) read /DeviceInstance once, when a
        # service appears, and keep it until the service leaves the bus: a new instance takes
        # effect only by leaving the bus and coming back.
        await self.bus.release_name(self.name)
        self.tree.update({"/DeviceInstance": instance})
        await self.bus.request_name(self.name)

    def _setting_changed(self, path: str, value: Any) -> None:
        """An owner's change in localsettings (the GUI writes there), followed at once."""
        if not self._use_settings or not self._registered:
            return  # before the service took its values from localsettings, start or the move reads them
        if path == self._custom_name_setting:
            if valid_custom_name(value):
                self.tree.update({"/CustomName": value})
            else:
                log.warning("%s: localsettings holds a /CustomName that is not printable text of at most %d "
                            "characters (%r); kept %r", self.name, CUSTOM_NAME_MAX, value, self.tree.value("/CustomName"))
        elif path == self._instance_setting:
            instance = settings.parse_instance(value)
            if instance is None:
                log.warning("%s: localsettings holds a ClassAndVrmInstance that is not battery:<n> (%r); "
                            "device instance %d kept", self.name, value, self.tree.value("/DeviceInstance"))
            elif instance != self.tree.value("/DeviceInstance"):
                # The lock takes them in the order they came: the last one stays.
                task = asyncio.get_running_loop().create_task(self._change_instance(instance))
                self._instance_changes.add(task)
                task.add_done_callback(self._instance_changes.discard)

    async def _change_instance(self, instance: int) -> None:
        async with self._name_lock:
            old = self.tree.value("/DeviceInstance")
            if instance == old:
                return
            try:
                await self._take_instance(instance)
            except Exception:  # noqa: BLE001 - a bus that failed here is seen and handled by the app
                log.exception("%s: could not take device instance %d from localsettings", self.name, instance)
                return
        log.info("%s: device instance %d (was %d), as set in localsettings", self.name, instance, old)

    def _load_file_name(self) -> str:
        try:
            data = statefile.read_json(self.state_file)
        except (OSError, ValueError) as exc:
            log.warning("%s: cannot read the kept /CustomName (%s)", self.name, exc)
            return ""
        name = data.get("custom_name", "") if isinstance(data, dict) else ""
        if not valid_custom_name(name):
            log.warning("%s: %s holds no valid /CustomName; ignored", self.name, self.state_file)
            return ""
        return name

    def _on_custom_name(self, path: str, value: Any) -> bool | Awaitable[bool]:
        if not valid_custom_name(value):
            return False
        return self._keep_custom_name(value)

    async def _keep_custom_name(self, value: str) -> bool:
        """True once ``value`` is kept: confirmed by localsettings, or bound for a writable state dir."""
        async with self._name_lock:
            if self._use_settings:
                try:
                    await settings.set_value(self.bus, self._custom_name_setting, value)
                except settings.SettingsError as exc:
                    log.warning("%s: /CustomName %r not kept (%s)", self.name, value, exc)
                    return False
                return True
            why = self.name_file.writable()
            if why is not None:
                log.warning("%s: /CustomName %r cannot be kept (%s)", self.name, value, why)
                return False
            kept = await self.name_file.put({"custom_name": value})
            self._name_set_meanwhile = self._name_set_meanwhile or kept
            return kept

    def publish(
        self, sample: Sample | None, limits: Limits, *, connection_text: str | None = None,
        link_quality: float | None = None, history: History | None = None, since_full: float | None = None,
        absorption: float | None = None, extra: Mapping[str, Any] | None = None, cycles: float | None = None,
        bms_soc: float | None = None,
    ) -> None:
        """``history`` fills /History/* (left as they are without it); ``since_full``: seconds
        since the last full charge, None while unknown; ``absorption``: the absorption clock (s),
        None outside absorption; ``extra``: values of paths the caller added to the tree, and its
        own for paths of ours (a group's), all going out in the same ItemsChanged; ``cycles``: full
        cycles by throughput (``history.full_cycles``), None while unknown; ``bms_soc``: the BMS's own
        SoC while /Soc is a count of ours, else None."""
        v: dict[str, Any] = {
            "/Info/MaxChargeVoltage": limits.cvl,
            "/Info/MaxChargeCurrent": limits.ccl,
            "/Info/MaxDischargeCurrent": limits.dcl,
            "/Io/AllowToCharge": int(limits.allow_charge),
            "/Io/AllowToDischarge": int(limits.allow_discharge),
            "/Info/ChargeMode": limits.charge_mode,
            "/Info/ChargeLimitation": limits.charge_limitation,
            "/Info/DischargeLimitation": limits.discharge_limitation,
            ABSORPTION_PATH: None if absorption is None or limits.stale else round(absorption),
            "/Connected": 0 if limits.stale else 1,
            "/State": STATE_ERROR if limits.stale else STATE_RUNNING,
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
            if sample.bms_settings is not None:
                for name, path in BMS_SETTINGS_PATHS.items():
                    v[path] = getattr(sample.bms_settings, name)
            if sample.cell_voltages:
                v["/System/NrOfCellsPerBattery"] = len(sample.cell_voltages)
                self._add_cells(len(sample.cell_voltages))
            if sample.cell_resistances:
                self._add_resistances(len(sample.cell_resistances))
        # DVCC copies this to the Multi as its battery-low voltage: the pack voltage at which
        # charge control takes DCL to 0 when the cells are even, so the Multi's own cut-off backs
        # ours instead of coming before it. Unknown without the cell count.
        if self.cells and self.cell_min_voltage is not None:
            v["/Info/BatteryLowVoltage"] = round(self.cells * self.cell_min_voltage, 2)
        v.update(self._measurements(live))
        for name in ALARM_NAMES:
            v[f"/Alarms/{name}"] = live.alarms.get(name, 0) if live is not None else None
        v["/Alarms/BmsCable"] = ALARM_ALARM if limits.stale else 0
        conditions = live.conditions if live is not None else None
        v[CONDITIONS_PATH] = "; ".join(conditions) if conditions is not None else None
        v[SOURCES_PATH] = live.sources if live is not None else None
        v[BMS_SOC_PATH] = bms_soc if live is not None else None
        v.update(control_paths.values(live))
        if history is not None:
            v.update(_history(history, since_full, cycles))
        if extra:
            v.update(extra)
        self.tree.update(v)

    def _measurements(self, s: Sample | None) -> dict[str, Any]:
        v: dict[str, Any] = dict.fromkeys(_MEASUREMENTS)
        cells = (s.cell_voltages or []) if s is not None else []
        for i in range(1, self.cells + 1):
            v[f"/Voltages/Cell{i}"] = cells[i - 1] if i <= len(cells) else None
            bal = s.cell_balancing if s is not None else None
            v[f"/Balances/Cell{i}"] = int(bal[i - 1]) if bal and i <= len(bal) else None
        resistances = (s.cell_resistances or []) if s is not None else []
        for i in range(1, self.resistances + 1):
            v[f"/Resistances/Cell{i}"] = resistances[i - 1] if i <= len(resistances) else None
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
            "/ConsumedAmphours": _consumed_ah(s),
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


async def _refuse_switch(which: str, on: bool) -> bool:
    return False


def _consumed_ah(s: Sample) -> float | None:
    """The charge taken out since full: a battery monitor's own count where one lends it, else what
    the BMS's capacities tell."""
    if s.consumed_ah is not None:
        return round(s.consumed_ah, 3)
    if s.capacity_full is None or s.capacity_remaining is None:
        return None
    return round(s.capacity_remaining - s.capacity_full, 3)


def _history(h: History, since_full: float | None, cycles: float | None) -> dict[str, Any]:
    def rounded(value: float | None, digits: int) -> float | None:
        return None if value is None else round(value, digits)

    return {
        "/History/MinimumCellVoltage": rounded(h.min_cell_voltage, 3),
        "/History/MaximumCellVoltage": rounded(h.max_cell_voltage, 3),
        "/History/MinimumVoltage": rounded(h.min_voltage, 2),
        "/History/MaximumVoltage": rounded(h.max_voltage, 2),
        "/History/MinimumTemperature": rounded(h.min_temperature, 1),
        "/History/MaximumTemperature": rounded(h.max_temperature, 1),
        "/History/ChargedEnergy": round(h.charged_energy, 2),
        "/History/DischargedEnergy": round(h.discharged_energy, 2),
        # Negative, as Victron's battery monitors count the charge drawn (VE.Direct H6).
        "/History/TotalAhDrawn": 0.0 - round(h.ah_drawn, 1),
        "/History/TimeSinceLastFullCharge": None if since_full is None else round(since_full),
        AH_CHARGED_PATH: round(h.ah_charged, 1),
        FULL_CYCLES_PATH: rounded(cycles, 2),
    }
