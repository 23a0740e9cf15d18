"""Several batteries as one: ``combine(members, spec) -> GroupReading``, pure.

Each member runs its own charge control; this turns their readings and limits into the one battery
DVCC follows. Parallel packs share the bus, so a group current splits between them by their
resistance and state of charge: a group limit is the largest current at which no member's share
exceeds its own limit, never the sum of the limits. Series packs carry one current, so the string's
limits are the tightest member's, and its charge voltage keeps every member under its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..charge.types import Limits
from ..model import DeviceInfo, Sample
from . import WIRINGS
from .shares import Shares, charge_shares, conducts, discharge_shares

__all__ = ["GroupReading", "GroupSpec", "Member", "combine"]

GROUP_MODEL = "dbus-bms group"


@dataclass(frozen=True, slots=True)
class Member:
    name: str  # the member battery's alias
    sample: Sample | None  # its last accepted reading (its ChargeState.last); None before any
    limits: Limits | None  # its own charge control's limits now (None before any)
    online: bool  # False while the member is in its own fail-safe (limits.stale) or never read


@dataclass(frozen=True, slots=True)
class GroupSpec:
    wiring: str  # "parallel" | "series"
    min_members: int  # the group is online while at least this many members are online


@dataclass(frozen=True, slots=True)
class GroupReading:
    sample: Sample | None  # the group as one battery (None until a member has a reading)
    limits: Limits  # what the group publishes; stale=True is the group's own fail-safe
    online: int  # /System/NrOfModulesOnline
    offline: int  # /System/NrOfModulesOffline
    blocking_charge: int  # /System/NrOfModulesBlockingCharge (online members not allowing charge)
    blocking_discharge: int  # /System/NrOfModulesBlockingDischarge
    min_cell: tuple[float, str] | None  # (V, "pack2 C3"): lowest cell of the online members
    max_cell: tuple[float, str] | None
    charge_shares: tuple[float | None, ...]  # per member, its share of the group's charge current
    discharge_shares: tuple[float | None, ...]  # used for the limits (None: not in the sums)


def is_online(m: Member) -> bool:
    """A member counts only with a reading and fresh limits of its own."""
    return m.online and m.sample is not None and m.limits is not None and not m.limits.stale


def combine(members: Sequence[Member], spec: GroupSpec) -> GroupReading:
    if spec.wiring not in WIRINGS:
        raise ValueError(f"wiring must be one of {', '.join(WIRINGS)}, not {spec.wiring!r}")
    if not members:
        raise ValueError("a group needs at least one member")
    live = [is_online(m) for m in members]
    online = [m for m, ok in zip(members, live) if ok]
    # A series string is only as present as its every member.
    needed = len(members) if spec.wiring == "series" else spec.min_members
    # A string's voltage needs every member; a group with none online shows what it last knew.
    known = [m for m in members if m.sample is not None]
    shown = known if spec.wiring == "series" else online or known
    sample = (_series_sample if spec.wiring == "series" else _parallel_sample)(shown) if shown else None
    if len(online) < needed:
        limits, charge, discharge = _fail_safe(members, spec, len(online), needed)
    elif spec.wiring == "series":
        limits, charge, discharge = _series_limits(members)
    else:
        limits, charge, discharge = _parallel_limits(members, live)
    return GroupReading(
        sample=sample,
        limits=limits,
        online=len(online),
        offline=len(members) - len(online),
        blocking_charge=sum(1 for m in online if not _allows(m, charge=True)),
        blocking_discharge=sum(1 for m in online if not _allows(m, charge=False)),
        min_cell=_extreme_cell(online, min),
        max_cell=_extreme_cell(online, max),
        charge_shares=charge,
        discharge_shares=discharge,
    )


# --- Limits ---------------------------------------------------------------------------------------


def _allows(m: Member, *, charge: bool) -> bool:
    assert m.limits is not None
    return (m.limits.allow_charge if charge else m.limits.allow_discharge) and conducts(m, charge)


def _current_limit(
    members: Sequence[Member], shares: Shares, pick: Callable[[Limits], float | None], why: Callable[[Limits], str]
) -> tuple[float, str]:
    """The largest group current at which no member's share exceeds its own limit, and the reason
    of the member that sets it. A member with no share (its FET open) does not bind."""
    best, reason = math.inf, ""
    for m, share in zip(members, shares):
        if share is None:
            continue
        # A member without limits of its own yet allows nothing.
        own = max(0.0, (pick(m.limits) if m.limits is not None else None) or 0.0)
        # A member that allows nothing with its FET closed would still take current: it stops the group.
        bound = 0.0 if own <= 0 else own / share
        if bound < best:
            best, reason = bound, f"{m.name}: {why(m.limits) if m.limits is not None else 'no limits yet'}"
    if best == math.inf:
        return 0.0, "FETs open in every pack"
    # Down to 0.1 A: never above a member's bound, and noise in the measured split moves it less.
    return math.floor(round(best * 10.0, 6)) / 10.0, reason


def _cvl_of(members: Sequence[Member]) -> tuple[float | None, str]:
    """The lowest charge voltage of ``members`` and the charge mode of the member that sets it."""
    with_cvl = [m for m in members if m.limits is not None and m.limits.cvl is not None]
    if not with_cvl:
        return None, next((m.limits.charge_mode for m in members if m.limits is not None), "Waiting for BMS")
    low = min(with_cvl, key=lambda m: m.limits.cvl)  # type: ignore[union-attr]
    assert low.limits is not None
    return low.limits.cvl, low.limits.charge_mode


def _parallel_limits(
    members: Sequence[Member], live: Sequence[bool]
) -> tuple[Limits, Shares, Shares]:
    online = [m for m, ok in zip(members, live) if ok]
    cvl, mode = _cvl_of(online)
    if any(m.limits is not None and m.limits.cvl is None for m in online):
        # One bus voltage for all: while a member has no charge voltage of its own, none is safe.
        cvl = None
    charge = charge_shares(members, live)
    discharge = discharge_shares(members, live)
    ccl, ccl_reason = _current_limit(members, charge, lambda lim: lim.ccl, lambda lim: lim.charge_limitation)
    dcl, dcl_reason = _current_limit(members, discharge, lambda lim: lim.dcl, lambda lim: lim.discharge_limitation)
    allow_charge = ccl > 0 and any(_allows(m, charge=True) for m in online)
    allow_discharge = dcl > 0 and any(_allows(m, charge=False) for m in online)
    return Limits(cvl, ccl, dcl, allow_charge, allow_discharge, mode, ccl_reason, dcl_reason, False), charge, discharge


def _series_limits(members: Sequence[Member]) -> tuple[Limits, Shares, Shares]:
    charge, discharge = _string_shares(members, True), _string_shares(members, False)
    ccl, ccl_reason = _current_limit(members, charge, lambda lim: lim.ccl, lambda lim: lim.charge_limitation)
    dcl, dcl_reason = _current_limit(members, discharge, lambda lim: lim.dcl, lambda lim: lim.discharge_limitation)
    if charge[0] is None:
        ccl_reason = _open_fets(members, charge=True)
    if discharge[0] is None:
        dcl_reason = _open_fets(members, charge=False)
    cvl, mode = _series_cvl(members)
    allow_charge = ccl > 0 and all(_allows(m, charge=True) for m in members)
    allow_discharge = dcl > 0 and all(_allows(m, charge=False) for m in members)
    return Limits(cvl, ccl, dcl, allow_charge, allow_discharge, mode, ccl_reason, dcl_reason, False), charge, discharge


def _string_shares(members: Sequence[Member], charge: bool) -> Shares:
    """One current through every member: each carries all of it, and one open FET opens the string."""
    if all(conducts(m, charge) for m in members):
        return tuple(1.0 for _ in members)
    return tuple(None for _ in members)


def _open_fets(members: Sequence[Member], *, charge: bool) -> str:
    names = ", ".join(m.name for m in members if not conducts(m, charge))
    return f"{names}: {'charge' if charge else 'discharge'} FET open"


def _series_cvl(members: Sequence[Member]) -> tuple[float | None, str]:
    """The string voltage at which the first member reaches its own CVL with the others where they
    are now; never above the sum of the members' CVLs (the others may rise too)."""
    if any(m.limits is None or m.limits.cvl is None for m in members):
        return None, _cvl_of(members)[1]
    cvls = [m.limits.cvl for m in members]  # type: ignore[union-attr]
    volts = [m.sample.voltage if m.sample is not None else None for m in members]
    ceiling = sum(cvls)  # type: ignore[arg-type]
    if any(v is None for v in volts):
        best, binding = ceiling, min(members, key=lambda m: m.limits.cvl)  # type: ignore[union-attr]
    else:
        total = sum(volts)  # type: ignore[arg-type]
        bounds = [c + total - v for c, v in zip(cvls, volts)]  # type: ignore[operator]
        i = min(range(len(members)), key=bounds.__getitem__)
        best, binding = min(ceiling, bounds[i]), members[i]
    assert binding.limits is not None
    return math.floor(round(best * 1000.0, 6)) / 1000.0, binding.limits.charge_mode


