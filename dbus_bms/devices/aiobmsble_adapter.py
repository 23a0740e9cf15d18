"""Any BLE BMS the aiobmsble library reads (``type: aiobmsble``, ``protocol:`` its module name, such
as ``ogt_bms``; ``auto`` picks the module whose advertisement patterns match the device).

aiobmsble brings the frames of each BMS; the rest is ours: the device is found by the process's one
Discovery (aiobmsble never scans), each poll is bounded by our deadline and cut off when it
overruns, and its result dict is mapped field by field onto a Sample that goes through the reading
judge like every family's. Read only: aiobmsble's modules switch nothing.

aiobmsble needs Python 3.12 (``pip install dbus-bms[aiobmsble]``); this module imports it, so only
the registry's ``create_device`` loads it, when a battery of this type is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import math
from collections.abc import Mapping
from typing import Any

from aiobmsble import BMSConfig
from aiobmsble.basebms import BaseBMS
from aiobmsble.utils import bms_supported
from bleak.exc import BleakError

from ..model import ALARM_WARNING, DeviceInfo, Sample
from ..transports.ble import CONNECT_TIMEOUT
from ..transports.ble_address import is_mac
from ..transports.ble_discovery import BLUEZ_REPLY_TIMEOUT, Discovery
from .base import Device, DeviceError

AUTO = "auto"
# The library's example module, which answers with made-up values: never a BMS.
_NOT_A_BMS = ("dummy_bms",)
_LINK_ERRORS = (BleakError, EOFError, OSError, ConnectionError)

log = logging.getLogger("dbus_bms.aiobmsble")

# aiobmsble's ``problem`` flag without a problem code: its own checks (an empty pack, a value out of
# its range) or a BMS's flag.
PROBLEM = "aiobmsble flags a problem"


def bms_class(module: str) -> type[BaseBMS]:
    """aiobmsble's BMS class of ``module`` (``ogt_bms``); ValueError for a name it has no module of."""
    if module in _NOT_A_BMS or not module.endswith("_bms"):
        raise ValueError(f"aiobmsble has no BMS module {module!r}")
    try:
        found = importlib.import_module(f"aiobmsble.bms.{module}").BMS
    except (ImportError, AttributeError):
        raise ValueError(f"aiobmsble has no BMS module {module!r}") from None
    if not (isinstance(found, type) and issubclass(found, BaseBMS)):
        raise ValueError(f"aiobmsble module {module!r} defines no BMS")
    return found


def matching_module(modules: tuple[str, ...], adv: Any, address: str) -> str | None:
    """The first of ``modules`` whose advertisement patterns match ``adv`` (bleak's
    AdvertisementData) of the device at ``address``; None when none does."""
    for module in modules:
        if bms_supported(bms_class(module), adv, address):
            return module
    return None


