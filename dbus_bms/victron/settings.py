"""Victron localsettings (``com.victronenergy.settings``): device instances and kept settings."""

from __future__ import annotations

import re
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from .busitem import BUSITEM, unwrap, wrap

SETTINGS_SERVICE = "com.victronenergy.settings"
# AddSetting lives on this interface of localsettings' /Settings object, not on BusItem.
SETTINGS_INTERFACE = "com.victronenergy.Settings"


def setting_key(unique_id: str) -> str:
    """``unique_id`` as one settings path element (letters, digits and underscores only)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", unique_id)


async def _call(bus: MessageBus, path: str, interface: str, member: str, signature: str = "", body: list | None = None) -> Any:
    reply = await bus.call(
        Message(destination=SETTINGS_SERVICE, path=path, interface=interface, member=member,
                signature=signature, body=body or [])
    )
    if reply.message_type == MessageType.ERROR:
        raise LookupError(f"localsettings {member} {path}: {reply.error_name}")
    return reply.body[0] if reply.body else None


async def available(bus: MessageBus) -> bool:
    reply = await bus.call(
        Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus", interface="org.freedesktop.DBus",
                member="NameHasOwner", signature="s", body=[SETTINGS_SERVICE])
    )
    return bool(reply.body and reply.body[0])


async def add_setting(bus: MessageBus, path: str, default: Any) -> Any:
    """Create ``path`` (under /Settings) with ``default`` unless it exists; return its value."""
    group, name = path.removeprefix("/Settings/").rsplit("/", 1)
    kind, sig = ("s", "s") if isinstance(default, str) else ("f", "d") if isinstance(default, float) else ("i", "i")
    # No bounds: localsettings takes 0, 0 as "none", and a string setting has none anyway.
    bound = Variant("d", 0.0) if kind == "f" else Variant("i", 0)
    result = await _call(
        bus, "/Settings", SETTINGS_INTERFACE, "AddSetting", "ssvsvv", [group, name, Variant(sig, default), kind, bound, bound]
    )
    if result != 0:
        raise LookupError(f"localsettings refused AddSetting {path}")
    return await get(bus, path)


async def get(bus: MessageBus, path: str) -> Any:
    return unwrap(await _call(bus, path, BUSITEM, "GetValue"))


async def set_value(bus: MessageBus, path: str, value: Any) -> None:
    await _call(bus, path, BUSITEM, "SetValue", "v", [wrap(value)])


async def device_instance(bus: MessageBus, unique_id: str, *, default_class: str = "battery", default_instance: int = 512, fallback: int | None = None) -> int:
    """The VRM device instance of ``unique_id``: from localsettings when it runs, else ``fallback``."""
    if not await available(bus):
        return fallback if fallback is not None else default_instance
    value = await add_setting(bus, f"/Settings/Devices/{setting_key(unique_id)}/ClassAndVrmInstance", f"{default_class}:{default_instance}")
    try:
        return int(str(value).split(":", 1)[1])
    except (IndexError, ValueError):
        raise LookupError(f"localsettings gave a malformed ClassAndVrmInstance {value!r}") from None
