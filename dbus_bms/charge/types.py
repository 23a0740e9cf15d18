"""What charge control hands to the Victron layer each cycle."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Limits:
    """The limits to publish, and why.

    ``stale`` is the fail-safe verdict: no fresh BMS data within the configured bound. While it is
    set the Victron layer publishes /Connected 0, raises /Alarms/BmsCable and invalidates the
    measurements; the limits here are already the fail-safe ones.
    """

    cvl: float | None
    ccl: float | None
    dcl: float | None
    allow_charge: bool
    allow_discharge: bool
    charge_mode: str
    charge_limitation: str
    discharge_limitation: str
    stale: bool