def _fail_safe(
    members: Sequence[Member], spec: GroupSpec, up: int, needed: int
) -> tuple[Limits, Shares, Shares]:
    """Too few members online: no charge; discharge and CVL from every member's own limits, which
    are their own fail-safe ones where they are stale, so each member's grace applies."""
    why = f"Fail-safe: only {up} of {len(members)} packs online (at least {needed} needed)"
    series = spec.wiring == "series"
    discharge = _string_shares(members, False) if series else discharge_shares(members, [True] * len(members))
    dcl, binding = _current_limit(members, discharge, lambda lim: lim.dcl, lambda lim: lim.discharge_limitation)
    if series and discharge[0] is None:
        binding = _open_fets(members, charge=False)
    cvl, mode = _series_cvl(members) if series else _cvl_of(members)
    mode = f"{mode.split(' (')[0]} (fail-safe)"
    limits = Limits(cvl, 0.0, dcl, False, dcl > 0, mode, why, f"{why}; {binding}", True)
    return limits, (None,) * len(members), discharge


# --- The group as one battery ------------------------------------------------------------------


def _known(values: Sequence[float | int | None]) -> list[float]:
    return [float(v) for v in values if v is not None]


def _weighted(members: Sequence[Member], value: Callable[[Sample], float | None]) -> float | None:
    """Capacity-weighted mean of ``value``; the plain mean if a capacity is missing."""
    pairs = [(value(m.sample), m.sample.capacity_full) for m in members if m.sample is not None]
    pairs = [(v, c) for v, c in pairs if v is not None]
    if not pairs:
        return None
    if all(c is not None and c > 0 for _, c in pairs):
        return sum(v * c for v, c in pairs) / sum(c for _, c in pairs)  # type: ignore[operator, misc]
    return sum(v for v, _ in pairs) / len(pairs)


