"""A stand-in for Victron's localsettings, for the demo and the tests.

It serves what dbus-bms uses: ``AddSetting`` on /Settings (which keeps an existing value, and for
``ClassAndVrmInstance`` hands out the lowest free instance of the class, as localsettings does),
GetValue/GetText on every setting, and SetValue answering as localsettings does: 0 once the value
is saved, -1 when it cannot be; a ``ClassAndVrmInstance`` set to an instance another device of the
class holds gets the next free one. Each change is signalled as localsettings signals it: a
per-setting PropertiesChanged, and no ItemsChanged. Settings are kept in a JSON file, written durably.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from .. import statefile
from ..victron.busitem import BUSITEM, BusItemTree, unwrap
from ..victron.settings import SETTINGS_INTERFACE, SETTINGS_SERVICE

log = logging.getLogger("dbus_bms.sim")

_SET_OK, _SET_ERROR = 0, -1


class LocalSettings:
    def __init__(self, store: Path) -> None:
        self.store = Path(store)
        self.tree: BusItemTree | None = None

    async def start(self, bus: MessageBus) -> None:
        # Our calls first: the tree's own handler would answer AddSetting with UnknownMethod and
        # SetValue with its own codes.
        bus.add_message_handler(self._handle)
        self.tree = BusItemTree(bus, items_changed=False, properties_changed=True)
        saved = statefile.read_json(self.store) or {}
        for path, value in saved.items():
            self.tree.add(path, value)
        await bus.request_name(SETTINGS_SERVICE)

    def _values(self) -> dict[str, Any]:
        assert self.tree is not None
        return self.tree.values()

    def _save(self, values: dict[str, Any]) -> None:
        statefile.write_json(self.store, values)

    def _free_instance(self, cls: str, wanted: int, holder: str | None = None) -> int:
        taken = {
            int(v.split(":")[1])
            for p, v in self._values().items()
            if p.endswith("/ClassAndVrmInstance") and p != holder and isinstance(v, str) and v.startswith(cls + ":")
        }
        while wanted in taken:
            wanted += 1
        return wanted

    def _handle(self, msg: Message) -> Message | None:
        if msg.message_type != MessageType.METHOD_CALL or self.tree is None:
            return None
        if msg.member == "AddSetting" and msg.path == "/Settings" and msg.interface in (SETTINGS_INTERFACE, None):
            return self._add_setting(msg)
        if msg.member == "SetValue" and msg.interface in (BUSITEM, None) and msg.path in self.tree and msg.signature == "v":
            return self._set_value(msg)
        return None

    def _add_setting(self, msg: Message) -> Message:
        assert self.tree is not None
        group, name, default = msg.body[0], msg.body[1], unwrap(msg.body[2])
        path = "/".join(["/Settings", *(part.strip("/") for part in (group, name) if part.strip("/"))])
        if path not in self.tree:
            if name == "ClassAndVrmInstance" and isinstance(default, str) and ":" in default:
                cls, wanted = default.split(":", 1)
                default = f"{cls}:{self._free_instance(cls, int(wanted))}"
            self.tree.add(path, default)
            try:
                self._save(self._values())
            except OSError as exc:
                # localsettings, too, keeps a new setting in memory and saves it with the next write.
                log.warning("%s: cannot save the settings (%s)", self.store, exc)
        return Message.new_method_return(msg, "i", [_SET_OK])

    def _set_value(self, msg: Message) -> Message:
        assert self.tree is not None
        value = unwrap(msg.body[0])
        if msg.path.endswith("/ClassAndVrmInstance"):
            cls, _, wanted = str(value).partition(":")
            if not wanted.isdigit():
                return Message.new_method_return(msg, "i", [_SET_ERROR])
            value = f"{cls}:{self._free_instance(cls, int(wanted), holder=msg.path)}"
        try:
            self._save({**self._values(), msg.path: value})
        except OSError as exc:
            log.warning("%s: cannot save %s (%s)", self.store, msg.path, exc)
            return Message.new_method_return(msg, "i", [_SET_ERROR])
        self.tree.update({msg.path: value})
        return Message.new_method_return(msg, "i", [_SET_OK])
