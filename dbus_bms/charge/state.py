"""What charge control remembers between polls, and the part of it that survives a restart."""

from __future__ import annotations

import enum
import math
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
    # The cell over-voltage controller's CVL while it holds CVL below the target, and the seconds
    # since its last cut.
    ovp_cvl: float | None = None
    ovp_since_cut: float | None = None
    # Published currents, their reasons and their last reduction, for the recovery hold and ramp.
    ccl: float | None = None
    ccl_reason: str = ""
    ccl_cut_at: float | None = None
    dcl: float | None = None
    dcl_reason: str = ""
    dcl_cut_at: float | None = None
    # CVL as computed (without drop compensation) and as published: the published one follows a
    # rise only once it is worth a write, and never rises while the BMS is silent. ``cvl_rising``:
    # the published CVL is catching up with a rise.
    last_cvl: float | None = None
    published_cvl: float | None = None
    cvl_rising: bool = False
    # The cell voltages charge control used last (a reading the physics rules out is held back one
    # poll: ``held`` says the last one was).
    cells: tuple[float, ...] | None = None
    held: bool = False
    # Re-bulk from float: how long the highest cell has stayed below the rest voltage, and the
    # share of the capacity taken out since the last full charge (None: not counted, no capacity).
    rest_low: float = 0.0
    discharged: float | None = None
    # The running top balance: seconds since its first absorption, its narrowest spread and the
    # seconds since that narrowed by the progress step. Why the last one ended early, for a while.
    top_balance_elapsed: float | None = None
    top_balance_best: float | None = None
    top_balance_since_best: float = 0.0
    top_balance_note: str = ""
    top_balance_note_for: float = 0.0


def initial_state() -> ChargeState:
    return ChargeState()


# Dates are saved to the minute; the over-voltage controller's CVL rounded down to the 10 mV the
# published CVL moves by (a lower CVL after a restart is the safe side).
_DATE_STEP = 60.0
_OVP_STEP = 0.01


def snapshot(state: ChargeState, wall_now: float) -> dict[str, Any]:
    """The state worth keeping across a restart, in a form that changes only on events and slow
    progress: the absorption clock in whole seconds, the share taken out in whole percent.

    Times since an event become the wall-clock time of the event, so they stay the same from
    poll to poll.
    """

    def when(ago: float | None, step: float = _DATE_STEP) -> float | None:
        return None if ago is None else round((wall_now - ago) / step) * step

    return {
        "mode": state.mode.name,
        "absorption_elapsed": float(int(state.absorption_elapsed)),
        "top_balance": state.top_balance,
        "last_full_charge": when(state.since_full),
        "last_top_balance": when(state.since_top_balance),
        "ovp_cvl": None if state.ovp_cvl is None else math.floor(state.ovp_cvl / _OVP_STEP) * _OVP_STEP,
        "ovp_cut": when(state.ovp_since_cut, 1.0),
        "discharged": None if state.discharged is None else math.floor(state.discharged * 100) / 100,
        "top_balance_started": when(state.top_balance_elapsed),
        "top_balance_best": None if state.top_balance_best is None else round(state.top_balance_best, 3),
        "top_balance_best_at": when(state.top_balance_since_best) if state.top_balance_best is not None else None,
    }


def restore(data: dict[str, Any], wall_now: float) -> ChargeState:
    """A state from ``snapshot``'s output; raises ValueError or KeyError on anything malformed.

    Keys added in later versions are optional, so a file from an older one still loads. CVL is
    not restored as such: the first reading seeds it from the cells (``voltage.py``).
    """

    def ago(at: Any) -> float | None:
        return None if at is None else max(0.0, wall_now - float(at))

    def number(key: str) -> float | None:
        value = data.get(key)
        if value is None:
            return None
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{key} is {value}")
        return value

    mode = Mode[data["mode"]]
    # A restart during the ramp to float resumes in float: the ramp's start voltage is gone, and
    # float is where it was heading (and where a top balance ends).
    if mode is Mode.FLOAT_TRANSITION:
        mode = Mode.FLOAT
    top_balance = bool(data["top_balance"]) and mode is not Mode.FLOAT
    best = number("top_balance_best")
    return replace(
        initial_state(),
        mode=mode,
        absorption_elapsed=max(0.0, float(data["absorption_elapsed"])),
        top_balance=top_balance,
        since_full=ago(data["last_full_charge"]),
        since_top_balance=ago(data["last_top_balance"]),
        ovp_cvl=number("ovp_cvl"),
        ovp_since_cut=ago(data.get("ovp_cut")),
        discharged=None if number("discharged") is None else max(0.0, number("discharged")),
        top_balance_elapsed=ago(data.get("top_balance_started")) if top_balance else None,
        top_balance_best=best if top_balance else None,
        top_balance_since_best=(ago(data.get("top_balance_best_at")) or 0.0) if top_balance else 0.0,
    )
