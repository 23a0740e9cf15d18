"""A battery whose BMS borrows some of its values from other devices (``borrow:`` in its config).

One poll reads the battery's own BMS and each source side by side and builds one Sample: the
fields a source lends from that source, the rest from the BMS. The merged reading is judged like
any other (``base.Device.poll``), so cells lent by a balancer must still add up to the voltage the
BMS measures. A source's poll that is not done ``SOURCE_GRACE`` after the BMS's (a BLE scan and
connect) goes on in the background and its reading is taken by a later poll: a slow source never
holds the battery's readings back.

A source whose poll fails keeps lending its last reading while that is younger than the battery's
``stale_after`` (as the battery's own last reading stands inside that bound); past it the battery
falls back to the BMS's own values, logged once per spell, without any fail-safe. The exception is a
source of cell voltages for a BMS that has none: there is no fallback, and a poll without fresh cells
from it fails, so the battery's own watchdog ages the last reading that had them and puts the
battery in its fail-safe at ``stale_after`` as for a BMS that stopped answering. A reading without
cells would let charge control hold a charge voltage it derived from cells it no longer sees.

A source of current whose current is large and of the opposite sign to the BMS's lends nothing for
that reading: one of the two is wired the wrong way round, and its SoC counts backwards too.

Each reading says where its values came from (``Sample.sources``, published as ``/Info/Sources``):
``cells: neey-ble 3C:A5:4E:00:00:01; rest: jk-nw``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import Any

from ..model import Sample
from .base import Device, DeviceError

log = logging.getLogger("dbus_bms.devices.borrowing")

# What a source can lend, by the name a config's ``lends:`` uses: the Sample fields it carries.
LENT_FIELDS: dict[str, tuple[str, ...]] = {
    "cells": ("cell_voltages", "cell_balancing", "cell_resistances", "balancing"),
    "current": ("current", "power"),
    "soc": ("soc",),
    "consumed_ah": ("consumed_ah", "capacity_remaining", "capacity_full"),
}
# The switch that goes with a lent value: the balancer switch goes to whoever lends the cells.
LENT_SWITCHES = {"cells": "balance"}
# How long a poll waits for the sources once the BMS has answered. A source's own poll may take far
# longer (a scan and a connect while its link is down): it goes on in the background, and the
# battery publishes meanwhile, with the source's last values inside the bound.
SOURCE_GRACE = 0.5
# How far past the slowest member's own deadline a poll that waits for every source may run.
DEADLINE_MARGIN = 1.0
# A lent current and the BMS's own disagree in sign only when both are above this (A) and each is
# more than this share of the larger: near zero, and while a large load starts, they may differ.
SIGN_CHECK_AMPS = 5.0
SIGN_CHECK_SHARE = 0.2


@dataclass
class Source:
    """One lending device: its config ``name`` (``neey-ble 3C:A5:4E:00:00:01``), what it ``lends``;
    then its last good reading and when it came (event-loop time), whether one came since the last
    merge (``fresh``), its last poll's failure, its poll in flight, and whether it is quiet."""

    device: Device
    name: str
    lends: tuple[str, ...]
    last: Sample | None = None
    last_time: float | None = None
    fresh: bool = False
    error: DeviceError | None = None
    task: asyncio.Task | None = None
    quiet: bool = False
    opposed: bool = False


