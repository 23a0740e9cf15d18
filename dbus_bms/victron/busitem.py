"""The ``com.victronenergy.BusItem`` object tree, served from one table by one message handler.

A battery has 150+ paths; an exported object per path would cost an object, an introspection
tree and a handler lookup each. One dict and one handler answer every path.

Changes go out as Victron's own service context sends them: one ``ItemsChanged`` on ``/`` per
update, carrying exactly the changed paths. Every Victron consumer of a battery takes it: velib's
DbusMonitor (``handler_item_changes``, so systemcalc and DVCC) and VeDbusItemImport (its root
tracker), the Qt items layer under the GUI (veutil's ``VeDbusServicePrivate::onItemsChanged``) and
the MQTT bridge dbus-flashmq (``ItemsChanged`` is its preferred signal). A per-path
``PropertiesChanged`` as well would be a second copy of every change: DbusMonitor drops it by
comparing values, but dbus-flashmq publishes each copy to MQTT again and DbusMonitor's
``track_value`` watches call back twice. Only velib from before October 2021 listens to
``PropertiesChanged`` alone, so it is sent only when asked for (``properties_changed``).
localsettings is the other way round: it sends ``PropertiesChanged`` only.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

BUSITEM = "com.victronenergy.BusItem"
_INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
_INVALID = Variant("ai", [])

SET_OK, SET_NOT_WRITEABLE, SET_REJECTED = 0, 1, 2

log = logging.getLogger("dbus_bms.victron")

# A write handler answers True to accept the value, False to reject it, or with a coroutine that
# answers so later (a save that must finish before the caller is told it was kept).
WriteHandler = Callable[[str, Any], Union[bool, Awaitable[bool]]]


def wrap(value: Any) -> Variant:
    """A Python value as Victron puts it on the bus; None is the invalid value, an empty array."""
    if value is None:
        return _INVALID
    if isinstance(value, bool):
        return Variant("i", int(value))
    if isinstance(value, int):
        return Variant("i" if -(2**31) <= value < 2**31 else "x", value)
    if isinstance(value, float):
        return Variant("d", value)
    if isinstance(value, str):
        return Variant("s", value)
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return Variant("ai", list(value))
        return Variant("ad", [float(v) for v in value])
    raise TypeError(f"no D-Bus form for {type(value).__name__}")


def unwrap(value: Any) -> Any:
    if isinstance(value, Variant):
        value = value.value
    if isinstance(value, list) and not value:
        return None
    return value


def default_text(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(slots=True)
class _Item:
    value: Any
    writeable: bool
    on_write: WriteHandler | None
    text: Callable[[Any], str]
    # Writes answered later are taken one at a time, in the order they came: the last one asked
    # is the value that stays.
    lock: asyncio.Lock | None = None


class BusItemTree:
    """Paths, their values and the handler that serves them on ``bus``."""

    def __init__(self, bus: MessageBus, *, items_changed: bool = True, properties_changed: bool = False) -> None:
        """``items_changed`` and ``properties_changed`` choose the change signals (module docstring)."""
        self.bus = bus
        self.items_changed = items_changed
        self.properties_changed = properties_changed
        self._items: dict[str, _Item] = {}
        self._answering: set[asyncio.Task] = set()
        bus.add_message_handler(self._handle)

    def add(
        self,
        path: str,
        value: Any = None,
        *,
        writeable: bool = False,
        on_write: WriteHandler | None = None,
        text: Callable[[Any], str] | None = None,
    ) -> None:
        """A path; a SetValue on a ``writeable`` one is stored if ``on_write`` (when given) accepts it."""
        self._items[path] = _Item(value, writeable, on_write, text or default_text)

    def __contains__(self, path: str) -> bool:
        return path in self._items

    def value(self, path: str) -> Any:
        return self._items[path].value

    def values(self) -> dict[str, Any]:
        return {path: item.value for path, item in self._items.items()}

    def update(self, changes: Mapping[str, Any]) -> None:
        """Store new values; signal the changed ones, all in one ItemsChanged (and each in its own
        PropertiesChanged when the tree was asked for them)."""
        changed: dict[str, dict[str, Variant]] = {}
        for path, value in changes.items():
            item = self._items[path]
            if item.value == value and type(item.value) is type(value):
                continue
            item.value = value
            changed[path] = {"Value": wrap(value), "Text": Variant("s", item.text(value))}
        if not changed:
            return
        if self.items_changed:
            self.bus.send(Message.new_signal("/", BUSITEM, "ItemsChanged", "a{sa{sv}}", [changed]))
        if self.properties_changed:
            for path, entry in changed.items():
                self.bus.send(Message.new_signal(path, BUSITEM, "PropertiesChanged", "a{sv}", [entry]))

    def _write(self, msg: Message, path: str, value: Any) -> Message | bool:
        item = self._items[path]
        if not item.writeable:
            return Message.new_method_return(msg, "i", [SET_NOT_WRITEABLE])
        verdict = item.on_write(path, value) if item.on_write is not None else True
        if inspect.isawaitable(verdict):
            task = asyncio.get_running_loop().create_task(self._write_later(msg, item, path, value, verdict))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)
            return True  # handled: the reply follows once the handler has answered
        if not verdict:
            return Message.new_method_return(msg, "i", [SET_REJECTED])
        self.update({path: value})
        return Message.new_method_return(msg, "i", [SET_OK])

    async def _write_later(self, msg: Message, item: _Item, path: str, value: Any, verdict: Awaitable[bool]) -> None:
        if item.lock is None:
            item.lock = asyncio.Lock()
        async with item.lock:
            try:
                accepted = await verdict
            except Exception:
                log.exception("writing %s failed", path)
                accepted = False
            if accepted:
                self.update({path: value})
        if self.bus.connected:
            self.bus.send(Message.new_method_return(msg, "i", [SET_OK if accepted else SET_REJECTED]))

    def _subtree(self, path: str) -> dict[str, _Item]:
        prefix = "/" if path == "/" else path + "/"
        return {p[len(prefix):]: item for p, item in self._items.items() if p.startswith(prefix)}

    def _handle(self, msg: Message) -> Message | bool | None:
        if msg.message_type != MessageType.METHOD_CALL or msg.destination is None:
            return None
        if msg.interface == _INTROSPECTABLE:
            return self._introspect(msg)
        if msg.interface not in (BUSITEM, None):
            return None
        path, member = msg.path, msg.member
        item = self._items.get(path)
        if item is not None:
            if member == "GetValue":
                return Message.new_method_return(msg, "v", [wrap(item.value)])
            if member == "GetText":
                return Message.new_method_return(msg, "s", [item.text(item.value)])
            if member == "SetValue" and msg.signature == "v":
                return self._write(msg, path, unwrap(msg.body[0]))
            return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", f"{member} on {path}")
        sub = self._subtree(path)
        if not sub:
            return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownObject", f"no path {path}")
        if member == "GetValue":
            return Message.new_method_return(msg, "a{sv}", [{p: wrap(i.value) for p, i in sub.items()}])
        if member == "GetText":
            return Message.new_method_return(msg, "a{ss}", [{p: i.text(i.value) for p, i in sub.items()}])
        if member == "GetItems" and path == "/":
            items = {
                "/" + p: {"Value": wrap(i.value), "Text": Variant("s", i.text(i.value))} for p, i in sub.items()
            }
            return Message.new_method_return(msg, "a{sa{sv}}", [items])
        return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", f"{member} on {path}")

    def _introspect(self, msg: Message) -> Message | None:
        path = msg.path
        prefix = "/" if path == "/" else path + "/"
        children = sorted({p[len(prefix):].split("/", 1)[0] for p in self._items if p.startswith(prefix)})
        if not children and path not in self._items:
            return None
        iface = (
            f'<interface name="{BUSITEM}"><method name="GetValue"><arg direction="out" type="v"/></method>'
            '<method name="GetText"><arg direction="out" type="s"/></method>'
            '<method name="SetValue"><arg direction="in" type="v"/><arg direction="out" type="i"/></method>'
            '<signal name="PropertiesChanged"><arg type="a{sv}"/></signal>'
            + ('<method name="GetItems"><arg direction="out" type="a{sa{sv}}"/></method>'
               '<signal name="ItemsChanged"><arg type="a{sa{sv}}"/></signal>' if path == "/" else "")
            + "</interface>"
        )
        nodes = "".join(f'<node name="{c}"/>' for c in children)
        xml = f"<node>{iface}{nodes}</node>"
        return Message.new_method_return(msg, "s", [xml])
