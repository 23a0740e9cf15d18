"""A battery's history on disk, so the extremes and energy counts survive a restart.

On a GX's flash: written only when the saved form changes (a new extreme, another 10 Wh or 0.1 Ah),
at most once every ``MIN_SAVE_SPACING`` seconds, and at a stop. Each write is durable
(``dbus_bms.statefile``); a damaged file starts a fresh history, said in the log.
"""

from __future__ import annotations

import logging
from pathlib import Path

from . import statefile
from .history import History, from_dict, to_dict

log = logging.getLogger("dbus_bms")

# At most 1,440 writes a day, whatever the pack does; a pack at rest costs none. What the last
# minute added before a power cut is lost: a history, not a control input.
MIN_SAVE_SPACING = 60.0


class HistoryStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = statefile.SpacedJsonFile(path, MIN_SAVE_SPACING, "history", log)

    @property
    def writes(self) -> int:
        return self.file.writes

    def load(self) -> History:
        """The saved history, or a fresh one when there is none or it cannot be used (said in the log)."""
        try:
            data = statefile.read_json(self.path)
            if data is None:
                return History()
            history = from_dict(data)
        except (OSError, ValueError) as exc:
            log.warning("%s: cannot use the saved history (%s); starting a fresh one", self.path, exc)
            return History()
        self.file.loaded(to_dict(history))
        return history

    def save(self, history: History, wall_now: float) -> bool:
        """Writes the history if its saved form changed and the last write is ``MIN_SAVE_SPACING``
        old (else a later call or ``flush`` writes it); True when it wrote."""
        return self.file.save(to_dict(history), wall_now)

    def flush(self, wall_now: float) -> bool:
        """Writes what ``save`` held back (at a stop); True when it wrote."""
        return self.file.flush(wall_now)
