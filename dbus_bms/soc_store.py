"""A battery's counted SoC on disk (``soc_counting``), kept as the energy meters are: written when
it changed and the last write is ``history_interval`` s old, and at a stop, durably, so a kill or a
power cut loses at most what one interval counted. A damaged file starts the count from the BMS's
SoC again, said in the log.
"""

from __future__ import annotations

import logging
from pathlib import Path

from . import statefile
from .soc_counter import SocCount, from_dict, to_dict

log = logging.getLogger("dbus_bms")


class SocStore(statefile.SpacedStore[SocCount]):
    def __init__(self, path: Path, interval: float) -> None:
        super().__init__(path, interval, "SoC count", log, to_dict=to_dict, from_dict=from_dict, fresh=SocCount,
                         instead="starting from the BMS's SoC")

    def forget(self) -> None:
        """Removes a count saved while counting was on: one turned on again later starts from the
        BMS's SoC, not from a value that stood still meanwhile."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("%s: cannot remove the saved SoC count (%s)", self.path, exc)
            return
        log.info("%s: soc_counting is off: the saved SoC count is removed", self.path)
