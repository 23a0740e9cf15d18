"""Charge state on disk: the stage, the absorption clock, the over-voltage controller's hold, the
charge taken out since the last full charge, the running top balance and the dates of the last
full charge and top balance survive a restart.

A GX keeps this on flash, so a write happens only when the saved form changes (a stage change, a
cut, another percent taken out, seconds more of absorption), never because a poll came, and at
most once every ``MIN_SAVE_SPACING`` seconds whatever the state does. Each write is durable (``dbus_bms.statefile``: a fresh temporary file,
flushed, renamed, the directory flushed), so a power cut leaves the old file or the new one, not
half of either, and a link planted at the file is never followed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

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
        self.writes = 0
        self._saved: dict[str, Any] | None = None
        self._latest: dict[str, Any] | None = None
        self._written_at: float | None = None
        self._error = ""

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
        self._saved = data
        log.info("%s: resuming charge state %s", self.path, data)
        return state

    def save(self, state: ChargeState, wall_now: float) -> bool:
        """Writes the state if its saved form changed and the last write is ``MIN_SAVE_SPACING``
        old (else a later call writes it); True when it wrote."""
        self._latest = snapshot(state, wall_now)
        if self._latest == self._saved:
            return False
        # A wall clock set back counts as time passed: it must not stop the saving for good.
        if self._written_at is not None and 0 <= wall_now - self._written_at < MIN_SAVE_SPACING:
            return False
        return self._write(self._latest, wall_now)

    def flush(self, wall_now: float) -> bool:
        """Writes what ``save`` held back (at a stop); True when it wrote."""
        if self._latest is None or self._latest == self._saved:
            return False
        return self._write(self._latest, wall_now)

    def _write(self, data: dict[str, Any], wall_now: float) -> bool:
        self._written_at = wall_now
        try:
            statefile.write_json(self.path, data)
        except OSError as exc:
            # Every poll past the spacing tries again; the log says it once per cause.
            if str(exc) != self._error:
                log.warning("%s: cannot save the charge state (%s)", self.path, exc)
                self._error = str(exc)
            return False
        if self._error:
            log.info("%s: charge state saved again", self.path)
            self._error = ""
        self._saved = data
        self.writes += 1
        return True
