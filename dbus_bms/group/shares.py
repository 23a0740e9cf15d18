"""How a parallel group's current splits between its members, as far as the readings tell.

Packs in parallel share the bus voltage, so each takes the current at which its own terminal
voltage meets it: the split follows their resistances and states of charge and moves as they fill.
While the group's current is large enough for the per-pack readings to be trusted, the measured
split is the best estimate of the next one; below that, capacities are (the larger pack has the
lower resistance and takes more). A member whose FET for the direction is open takes none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .combine import Member

Shares = tuple[float | None, ...]

# The measured split is trusted from this group current up: 1 % of the members' capacity (0.01 C),
# and never below a current the packs' 0.01 A resolution and their offsets drown.
TRUSTED_C_RATE = 0.01
TRUSTED_MIN_CURRENT = 2.0
# No member's share is taken below this fraction of its capacity share, however little it took in
# the last reading: a pack that has just closed its FET, or sat just above the bus, takes current
# again within a reading, and a share near 0 would let its limit count for nothing.
FLOOR = 0.5


def charge_shares(members: Sequence[Member], live: Sequence[bool]) -> Shares:
    return _shares(members, live, charge=True)


def discharge_shares(members: Sequence[Member], live: Sequence[bool]) -> Shares:
    return _shares(members, live, charge=False)


def conducts(m: Member, charge: bool) -> bool:
    """Whether the member's FET for the direction conducts (unknown counts as conducting)."""
    if m.sample is None:
        return True
    fet = m.sample.charge_enabled if charge else m.sample.discharge_enabled
    return fet is not False


def _shares(members: Sequence[Member], live: Sequence[bool], *, charge: bool) -> Shares:
    """Each member's share of the group current in the direction, None for one that takes none
    (offline, or its FET open). The shares of the members that take part add up to at least 1."""
    taking = [i for i, m in enumerate(members) if live[i] and conducts(m, charge)]
    if not taking:
        return tuple(None for _ in members)
    base = capacity_shares([members[i] for i in taking])
    measured = measured_shares([members[i] for i in taking], charge)
    out: list[float | None] = [None] * len(members)
    for k, i in enumerate(taking):
        out[i] = base[k] if measured is None else max(measured[k], FLOOR * base[k])
    return tuple(out)


def capacity_shares(members: Sequence[Member]) -> list[float]:
    """Shares by full capacity; equal shares when a member's capacity is not known."""
    caps = [m.sample.capacity_full if m.sample is not None else None for m in members]
    if all(c is not None and c > 0 for c in caps):
        total = sum(caps)  # type: ignore[arg-type]
        return [c / total for c in caps]  # type: ignore[operator]
    return [1.0 / len(members)] * len(members)


def measured_shares(members: Sequence[Member], charge: bool) -> list[float] | None:
    """The split of the measured currents in the direction, or None when it is not to be trusted:
    a current unknown, or the group's too small (or flowing the other way)."""
    currents = [m.sample.current if m.sample is not None else None for m in members]
    if any(c is None for c in currents):
        return None
    signed = [c if charge else -c for c in currents]  # type: ignore[operator]
    caps = [m.sample.capacity_full or 0.0 for m in members if m.sample is not None]
    trusted = max(TRUSTED_MIN_CURRENT, TRUSTED_C_RATE * sum(caps))
    if sum(signed) < trusted:
        return None
    # A pack that the others charge (or that charges them) takes none of the group's current now.
    positive = [max(0.0, c) for c in signed]
    total = sum(positive)
    return [c / total for c in positive]