def _sum(values: Sequence[float | None]) -> float | None:
    known = _known(values)
    return sum(known) if known else None


def _any(values: Sequence[bool | None]) -> bool | None:
    known = [v for v in values if v is not None]
    return any(known) if known else None


def _all(values: Sequence[bool | None]) -> bool | None:
    known = [v for v in values if v is not None]
    return all(known) if known else None


def _common(members: Sequence[Member]) -> dict:
    """The fields a group takes the same way whatever its wiring."""
    samples = [m.sample for m in members if m.sample is not None]
    alarms: dict[str, int] = {}
    for s in samples:
        for name, level in s.alarms.items():
            alarms[name] = max(level, alarms.get(name, level))
    temperatures = [t for s in samples for t in (s.temperatures or ())]
    conditions = [(m.name, m.sample.conditions) for m in members if m.sample is not None]
    known = [(name, c) for name, c in conditions if c is not None]
    mosfet = _known([s.mosfet_temperature for s in samples])
    cycles = [s.cycles for s in samples if s.cycles is not None]
    return dict(
        temperatures=temperatures or None,
        mosfet_temperature=max(mosfet) if mosfet else None,
        balancing=_any([s.balancing for s in samples]),
        alarms=alarms,
        conditions=tuple(f"{name}: {c}" for name, cs in known for c in cs) if known else None,
        cycles=max(cycles) if cycles else None,
        device=DeviceInfo(model=GROUP_MODEL),
    )


def _parallel_sample(members: Sequence[Member]) -> Sample:
    samples = [m.sample for m in members if m.sample is not None]
    volts = _known([s.voltage for s in samples])
    return Sample(
        voltage=sum(volts) / len(volts) if volts else None,
        current=_sum([s.current for s in samples]),
        power=_sum([s.power for s in samples]),
        soc=_weighted(members, lambda s: s.soc),
        soh=_weighted(members, lambda s: s.soh),
        capacity_remaining=_sum([s.capacity_remaining for s in samples]),
        capacity_full=_sum([s.capacity_full for s in samples]),
        charge_enabled=_any([s.charge_enabled for s in samples]),
        discharge_enabled=_any([s.discharge_enabled for s in samples]),
        **_common(members),
    )


def _series_sample(members: Sequence[Member]) -> Sample:
    samples = [m.sample for m in members if m.sample is not None]
    volts = [s.voltage for s in samples]
    currents = _known([s.current for s in samples])
    # The weakest member empties (and fills) the string: its capacity and SoC are the string's.
    weakest = min(samples, key=lambda s: (s.capacity_remaining is None, s.capacity_remaining or 0.0))
    socs, sohs = _known([s.soc for s in samples]), _known([s.soh for s in samples])
    fulls = _known([s.capacity_full for s in samples])
    return Sample(
        voltage=sum(volts) if all(v is not None for v in volts) else None,  # type: ignore[arg-type]
        current=sum(currents) / len(currents) if currents else None,
        soc=min(socs) if socs else None,
        soh=min(sohs) if sohs else None,
        capacity_remaining=weakest.capacity_remaining,
        capacity_full=min(fulls) if fulls else None,
        charge_enabled=_all([s.charge_enabled for s in samples]),
        discharge_enabled=_all([s.discharge_enabled for s in samples]),
        **_common(members),
    )


def _extreme_cell(members: Sequence[Member], pick: Callable) -> tuple[float, str] | None:
    """The lowest (``pick`` min) or highest cell of ``members``, named "<alias> C<n>"; the first
    member and cell of equals."""
    best: tuple[float, Member, list[float]] | None = None
    for m in members:
        cells = m.sample.cell_voltages if m.sample is not None else None
        if cells:
            v = pick(cells)
            if best is None or (v != best[0] and pick(v, best[0]) == v):
                best = (v, m, cells)
    if best is None:
        return None
    v, m, cells = best
    return v, f"{m.name} C{cells.index(v) + 1}"
