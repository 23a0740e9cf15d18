"""Reading battery services back from D-Bus, as a GX consumer sees them (demo, tests, benchmarks)."""

from __future__ import annotations

from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

BATTERY_PREFIX = "com.victronenergy.battery."


def plain(value: Any) -> Any:
    """A D-Bus value as Python; Victron's invalid (an empty array) becomes None."""
    if isinstance(value, Variant):
        value = value.value
    if isinstance(value, list):
        return [plain(v) for v in value] or None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


async def _call(bus: MessageBus, dest: str, path: str, interface: str, member: str, signature: str = "", body: list | None = None) -> Any:
    reply = await bus.call(
        Message(destination=dest, path=path, interface=interface, member=member, signature=signature, body=body or [])
    )
    if reply.message_type == MessageType.ERROR:
        raise RuntimeError(f"{dest}{path} {member}: {reply.error_name} {reply.body}")
    return reply.body[0] if reply.body else None


async def battery_services(bus: MessageBus) -> list[str]:
    names = await _call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "ListNames")
    return sorted(n for n in names if n.startswith(BATTERY_PREFIX))


async def get_items(bus: MessageBus, service: str) -> dict[str, Any]:
    """``{"/Dc/0/Voltage": 53.1, ...}`` from the service's root GetItems."""
    items = await _call(bus, service, "/", "com.victronenergy.BusItem", "GetItems")
    return {path: plain(item["Value"]) for path, item in items.items()}


async def name_owner(bus: MessageBus, name: str) -> str | None:
    """The unique connection name that owns ``name``, or None while nobody does."""
    reply = await bus.call(
        Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus", interface="org.freedesktop.DBus",
                member="GetNameOwner", signature="s", body=[name])
    )
    return reply.body[0] if reply.message_type == MessageType.METHOD_RETURN else None


async def watch_items_changed(bus: MessageBus) -> None:
    """Has the bus route every service's ``ItemsChanged`` to ``bus``'s message handlers."""
    await _call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
                ["type='signal',interface='com.victronenergy.BusItem',member='ItemsChanged'"])
