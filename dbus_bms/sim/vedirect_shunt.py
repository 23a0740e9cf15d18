"""A stand-in for a battery monitor (SmartShunt, BMV) that the GX's own VE.Direct driver puts on the
D-Bus as ``com.victronenergy.battery.ttyS5``: its paths on our BusItem tree, values a test sets,
and the ways it fails: its monitor unplugged (``/Connected`` 0), a value gone invalid, the service
leaving the bus and coming back."""

from __future__ import annotations

from typing import Any

from dbus_fast.aio import MessageBus

from ..victron.busitem import BusItemTree

SERVICE = "com.victronenergy.battery.ttyS5"


class VeDirectShunt:
    """The service on the bus at ``bus_address`` once ``start`` ran; ``set`` changes its values, each
    change signalled as Victron's services signal it."""

    def __init__(
        self,
        bus_address: str,
        *,
        service: str = SERVICE,
        voltage: float = 53.12,
        current: float = -12.5,
        soc: float = 87.5,
        consumed_ah: float = -35.0,
        process_name: str = "vedirect-dbus",
        product_name: str = "SmartShunt 500A/50mV",
    ) -> None:
        self.bus_address = bus_address
        self.service = service
        self.initial = {
            "/Dc/0/Voltage": voltage, "/Dc/0/Current": current, "/Dc/0/Power": round(voltage * current),
            "/Soc": soc, "/ConsumedAmphours": consumed_ah, "/TimeToGo": 36000.0, "/Connected": 1,
            "/ProductName": product_name, "/DeviceInstance": 279,
            "/Mgmt/ProcessName": process_name, "/Mgmt/Connection": "VE.Direct port 1",
        }
        self.bus: MessageBus | None = None
        self.tree: BusItemTree | None = None

    @property
    def on_bus(self) -> bool:
        return self.bus is not None

    async def start(self) -> None:
        """Joins the bus under its name, with the values it had when it left (its initial ones at first)."""
        self.bus = await MessageBus(bus_address=self.bus_address).connect()
        values = self.tree.values() if self.tree is not None else self.initial
        self.tree = BusItemTree(self.bus)
        for path, value in values.items():
            self.tree.add(path, value)
        await self.bus.request_name(self.service)

    def set(self, changes: dict[str, Any]) -> None:
        """New values by path (``{"/Dc/0/Current": -3.0, "/Soc": None}``, None for invalid); kept
        while off the bus too, and served when it comes back."""
        assert self.tree is not None, "start it first"
        if self.bus is None:
            for path, value in changes.items():
                self.tree.add(path, value)
        else:
            self.tree.update(changes)

    def value(self, path: str) -> Any:
        assert self.tree is not None
        return self.tree.value(path)

    def leave(self) -> None:
        """Leaves the bus, as the service of a driver that stopped."""
        if self.bus is not None:
            self.bus.disconnect()
            self.bus = None

    async def __aenter__(self) -> VeDirectShunt:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.leave()
