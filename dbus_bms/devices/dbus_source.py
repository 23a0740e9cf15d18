"""A battery monitor already on the GX's D-Bus (type ``dbus-battery``): a SmartShunt or BMV that the
GX's own VE.Direct driver publishes as ``com.victronenergy.battery.ttyS5``, read as a source a
battery borrows its current, SoC and consumed Ah from. The GX's driver holds the monitor's serial
port; we read what it publishes.

Each poll asks the service for all its values in one ``GetValue`` on ``/``, within the reply
timeout. No cache fed by ``ItemsChanged``: a cache would need its own watch of the service leaving
and of the driver going quiet, where one call per poll answers both, from the service as it is
now. A service that is not on the bus, reports ``/Connected`` 0, or has a needed value invalid gives
no reading (DeviceError), so the battery falls back to its BMS's own values.
"""

from __future__ import annotations

import math
from typing import Any

from ..model import DeviceInfo, Sample
from ..transports.dbus_items import BusItemReader
from ..transports.errors import TransportError
from .base import Device, DeviceError

SERVICE_PREFIX = "com.victronenergy.battery."
# Our own services' /Mgmt/ProcessName: a battery of ours is never a source of its own readings.
OWN_PROCESS_NAME = "dbus-bms"
# The paths a reading needs: what the source lends. Voltage and power are taken when valid.
NEEDED = {"current": "/Dc/0/Current", "soc": "/Soc", "consumed_ah": "/ConsumedAmphours"}
OPTIONAL = {"voltage": "/Dc/0/Voltage", "power": "/Dc/0/Power"}


def service_name(service: str) -> str:
    """The full bus name of a battery service given as ``ttyS5`` or ``com.victronenergy.battery.ttyS5``."""
    return service if service.startswith(SERVICE_PREFIX) else SERVICE_PREFIX + service


class DbusBatterySource(Device):
    type_name = "dbus-battery"
    vendor = "Victron battery monitor"

    def __init__(self, service: str, *, timeout: float = 1.0, bus_address: str | None = None) -> None:
        super().__init__()
        self.service = service_name(service)
        self.timeout = timeout
        self.reader = BusItemReader(bus_address)

    @classmethod
    def from_config(cls, cfg: Any) -> DbusBatterySource:
        service = getattr(cfg, "service", None)
        if not service:
            raise DeviceError("a dbus-battery source reads the service a borrow: entry of the config names "
                              "(service: com.victronenergy.battery.ttyS5)")
        return cls(service, timeout=cfg.timeout)

    @property
    def connection(self) -> str:
        return f"D-Bus {self.service}"

    @property
    def fallback_id(self) -> str:
        return self.service[len(SERVICE_PREFIX):]

    async def exchange(self) -> Sample:
        try:
            values = await self.reader.values(self.service, self.timeout)
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(str(exc)) from None
        if values.get("/Mgmt/ProcessName") == OWN_PROCESS_NAME:
            raise DeviceError(f"{self.service} is a battery of dbus-bms itself (its /Mgmt/ProcessName): a battery "
                              "cannot borrow from dbus-bms's own readings; name the monitor's own service")
        connected = values.get("/Connected")
        if connected != 1:
            raise DeviceError(f"{self.service} reports /Connected {'invalid' if connected is None else connected}: "
                              "its driver has no reading of the monitor")
        got = {name: self._number(values, path, needed=True) for name, path in NEEDED.items()}
        got.update({name: self._number(values, path, needed=False) for name, path in OPTIONAL.items()})
        if got["consumed_ah"] > 0:
            raise DeviceError(f"{self.service} reports /ConsumedAmphours {got['consumed_ah']:g}: Ah taken out "
                              "since full cannot be above 0")
        product = values.get("/ProductName")
        return Sample(**got, device=DeviceInfo(model=product if isinstance(product, str) and product else None))

    def _number(self, values: dict[str, Any], path: str, *, needed: bool) -> float | None:
        """The value at ``path`` as a finite number; None for an optional one that is invalid or absent."""
        value = values.get(path)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        if not needed:
            return None
        what = "absent" if path not in values else "invalid" if value is None else f"not a number ({value!r})"
        raise DeviceError(f"{self.service} has no valid {path}: {what}")

    async def close(self) -> None:
        self.reader.close()
