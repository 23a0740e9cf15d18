"""The BMS's own settings as dbus-bms last read them, kept in the state directory, so that
``check-config`` can hold a config against the BMS it will run with, without reading the BMS (whose
port the running daemon holds).

Written only when the settings change (an owner changing them in the JK app), so a GX's flash sees
a write a year, not one a poll.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from . import statefile
from .model import BmsSettings

log = logging.getLogger("dbus_bms")

_FIELDS = {f.name for f in dataclasses.fields(BmsSettings)}


def settings_path(state_dir: Path, alias: str) -> Path:
    return state_dir / f"bms-settings-{alias}.json"


class BmsSettingsStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._error: str | None = None
        try:
            found = load(path)
        except (OSError, ValueError):
            found = None  # written anew with the first settings read
        self._saved: BmsSettings | None = found[0] if found else None

    def save(self, settings: BmsSettings) -> bool:
        """Writes ``settings`` if they differ from what was last written; True when it wrote."""
        if settings == self._saved:
            return False
        self._saved = settings
        record = {"read_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "settings": dataclasses.asdict(settings)}
        try:
            statefile.write_json(self.path, record)
        except OSError as exc:
            if str(exc) != self._error:
                log.warning("%s: cannot save the BMS's settings (%s)", self.path, exc)
                self._error = str(exc)
            return False
        self._error = None
        return True


def load(path: Path) -> tuple[BmsSettings, str] | None:
    """The saved settings and when they were read; None when there are none. Raises ValueError for a
    file that is not what this module writes, OSError when it cannot be read."""
    data = statefile.read_json(path)
    if data is None:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
        raise ValueError("not a saved set of BMS settings")
    values = {k: v for k, v in data["settings"].items() if k in _FIELDS}
    for key, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{key} is {value!r}, not a number")
    return BmsSettings(**values), str(data.get("read_at", "at an unknown time"))
