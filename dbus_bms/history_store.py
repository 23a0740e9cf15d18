"""A battery's history on disk, so the extremes and energy meters survive a restart, a kill -9 and
a power cut.

On a GX's flash: written when the saved form changed and the last write is ``interval`` seconds old
(the config's ``history_interval``), and at a stop: at most 86400 / ``interval`` writes a day, none
while the pack rests. Each write is durable (``dbus_bms.statefile``), so a kill or a power cut loses
at most what one interval counted. A damaged file starts a fresh history, said in the log.
"""

from __future__ import annotations

import logging
from pathlib import Path

from . import statefile
from .history import History, from_dict, to_dict

log = logging.getLogger("dbus_bms")

# The config's default ``history_interval`` (s): at most 1,440 writes a day.
DEFAULT_INTERVAL = 60.0


class HistoryStore(statefile.SpacedStore[History]):
    def __init__(self, path: Path, interval: float = DEFAULT_INTERVAL) -> None:
        super().__init__(path, interval, "history", log, to_dict=to_dict, from_dict=from_dict, fresh=History,
                         instead="starting a fresh one")
        self.interval = interval
