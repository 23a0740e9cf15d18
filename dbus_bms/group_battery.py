"""A group: several configured batteries published as one ``com.victronenergy.battery`` service.

Each member keeps its own poll, judge, watchdog, charge control and history, but registers no
service: a battery service on the bus is a candidate for the GX's battery monitor and, with charge
limits, for the BMS DVCC follows, and either could pick one pack of a bank instead of the bank. The
members tell the group after each of their updates; the group combines them (``group.combine``)
shortly after the first (``GATHER``), once for every member that updated meanwhile, and publishes the
result with each member under ``/Packs/<k>/`` (``victron.group_paths``). Its own history is kept from
the combined readings.

The group switches nothing: a member's FETs are switched, if at all, on the BMS itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from dbus_fast.aio import MessageBus

from . import history, soc_counter
from .charge.state import ChargeState
from .charge.types import Limits
from .config import BatteryConfig, GroupConfig
from .devices.base import Device
from .group.combine import GroupReading, GroupSpec, Member, combine
from .history_store import DEFAULT_INTERVAL, HistoryStore
from .model import Sample
from .victron import group_paths
from .victron.battery_service import BatteryService

log = logging.getLogger("dbus_bms")

# As a battery's: a group service whose start failed is tried again after this long (s).
START_RETRY = 30.0
CLOSE_TIMEOUT = 1.0
# The members poll on one tick, but their replies come in a few ms apart, each in a turn of the loop of
# its own: the group is combined this long (s) after the first member's update, once for all of them.
# A limit a member cuts reaches the group this much later, far inside the 3 s at which DVCC passes it on.
GATHER = 0.05


class MemberBattery(Protocol):
    """What a group needs of one of its members (``app.Battery``)."""

    cfg: BatteryConfig
    device: Device
    charge_state: ChargeState
    limits: Limits | None
    soc: soc_counter.SocCount
    group_notify: Callable[[str], None] | None
    refused: bool

    @property
    def name(self) -> str: ...


def member_reading(b: MemberBattery) -> Sample | None:
    """The member's last reading as its own service would show it: with its counted SoC where it counts."""
    last = b.charge_state.last
    return soc_counter.published(last, b.soc) if last is not None and b.cfg.soc_counting else last


def member_online(b: MemberBattery) -> bool:
    """A member with a reading and fresh limits of its own, not in its own fail-safe, and not
    refused (its BMS is one another battery of this process reads)."""
    return not b.refused and b.charge_state.last is not None and b.limits is not None and not b.limits.stale


