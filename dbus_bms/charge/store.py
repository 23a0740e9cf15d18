"""Charge state on disk: the stage, the absorption clock, the over-voltage controller's hold, the
charge taken out since the last full charge, the running top balance and the dates of the last
full charge and top balance survive a restart.

A GX keeps this on flash, so a write happens only when the saved form changes (a stage change, a
cut, another percent taken out, seconds more of absorption), never because a poll came, and at
most once every ``MIN_SAVE_SPACING`` seconds whatever the state does. Each write is durable
(``dbus_bms.statefile``: a fresh temporary file, flushed, renamed, the directory flushed), so a
power cut leaves the old file or the new one, not half of either, and a link planted at the file
is never followed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .. import statefile
from .state import ChargeState, initial_state, restore, snapshot

log = logging.getLogger("dbus_bms.charge")

# The shortest time between two writes: a state that changes faster (the absorption clock, a
# stage that flaps) costs at most one write every 15 s, 5,760 a day. 15 s so a daemon that
# crashes every 45 s still keeps two thirds of its absorption time. A simulated solar day costs
# 135 to 180 writes.
MIN_SAVE_SPACING = 15.0


class ChargeStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = statefile.SpacedJsonFile(path, MIN_SAVE_SPACING, "charge state", log)

    @property
    def writes(self) -> int:
        return self.file.writes

    def load(self, wall_now: float) -> ChargeState:
        """The saved state, or a fresh one when there is none or it cannot be read (said in the log)."""
        try:
            data = statefile.read_json(self.path)
            if data is None:
                return initial_state()
            state = restore(data, wall_now)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: cannot use the saved charge state (%s); starting in bulk", self.path, exc)
            return initial_state()
        self.file.loaded(data)
        log.info("%s: resuming charge state %s", self.path, data)
        return state

    def save(self, state: ChargeState, wall_now: float) -> bool:
        """Writes the state if its saved form changed and the last write is ``MIN_SAVE_SPACING``
        old (else a later call writes it); True when it wrote."""
        return self.file.save(snapshot(state, wall_now), wall_now)

    def flush(self, wall_now: float) -> bool:
        """Writes what ``save`` held back (at a stop); True when it wrote."""
        return self.file.flush(wall_now)