def _number(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DeviceError(f"aiobmsble gave {key} = {value!r}, not a number")
    return float(value)


def _flag(data: Mapping[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, (bool, int)):
        raise DeviceError(f"aiobmsble gave {key} = {value!r}, not a flag")
    return bool(value)


def to_sample(data: Mapping[str, Any]) -> Sample:
    """A Sample from aiobmsble's result dict. Its units and sign are ours already (V, A with > 0
    charging, W, Ah, %, °C); a temperature aiobmsble types as the MOSFET's is ``mosfet_temperature``,
    every other one a pack temperature. A BMS's own problem code, when not 0, is an InternalFailure
    warning and a condition; aiobmsble's ``problem`` flag without a code is a condition only, as it
    also flags an empty pack. Raises DeviceError for a value that is not of its kind; the judge
    refuses a number out of its window."""
    cells = data.get("cell_voltages")
    if cells is not None and not (isinstance(cells, list) and all(isinstance(c, (int, float)) for c in cells)):
        raise DeviceError(f"aiobmsble gave cell_voltages = {cells!r}, not a list of numbers")
    temperatures: list[float] = []
    mosfet: float | None = None
    for sensor in data.get("temp_values") or []:
        kind = getattr(getattr(sensor, "type", None), "name", "GENERIC")
        try:
            value = float(sensor)
        except (TypeError, ValueError):
            raise DeviceError(f"aiobmsble gave a temperature {sensor!r}, not a number") from None
        if kind == "MOSFET":
            mosfet = value
        else:
            temperatures.append(value)
    cycles = _number(data, "cycles")
    if cycles is not None and not math.isfinite(cycles):
        raise DeviceError(f"aiobmsble gave cycles = {cycles!r}, not a count")
    code = data.get("problem_code")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        raise DeviceError(f"aiobmsble gave problem_code = {code!r}, not a code")
    conditions = [f"problem code 0x{code:X}"] if code else []
    if data.get("problem") and not code:
        conditions.append(PROBLEM)
    sample = Sample(
        voltage=_number(data, "voltage"),
        current=_number(data, "current"),
        power=_number(data, "power"),
        soc=_number(data, "battery_level"),
        soh=_number(data, "battery_health"),
        capacity_remaining=_number(data, "cycle_charge"),
        capacity_full=_number(data, "design_capacity"),
        cycles=None if cycles is None else int(cycles),
        cell_voltages=[float(c) for c in cells] if cells else None,
        temperatures=temperatures or None,
        mosfet_temperature=mosfet,
        charge_enabled=_flag(data, "chrg_mosfet"),
        discharge_enabled=_flag(data, "dischrg_mosfet"),
        balancing=_flag(data, "balancer"),
        alarms={"InternalFailure": ALARM_WARNING} if code else {},
        conditions=tuple(conditions) if code is not None or "problem" in data else None,
    )
    return sample


class AiobmsbleDevice(Device):
    type_name = "aiobmsble"

    def __init__(
        self,
        target: str,
        module: str | None = None,
        *,
        adapter: str | None = None,
        pin: str | None = None,
        keep_alive: bool = True,
        timeout: float = 5.0,
        scan_timeout: float = 10.0,
        connect_timeout: float = CONNECT_TIMEOUT,
        modules: tuple[str, ...] = (),
    ) -> None:
        """``module`` None or ``auto``: the first of ``modules`` whose patterns match the device's
        advertisement, found at the first poll. ``pin``: the secret of a module that takes one
        (a JBD's password); the others have no use for it."""
        super().__init__()
        self.target = target
        self.adapter = adapter
        self.pin = pin
        self.keep_alive = keep_alive
        self.timeout = timeout
        self.scan_timeout = scan_timeout
        self.connect_timeout = connect_timeout
        self.modules = modules
        self.module = None if module in (None, AUTO) else module
        self.forced_protocol = self.module
        self.cls: type[BaseBMS] | None = bms_class(self.module) if self.module else None
        self.vendor = self.cls.INFO["manufacturer"] if self.cls else "aiobmsble"
        self.address: str | None = target.upper() if is_mac(target) else None
        self._bms: BaseBMS | None = None
        self._asked_info = False

    @classmethod
    def from_config(cls, cfg: Any) -> AiobmsbleDevice:
        from .registry import DEVICE_TYPES

        return cls(
            cfg.address,
            cfg.protocol,
            adapter=cfg.adapter,
            pin=cfg.pin,
            keep_alive=cfg.ble_mode != "per-poll",
            timeout=cfg.timeout,
            modules=tuple(m for m in DEVICE_TYPES["aiobmsble"].protocols if m != AUTO),
        )

    @property
    def connection(self) -> str:
        where = self.address or self.target
        return f"BLE {where}" + (f" ({self.adapter})" if self.adapter else "")

    @property
    def fallback_id(self) -> str:
        return f"{self.type_name}_{(self.address or self.target).replace(':', '').lower()}"

    @property
    def deadline(self) -> float:
        """A scan and a connect when no link is up, then the reply timeout for the update (every
        request aiobmsble makes in it) and BlueZ's answers to its writes."""
        connected = self._bms is not None and self._bms.is_connected
        connect = 0.0 if connected else self.scan_timeout + self.connect_timeout
        return connect + self.timeout + BLUEZ_REPLY_TIMEOUT

    async def exchange(self) -> Sample:
        bms = self._bms or await self._found()
        try:
            data = await bms.async_update()
            info = await self._device_info(bms)
        except TimeoutError:
            self.stats.timeouts += 1
            raise DeviceError(f"no answer from {self.connection} ({self.module})") from None
        except _LINK_ERRORS as exc:
            self.stats.link_errors += 1
            raise DeviceError(f"{self.connection}: {type(exc).__name__}: {exc}") from None
        if not data:
            self.stats.bad_frames += 1
            raise DeviceError(f"{self.connection} ({self.module}) gave no values")
        sample = to_sample(data)
        sample.device = info
        return sample

    async def _found(self) -> BaseBMS:
        """The BMS object for the device as our Discovery finds it, its module chosen by its
        advertisement when the config left that to us."""
        discovery = Discovery.shared()
        try:
            device = await discovery.find(self.target, self.adapter, self.scan_timeout)
        except TimeoutError as exc:
            self.stats.timeouts += 1
            raise DeviceError(str(exc)) from None
        if device is None:
            raise DeviceError(f"{self.target} not seen within {self.scan_timeout:g} s")
        self.address = device.address.upper()
        if self.cls is None:
            seen = discovery.seen.get(self.address)
            module = seen and matching_module(self.modules, seen.adv, device.address)
            if not module:
                raise DeviceError(f"{self.connection} matches none of aiobmsble's BMS modules; set protocol:")
            self.module, self.cls = module, bms_class(module)
            self.vendor = self.cls.INFO["manufacturer"]
            log.info("%s: its advertisement matches aiobmsble's %s (%s)", self.connection, module, self.cls.bms_id())
        self._bms = self.cls(device, BMSConfig(keep_alive=self.keep_alive, secret=self.pin or ""))
        return self._bms

    async def _device_info(self, bms: BaseBMS) -> DeviceInfo | None:
        """The BMS's model and versions, asked once (its Device Information service, where it has
        one); the reading stands without them."""
        if self._asked_info:
            return None
        self._asked_info = True
        model = bms.INFO.get("model")
        with contextlib.suppress(*_LINK_ERRORS, TimeoutError):
            async with asyncio.timeout(self.timeout):
                info = await bms.device_info()
            return DeviceInfo(
                model=info.get("model") or model,
                hw_version=info.get("hw_version"),
                sw_version=info.get("sw_version") or info.get("fw_version"),
                serial=info.get("serial_number"),
            )
        return DeviceInfo(model=model)

    async def abort(self) -> None:
        """Lets the link go without waiting on bluetoothd for long; the next poll starts with a
        fresh BMS object, so nothing half-done of the cut-off update carries over."""
        bms, self._bms = self._bms, None
        if bms is not None:
            with contextlib.suppress(*_LINK_ERRORS, TimeoutError):
                async with asyncio.timeout(BLUEZ_REPLY_TIMEOUT):
                    await bms.disconnect()

    async def close(self) -> None:
        await self.abort()