class GroupBattery:
    """One configured group, its members' updates combined and published on its own connection."""

    def __init__(
        self, cfg: GroupConfig, members: Sequence[MemberBattery], bus: MessageBus, state_dir: Path, *,
        settings_wait: float, claims: dict[str, str], process_name: str, properties_changed: bool = False,
        history_interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self.cfg = cfg
        self.members = list(members)
        self.bus = bus
        self.state_dir = state_dir
        self.settings_wait = settings_wait
        self.claims = claims
        self.process_name = process_name
        self.properties_changed = properties_changed
        self.spec = GroupSpec(cfg.wiring, cfg.min_members)
        self.unique_id = f"group_{cfg.alias}"
        self.history_store = HistoryStore(state_dir / f"history-{cfg.alias}.json", history_interval)
        self.history = self.history_store.load()
        self.service: BatteryService | None = None
        self.reading: GroupReading | None = None
        self._links = [b.device.connection for b in self.members]
        # The cell paths each member has on the service so far.
        self._cells = [0] * len(self.members)
        # When the newest member reading the history took in came.
        self._recorded_at: float | None = None
        self._pending: asyncio.TimerHandle | None = None
        self._starting: asyncio.Task | None = None
        self._start_failed_at = float("-inf")
        self._failing = False
        # What the log last said of the group: "", "online" or "fail-safe".
        self._said = ""
        self._stopping = False
        for k, b in enumerate(self.members):
            b.group_notify = self._notifier(k)
            if b.cfg.control:
                log.warning("%s: control is on, but as a member of group %s it has no control paths: its FETs are "
                            "not switched from the GX", b.name, self.name)

    @property
    def name(self) -> str:
        return self.cfg.alias

    def _notifier(self, k: int) -> Callable[[str], None]:
        def changed(link_text: str) -> None:
            self._links[k] = link_text
            if self._pending is None and not self._stopping:
                self._pending = asyncio.get_running_loop().call_later(GATHER, self._update)

        return changed

    def _update(self) -> None:
        self._pending = None
        now = asyncio.get_running_loop().time()
        try:
            self._combine(now)
        except Exception:  # noqa: BLE001 - a bug here must not freeze the group's limits nor stop the loop
            if not self._failing:
                log.exception("%s: combining or publishing the group failed: fail-safe", self.name)
            self._failing = True
            self._publish_fail_safe()
        else:
            if self._failing:
                log.info("%s: the group is combined and published again", self.name)
            self._failing = False

    def _combine(self, now: float) -> None:
        members = [Member(b.name, member_reading(b), b.limits, member_online(b)) for b in self.members]
        reading = combine(members, self.spec)
        # Said when the group leaves or regains being online, not while the members' first readings
        # come in one by one at the start.
        if reading.limits.stale and self._said == "online":
            log.warning("%s: %s", self.name, reading.limits.charge_limitation)
            self._said = "fail-safe"
        elif not reading.limits.stale and self._said != "online":
            if self._said:
                log.info("%s: %d of %d packs online: the group is online again", self.name, reading.online,
                         len(members))
            self._said = "online"
        self.reading = reading
        if reading.sample is None:
            return
        self._record(reading)
        if self.service is None:
            self._start_service(now)
            return
        self._publish(reading, reading.limits)

    def _record(self, reading: GroupReading) -> None:
        """The history takes in the group as one battery while it is online, once per new member
        reading, at the time of the newest; after more than the members' shortest ``stale_after``
        without one, nothing is counted for the gap."""
        assert reading.sample is not None
        online = [b for b in self.members if member_online(b)]
        times = [b.charge_state.last_time for b in online if b.charge_state.last_time is not None]
        if reading.limits.stale or not times or max(times) == self._recorded_at:
            return
        self._recorded_at = max(times)
        sample = reading.sample
        if reading.min_cell is not None and reading.max_cell is not None:
            # The group has no cell string of its own; its extremes are its members' lowest and highest cells.
            sample = dataclasses.replace(sample, cell_voltages=[reading.min_cell[0], reading.max_cell[0]])
        self.history = history.update(
            self.history, sample, self._recorded_at, stale_after=min(b.cfg.charge.stale_after for b in self.members),
            cells_held=any(b.charge_state.held for b in online),
        )
        self.history_store.save(self.history, time.time())

    def _packs(self) -> list[group_paths.Pack]:
        packs = []
        for b, link in zip(self.members, self._links):
            last = member_reading(b)
            cells = len(last.cell_voltages) if last is not None and last.cell_voltages else None
            low = round(cells * b.cfg.charge.cell_min_voltage, 2) if cells else None
            packs.append(group_paths.Pack(b.name, last, b.limits, member_online(b), link, low))
        return packs

    def _publish(self, reading: GroupReading, limits: Limits) -> None:
        assert self.service is not None
        packs = self._packs()
        values = group_paths.system_values(reading, packs, self.cfg.wiring)
        for k, pack in enumerate(packs, 1):
            self._add_cells(k, pack.sample)
            values.update(group_paths.pack_values(k, pack, self._cells[k - 1]))
        qualities = [b.device.stats.quality for b in self.members if b.device.stats.quality is not None]
        since = [b.charge_state.since_full for b in self.members]
        self.service.publish(
            reading.sample, limits, connection_text=self._link_text(reading), link_quality=min(qualities, default=None),
            history=self.history, cycles=history.full_cycles(self.history, reading.sample.capacity_full)
            if reading.sample is not None else None,
            # Full once every member has been full: the longest ago of theirs.
            since_full=None if any(s is None for s in since) else max(since),  # type: ignore[type-var]
            extra=values,
        )

    def _add_cells(self, k: int, sample: Sample | None) -> None:
        assert self.service is not None
        have = self._cells[k - 1]
        count = len(sample.cell_voltages) if sample is not None and sample.cell_voltages else 0
        for path in group_paths.cell_paths(k, have + 1, count):
            self.service.tree.add(path)
        self._cells[k - 1] = max(have, count)

    def _link_text(self, reading: GroupReading) -> str:
        offline = [b.name for b in self.members if not member_online(b)]
        text = f"{len(self.members)} packs in {self.cfg.wiring}: {reading.online} online"
        return text + (f", not online: {', '.join(offline)}" if offline else "")

    def _publish_fail_safe(self) -> None:
        """After combining or publishing failed: no charging, discharge at most at the members'
        smallest fail-safe current, the last charge voltage."""
        if self.service is None or self.reading is None:
            return
        last = self.reading.limits
        dcl = min(last.dcl or 0.0, *(b.cfg.charge.failsafe_discharge_current for b in self.members))
        why = "Fail-safe: internal error while combining the group"
        limits = Limits(last.cvl, 0.0, dcl, False, dcl > 0, "Fail-safe", why, why, True)
        self.reading = dataclasses.replace(self.reading, limits=limits)
        with contextlib.suppress(Exception):
            self.service.publish(self.reading.sample, limits, connection_text=why)

    def _start_service(self, now: float) -> None:
        if self._starting is not None or self._stopping or now - self._start_failed_at < START_RETRY:
            return
        # Group aliases are unique and no BMS's id starts so: the claim keeps a battery off the group's entry.
        self.claims[self.unique_id] = self.name
        self._starting = asyncio.get_running_loop().create_task(self._register())

    async def _register(self) -> None:
        count = len(self.members)
        service = BatteryService(
            self.bus,
            unique_id=self.unique_id,
            service_suffix=self.cfg.alias,
            product_name=self.cfg.product_name or f"dbus-bms group of {count} packs",
            process_name=self.process_name,
            connection=f"Group of {', '.join(b.name for b in self.members)} ({self.cfg.wiring})",
            device_instance_fallback=self.cfg.device_instance,
            state_dir=self.state_dir,
            cell_count=None,
            settings_wait=self.settings_wait,
            properties_changed=self.properties_changed,
        )
        # On the tree before the name is taken, so a consumer that reads the service when it appears sees them.
        for path in group_paths.pack_paths(count):
            service.tree.add(path)
        loop = asyncio.get_running_loop()
        try:
            await service.start()
        except Exception:  # noqa: BLE001 - a group whose start failed is tried again later
            log.exception("%s: could not register its service; trying again in %g s", self.name, START_RETRY)
            self._start_failed_at = loop.time()
            del self.claims[self.unique_id]
            return
        finally:
            self._starting = None
        self.service = service
        log.info("%s: group of %s published as %s (unique id %s)", self.name, ", ".join(b.name for b in self.members),
                 service.name, self.unique_id)
        self._update()

    def hold_for_stop(self, now: float) -> bool:
        """Publishes no charging, discharge as it was, for the stop; False when nothing is published."""
        self._stopping = True
        if self._starting is not None:
            self._starting.cancel()
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self.service is None or self.reading is None:
            return False
        why = "dbus-bms is stopping"
        limits = dataclasses.replace(self.reading.limits, ccl=0.0, allow_charge=False, charge_limitation=why)
        with contextlib.suppress(Exception):
            self._publish(self.reading, limits)
        return True

    async def close(self) -> None:
        self._stopping = True
        if self._starting is not None:
            self._starting.cancel()
        if self._pending is not None:
            self._pending.cancel()
        self.history_store.flush(time.time())
        if self.service is not None:
            try:
                await asyncio.wait_for(self.service.stop(), CLOSE_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - after a lost bus the process must still end
                log.warning("%s: closing did not finish cleanly (%s)", self.name, exc or type(exc).__name__)
        self.bus.disconnect()
