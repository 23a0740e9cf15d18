"""Charge state on disk: the stage, the absorption clock and the dates of the last full charge and
top balance survive a restart.

A GX keeps this on flash, so a write happens only when the saved form changes (a stage change,
a full charge, a minute more of absorption), never at every poll, and atomically (write, then
rename) so a power cut leaves the old file or the new one, not half of either.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from .state import ChargeState, initial_state, restore, snapshot

log = logging.getLogger("dbus_bms.charge")


class ChargeStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.writes = 0
        self._saved: dict[str, Any] | None = None
        self._error = ""

    def load(self, wall_now: float) -> ChargeState:
        """The saved state, or a fresh one when there is none or it cannot be read (said in the log)."""
        try:
            data = json.loads(self.path.read_text())
            state = restore(data, wall_now)
        except FileNotFoundError:
            return initial_state()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: cannot use the saved charge state (%s); starting in bulk", self.path, exc)
            return initial_state()
        self._saved = data
        log.info("%s: resuming charge state %s", self.path, data)
        return state

    def save(self, state: ChargeState, wall_now: float) -> bool:
        """Writes the state if its saved form changed; True when it wrote."""
        data = snapshot(state, wall_now)
        if data == self._saved:
            return False
        tmp = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data, indent=1))
            os.replace(tmp, self.path)
        except OSError as exc:
            # Every poll tries again; the log says it once per cause.
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