class BorrowingDevice(Device):
    """``bms`` (named ``bms_name`` where sources are told) with ``sources`` lending it values;
    ``stale_after``: the battery's bound (s)."""

    def __init__(self, bms: Device, bms_name: str, sources: list[Source], *, stale_after: float) -> None:
        super().__init__()
        self.bms = bms
        # One set of counters for the battery: its BMS's link, and the merged readings' verdicts.
        self.stats = bms.stats
        self.bms_name = bms_name
        self.sources = sources
        self.stale_after = stale_after
        self.type_name = bms.type_name
        self.vendor = bms.vendor
        self.forced_protocol = bms.forced_protocol
        self._started: float | None = None
        # After a switch command to a source: the next poll waits for that source's whole poll.
        self._await_sources = False

    @classmethod
    def from_config(cls, cfg: Any) -> BorrowingDevice:
        raise TypeError("a borrowing battery is built by registry.create_device")

    @property
    def connection(self) -> str:
        return self.bms.connection

    @property
    def fallback_id(self) -> str:
        return self.bms.fallback_id

    def product_name(self, sample: Sample) -> str:
        return self.bms.product_name(sample)

    @property
    def deadline(self) -> float:
        """Long enough for every member's whole poll (a poll after a switch waits for the source's);
        an ordinary poll ends SOURCE_GRACE after the BMS's."""
        return max(d.deadline for d in (self.bms, *(s.device for s in self.sources))) + DEADLINE_MARGIN

    def _switcher(self, which: str) -> Source | None:
        for source in self.sources:
            if any(LENT_SWITCHES.get(lent) == which for lent in source.lends) and source.device.can_switch(which):
                return source
        return None

    def can_switch(self, which: str) -> bool:
        source = self._switcher(which)
        return True if source is not None else self.bms.can_switch(which)

    async def send_switch(self, which: str, on: bool) -> None:
        source = self._switcher(which)
        if source is None:
            await self.bms.send_switch(which, on)
            return
        if source.task is not None:
            await asyncio.wait([source.task])
        await source.device.send_switch(which, on)
        self._await_sources = True

    async def _poll_source(self, source: Source) -> None:
        try:
            sample = await source.device.poll()
        except DeviceError as exc:
            source.error = exc
            return
        source.last, source.last_time, source.fresh, source.error = sample, asyncio.get_running_loop().time(), True, None

    async def exchange(self) -> Sample:
        loop = asyncio.get_running_loop()
        if self._started is None:
            self._started = loop.time()
        for source in self.sources:
            if source.task is None or source.task.done():
                source.task = loop.create_task(self._poll_source(source))
        # The BMS's exchange, not its poll: the merged reading is the one judged and counted.
        own = await self.bms.bounded_exchange()
        own.device = self.bms.info.merged(own.device)
        tasks = [s.task for s in self.sources if s.task is not None]
        await asyncio.wait(tasks, timeout=None if self._await_sources else SOURCE_GRACE)
        self._await_sources = False
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # not a DeviceError: a fault of ours, for the battery's cycle to report
        now = loop.time()
        merged = replace(own, alarms=dict(own.alarms), switches=dict(own.switches))
        origin = {lent: self.bms_name for lent in LENT_FIELDS}
        for source in self.sources:
            fresh, source.fresh = source.fresh, False
            lending = self._lending(source, now)
            refused = lending is not None and "current" in source.lends and self._opposed(own, source, lending)
            for lent in source.lends:
                if lent == "cells":
                    self._check_cells(own, source, fresh, lending)
                if lending is None or refused:
                    why = "current of opposite sign" if refused else "silent"
                    origin[lent] = f"{self.bms_name} ({source.name} {why})"
                    continue
                if lent == "consumed_ah" and lending.capacity_full is None:
                    _lend_consumed(merged, lending)
                else:
                    for name in LENT_FIELDS[lent]:
                        setattr(merged, name, getattr(lending, name))
                switch = LENT_SWITCHES.get(lent)
                if switch is not None:
                    merged.switches.pop(switch, None)
                    if switch in lending.switches:
                        merged.switches[switch] = lending.switches[switch]
                origin[lent] = source.name
        merged.sources = _sources_text(origin, self.bms_name)
        return merged

    def _check_cells(self, own: Sample, source: Source, fresh: bool, lending: Sample | None) -> None:
        """Cells lent to a BMS without cells must be new with each reading, or the reading fails;
        the BMS's own cells stand in for the source's only when they are as many."""
        why = f"{source.error}" if source.error is not None else "its poll is still under way"
        if not own.cell_voltages:
            if not fresh:
                raise DeviceError(f"no new cell voltages: they come only from {source.name} ({why}), and "
                                  f"{self.bms_name} has none of its own")
            return
        lent = source.last.cell_voltages if source.last is not None else None
        if lending is None and lent and len(lent) != len(own.cell_voltages):
            raise DeviceError(f"{source.name} is silent ({why}), and the {len(own.cell_voltages)} cells of "
                              f"{self.bms_name} cannot stand in for its {len(lent)}")

    def _opposed(self, own: Sample, source: Source, lending: Sample) -> bool:
        """Whether the source's current and the BMS's are both large and of opposite sign: one of
        them is wired or configured the wrong way round, and the source's values are refused for
        this reading (the spell logged at its start and its end)."""
        ours, theirs = own.current, lending.current
        opposed = (
            ours is not None and theirs is not None and ours * theirs < 0
            and min(abs(ours), abs(theirs)) > max(SIGN_CHECK_AMPS, SIGN_CHECK_SHARE * max(abs(ours), abs(theirs)))
        )
        if opposed and not source.opposed:
            log.warning("%s reports %.1f A where %s measures %.1f A: opposite signs, so %s uses its own values; "
                        "is the shunt or the BMS wired the other way round?", source.name, theirs, self.bms_name,
                        ours, self.bms_name)
        elif source.opposed and not opposed:
            log.info("%s agrees in sign with %s again: its values are lent again", source.name, self.bms_name)
        source.opposed = opposed
        return opposed

    def _lending(self, source: Source, now: float) -> Sample | None:
        """What ``source`` lends this poll: its last reading while that is inside the bound; None
        once it has been quiet past ``stale_after`` (the spell logged at its start and its end)."""
        since = source.last_time if source.last_time is not None else self._started
        assert since is not None
        if source.last is not None and now - since <= self.stale_after:
            if source.quiet:
                log.info("%s answers again: its values are lent again", source.name)
                source.quiet = False
            return source.last
        if not source.quiet and now - since > self.stale_after:
            log.warning("%s silent for over %g s (%s): %s uses its own values", source.name, self.stale_after,
                        source.error or "no answer yet", self.bms_name)
            source.quiet = True
        return None

    async def end_poll(self) -> None:
        await self.bms.end_poll()

    async def abort(self) -> None:
        for device in (self.bms, *(s.device for s in self.sources)):
            await device.abort()

    async def close(self) -> None:
        for source in self.sources:
            if source.task is not None and not source.task.done():
                source.task.cancel()
                await asyncio.wait([source.task])
        for device in (self.bms, *(s.device for s in self.sources)):
            await device.close()


def _lend_consumed(merged: Sample, lending: Sample) -> None:
    """A battery monitor's count of the charge taken out, which knows no capacity: the BMS's full
    capacity stays, and what remains of it is the monitor's count below it (None without it)."""
    merged.consumed_ah = lending.consumed_ah
    if merged.capacity_full is None or lending.consumed_ah is None:
        merged.capacity_remaining = None
    else:
        merged.capacity_remaining = max(0.0, merged.capacity_full + lending.consumed_ah)


def _sources_text(origin: dict[str, str], bms_name: str) -> str:
    """``cells: neey-ble 3C:..; rest: jk-nw``: each lent value whose origin is not the BMS, then the rest."""
    lent = [f"{name}: {where}" for name, where in origin.items() if where != bms_name]
    return "; ".join([*lent, f"rest: {bms_name}"])
