"""A stand-in for Victron's localsettings, for the demo and the tests.

It serves what dbus-bms uses: ``AddSetting`` on /Settings (which keeps an existing value, and for
``ClassAndVrmInstance`` hands out the lowest free instance of the class, as localsettings does),
and GetValue/SetValue/GetText on every setting, kept in a JSON file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from ..victron.busitem import BusItemTree, unwrap
from ..victron.settings import SETTINGS_INTERFACE, SETTINGS_SERVICE


class LocalSettings:
    def __init__(self, store: Path) -> None:
        self.store = Path(store)
        self.tree: BusItemTree | None = None

    async def start(self, bus: MessageBus) -> None:
        # AddSetting first: the tree's own handler would answer it on /Settings with UnknownMethod.
        bus.add_message_handler(self._handle_add)
        self.tree = BusItemTree(bus)
        saved = json.loads(self.store.read_text()) if self.store.exists() else {}
        for path, value in saved.items():
            self._add(path, value)
        await bus.request_name(SETTINGS_SERVICE)

    def _add(self, path: str, value: Any) -> None:
        assert self.tree is not None
        self.tree.add(path, value, writeable=True, on_write=self._on_write)

    def _on_write(self, path: str, value: Any) -> bool:
        assert self.tree is not None
        # The tree stores the value after this returns; save what it will hold.
        self._save({**self._values(), path: value})
        return True

    def _values(self) -> dict[str, Any]:
        assert self.tree is not None
        return self.tree.values()

    def _save(self, values: dict[str, Any]) -> None:
        tmp = self.store.with_suffix(".tmp")
        tmp.write_text(json.dumps(values, indent=1, sort_keys=True))
        tmp.replace(self.store)

    def _free_instance(self, cls: str, wanted: int) -> int:
        taken = {
            int(v.split(":")[1])
            for p, v in self._values().items()
            if p.endswith("/ClassAndVrmInstance") and isinstance(v, str) and v.startswith(cls + ":")
        }
        while wanted in taken:
            wanted += 1
        return wanted

    def _handle_add(self, msg: Message) -> Message | None:
        if (
            msg.message_type != MessageType.METHOD_CALL
            or msg.member != "AddSetting"
            or msg.path != "/Settings"
            or msg.interface not in (SETTINGS_INTERFACE, None)
        ):
            return None
        assert self.tree is not None
        group, name, default = msg.body[0], msg.body[1], unwrap(msg.body[2])
        path = "/".join(["/Settings", *(part.strip("/") for part in (group, name) if part.strip("/"))])
        if path not in self.tree:
            if name == "ClassAndVrmInstance" and isinstance(default, str) and ":" in default:
                cls, wanted = default.split(":", 1)
                default = f"{cls}:{self._free_instance(cls, int(wanted))}"
            self._add(path, default)
            self._save(self._values())
        return Message.new_method_return(msg, "i", [0])
