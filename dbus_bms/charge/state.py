"""What charge control remembers between polls, and the part of it that survives a restart."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any

from ..model import Sample


class Mode(enum.Enum):
    BULK = "Bulk"
    ABSORPTION = "Absorption"
    FLOAT_TRANSITION = "Float transition"
    FLOAT = "Float"


@dataclass(frozen=True, slots=True)
class ChargeState:
    # The last fresh sample and when it came (the fail-safe ages it).
    last: Sample | None = None
    last_time: float | None = None
    # When step ran last: timers and ramps advance by the time in between, whatever the poll rate.
    prev_time: float | None = None
    mode: Mode = Mode.BULK
    # /Info/ChargeMode as last published: the stage and its suffixes.
    mode_text: str = Mode.BULK.value
    absorption_elapsed: float = 0.0
    top_balance: bool = False
    # Seconds since the last full charge (float reached) and the last top balance; None: unknown.
    since_full: float | None = None
    since_top_balance: float | None = None
    # CVL while it ramps down to float.
    transition_cvl: float | None = None
    # The cell over-voltage controller's CVL while it holds CVL below the target, and its last cut.
    ovp_cvl: float | None = None
    ovp_cut_at: float | None = None
    # Published currents, their reasons and their last reduction, for the recovery hold and ramp.
    ccl: float | None = None
    ccl_reason: str = ""
    ccl_cut_at: float | None = None
    dcl: float | None = None
    dcl_reason: str = ""
    dcl_cut_at: float | None = None
    # The last CVL published (without drop compensation): never raised while the BMS is silent.
    last_cvl: float | None = None


def initial_state() -> ChargeState:
    return ChargeState()


# Absorption progress is saved in whole minutes: a restart loses at most one, and the saved state
# changes once a minute during absorption instead of at every poll.
_SAVE_STEP = 60.0


def snapshot(state: ChargeState, wall_now: float) -> dict[str, Any]:
    """The state worth keeping across a restart, in a form that changes only on events.

    Times since an event become the wall-clock time of the event, rounded to the minute, so they
    stay the same from poll to poll.
    """

    def when(ago: float | None) -> float | None:
        return None if ago is None else round((wall_now - ago) / _SAVE_STEP) * _SAVE_STEP

    return {
        "mode": state.mode.name,
        "absorption_elapsed": (state.absorption_elapsed // _SAVE_STEP) * _SAVE_STEP,
        "top_balance": state.top_balance,
        "last_full_charge": when(state.since_full),
        "last_top_balance": when(state.since_top_balance),
    }


def restore(data: dict[str, Any], wall_now: float) -> ChargeState:
    """A state from ``snapshot``'s output; raises ValueError or KeyError on anything malformed."""

    def ago(at: Any) -> float | None:
        return None if at is None else max(0.0, wall_now - float(at))

    mode = Mode[data["mode"]]
    # A restart during the ramp to float resumes in float: the ramp's start voltage is gone, and
    # float is where it was heading (and where a top balance ends).
    if mode is Mode.FLOAT_TRANSITION:
        mode = Mode.FLOAT
    return replace(
        initial_state(),
        mode=mode,
        absorption_elapsed=max(0.0, float(data["absorption_elapsed"])),
        top_balance=bool(data["top_balance"]) and mode is not Mode.FLOAT,
        since_full=ago(data["last_full_charge"]),
        since_top_balance=ago(data["last_top_balance"]),
    )
