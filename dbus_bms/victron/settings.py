"""Victron localsettings (``com.victronenergy.settings``): device instances and kept settings."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from .busitem import BUSITEM, unwrap, wrap

SETTINGS_SERVICE = "com.victronenergy.settings"
# AddSetting lives on this interface of localsettings' /Settings object, not on BusItem.
SETTINGS_INTERFACE = "com.victronenergy.Settings"
# localsettings answers at once; a call that takes longer is a localsettings that hangs, and a
# value it has not confirmed by then is not kept.
REPLY_TIMEOUT = 3.0

_DBUS = "org.freedesktop.DBus"
_OWNER_RULE = (
    f"type='signal',sender='{_DBUS}',interface='{_DBUS}',member='NameOwnerChanged',arg0='{SETTINGS_SERVICE}'"
)


class SettingsError(LookupError):
    """localsettings refused a call, failed it, or did not answer in time."""


def setting_key(unique_id: str) -> str:
    """``unique_id`` as one settings path element (letters, digits and underscores only)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", unique_id)


async def _bus_call(bus: MessageBus, msg: Message) -> Message:
    try:
        return await asyncio.wait_for(bus.call(msg), REPLY_TIMEOUT)
    except asyncio.TimeoutError:
        raise SettingsError(f"{msg.destination} {msg.member} {msg.path}: no answer in {REPLY_TIMEOUT:g} s") from None


async def _call(bus: MessageBus, path: str, interface: str, member: str, signature: str = "", body: list | None = None) -> Any:
    reply = await _bus_call(
        bus,
        Message(destination=SETTINGS_SERVICE, path=path, interface=interface, member=member,
                signature=signature, body=body or []),
    )
    if reply.message_type == MessageType.ERROR:
        raise SettingsError(f"localsettings {member} {path}: {reply.error_name}")
    return reply.body[0] if reply.body else None


class SettingsPresence:
    """Whether localsettings owns its name, followed through NameOwnerChanged (no polling).

    ``on_appear`` is called each time it takes the name: its first start and every restart.
    ``owner`` is the connection that holds the name, None while nobody does.
    """

    def __init__(self, bus: MessageBus, on_appear: Callable[[], None] | None = None) -> None:
        self.bus = bus
        self.owner: str | None = None
        self._on_appear = on_appear
        self._changed = asyncio.Event()

    async def start(self) -> None:
        self.bus.add_message_handler(self._handle)
        # The match first, then the question: an owner that arrives in between is seen either way.
        await _bus_call(self.bus, self._daemon("AddMatch", "s", [_OWNER_RULE]))
        reply = await _bus_call(self.bus, self._daemon("GetNameOwner", "s", [SETTINGS_SERVICE]))
        if reply.message_type == MessageType.METHOD_RETURN and self.owner is None:
            self._set(reply.body[0])

    @property
    def present(self) -> bool:
        return self.owner is not None

    async def wait(self, timeout: float) -> bool:
        """True once localsettings is on the bus, False if it did not come within ``timeout`` s."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not self.present and loop.time() < end:
            self._changed.clear()
            try:
                async with asyncio.timeout_at(end):
                    await self._changed.wait()
            except TimeoutError:
                break
        return self.present

    async def close(self) -> None:
        self.bus.remove_message_handler(self._handle)
        if self.bus.connected:
            await _bus_call(self.bus, self._daemon("RemoveMatch", "s", [_OWNER_RULE]))

    @staticmethod
    def _daemon(member: str, signature: str, body: list) -> Message:
        return Message(destination=_DBUS, path="/org/freedesktop/DBus", interface=_DBUS, member=member,
                       signature=signature, body=body)

    def _handle(self, msg: Message) -> None:
        if (
            msg.message_type == MessageType.SIGNAL
            and msg.member == "NameOwnerChanged"
            and msg.sender == _DBUS
            and msg.body
            and msg.body[0] == SETTINGS_SERVICE
        ):
            self._set(msg.body[2] or None)

    def _set(self, owner: str | None) -> None:
        appeared = owner is not None and self.owner is None
        self.owner = owner
        self._changed.set()
        if appeared and self._on_appear is not None:
            self._on_appear()


class SettingsWatch:
    """Calls ``on_change(path, value)`` when localsettings changes a setting under ``group``, as
    velib's SettingsDevice follows its settings: through localsettings' per-setting
    ``PropertiesChanged``, the only change signal localsettings sends."""

    def __init__(self, presence: SettingsPresence, group: str, on_change: Callable[[str, Any], None]) -> None:
        self.presence = presence
        self.group = group
        self._on_change = on_change
        self._rule = (
            f"type='signal',sender='{SETTINGS_SERVICE}',interface='{BUSITEM}',member='PropertiesChanged',"
            f"path_namespace='{group}'"
        )

    async def start(self) -> None:
        bus = self.presence.bus
        bus.add_message_handler(self._handle)
        # The daemon matches a well-known sender against whoever owns it when a signal is sent,
        # so the rule holds across localsettings restarts.
        await _bus_call(bus, SettingsPresence._daemon("AddMatch", "s", [self._rule]))

    async def close(self) -> None:
        bus = self.presence.bus
        bus.remove_message_handler(self._handle)
        if bus.connected:
            await _bus_call(bus, SettingsPresence._daemon("RemoveMatch", "s", [self._rule]))

    def _handle(self, msg: Message) -> None:
        if (
            msg.message_type == MessageType.SIGNAL
            and msg.member == "PropertiesChanged"
            and msg.sender is not None
            and msg.sender == self.presence.owner
            and msg.path is not None
            and msg.path.startswith(self.group + "/")
            and msg.signature == "a{sv}"
            and "Value" in msg.body[0]
        ):
            self._on_change(msg.path, unwrap(msg.body[0]["Value"]))


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
        raise SettingsError(f"localsettings refused AddSetting {path} ({result})")
    return await get(bus, path)


async def get(bus: MessageBus, path: str) -> Any:
    return unwrap(await _call(bus, path, BUSITEM, "GetValue"))


async def set_value(bus: MessageBus, path: str, value: Any) -> None:
    """Store ``value``; returns once localsettings confirmed it (it answers 0), else raises SettingsError."""
    result = await _call(bus, path, BUSITEM, "SetValue", "v", [wrap(value)])
    if result != 0:
        raise SettingsError(f"localsettings refused SetValue {path} ({result})")


async def device_instance(bus: MessageBus, unique_id: str, *, default_class: str = "battery", default_instance: int = 512) -> int:
    """The VRM device instance localsettings keeps for ``unique_id`` (allocated on first use)."""
    value = await add_setting(bus, f"/Settings/Devices/{setting_key(unique_id)}/ClassAndVrmInstance", f"{default_class}:{default_instance}")
    instance = parse_instance(value, default_class)
    if instance is None:
        raise SettingsError(f"localsettings gave a malformed ClassAndVrmInstance {value!r}")
    return instance


def parse_instance(value: Any, device_class: str = "battery") -> int | None:
    """The instance of a ``ClassAndVrmInstance`` value (``battery:512``), None unless it is one of ``device_class``."""
    cls, _, number = str(value).partition(":")
    if cls != device_class or not number.isdigit():
        return None
    return int(number)
