"""The daemon: one asyncio loop polls every configured battery and publishes each on D-Bus.

This is the only place that reads the clocks; charge control and codecs get ``now`` from here
(the event loop's monotonic clock), the charge store the wall clock for the dates it keeps.

Three promises are kept here, whatever a link, a BMS or our own code does:
- a watchdog of its own, not the polls, ages the last reading: a poll that hangs cannot hold a
  limit up past ``stale_after``. It is a timer per battery, set after every reading to the moment
  something would be due (the bound, a refresh of the link text): while polls return, each reading
  moves it on and it never fires, so a healthy battery costs no wake-up of its own;
- one battery's fault is that battery's: an exception anywhere in its cycle is logged and puts
  that battery, and only it, in its fail-safe;
- losing the bus ends the process with a non-zero status, so daemontools starts it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

from dbus_fast.aio import MessageBus

from . import __version__, history, soc_counter
from .bms_settings_store import BmsSettingsStore, settings_path
from .charge.ceilings import exceeded
from .charge.limits import step
from .charge.state import Mode
from .charge.store import ChargeStore
from .charge.types import Limits
from .config import BatteryConfig, Config
from .devices.base import SWITCHES, ControlFailed, Device, DeviceError, RejectedReading
from .devices.registry import create_device
from .history_store import DEFAULT_INTERVAL, HistoryStore
from .model import BmsSettings, Sample
from .soc_store import SocStore
from .victron.battery_service import BatteryService
from .victron.connection import connect
from .victron.control_paths import SWITCH_PATHS

log = logging.getLogger("dbus_bms")

PROCESS_NAME = "dbus-bms"

# While a battery is in its fail-safe, the watchdog looks at it this often (the fail-safe's grace
# timeline, the age in the link text).
WATCHDOG_TICK = 0.5
# A poll this much overdue (one that hangs) makes the watchdog publish the link text again, and then
# every WATCHDOG_TICK, so the age it shows stays true within a poll interval and this.
LINK_TEXT_REFRESH = 1.0
# The watchdog looks this long after the bound has passed, so the reading is past it when it looks.
_PAST = 0.01
# Teardown calls into a device or the bus that may never return (a bluetoothd that stopped
# answering) are cut after this long: a stop must end, and a lost bus must end the process in 2 s.
CLOSE_TIMEOUT = 1.0
# A service whose start failed (its name taken by another process, localsettings refusing) is
# tried again after this long.
START_RETRY = 30.0
_SWITCH_PATH = {which: path for path, which in SWITCH_PATHS.items()}


class BusLost(Exception):
    """A D-Bus connection closed under us: the process must end and be started again."""


class Battery:
    """One configured battery: its device, its charge state and, once the BMS answered, its service."""

    def __init__(
        self, cfg: BatteryConfig, device: Device, bus: MessageBus | None, state_dir: Path, *, settings_wait: float,
        claims: dict[str, str], properties_changed: bool = False, history_interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self.cfg = cfg
        self.device = device
        self.bus = bus
        self.state_dir = state_dir
        self.settings_wait = settings_wait
        self.properties_changed = properties_changed
        # unique id → alias, shared by all batteries of the process: two batteries must never
        # share one localsettings entry and device instance.
        self.claims = claims
        self.store = ChargeStore(state_dir / f"charge-{cfg.alias}.json")
        self.charge_state = self.store.load(time.time())
        self.history_store = HistoryStore(state_dir / f"history-{cfg.alias}.json", history_interval)
        self.history = self.history_store.load()
        self.soc_store = SocStore(state_dir / f"soc-{cfg.alias}.json", history_interval)
        self.soc = self.soc_store.load() if cfg.soc_counting else soc_counter.SocCount()
        if not cfg.soc_counting:
            self.soc_store.forget()
        # What the SoC count and the full cycles go by (soc_counter.capacity_of), Ah; None: never reported.
        self.capacity: float | None = None
        self._no_capacity_logged = False
        self.bms_store = BmsSettingsStore(settings_path(state_dir, cfg.alias))
        self._bms_seen: BmsSettings | None = None
        self.service: BatteryService | None = None
        self.limits: Limits | None = None
        self.published_at = float("-inf")
        # Why the last reading is not to be trusted whatever its age (another BMS, frozen data,
        # an internal error); None while readings are trusted.
        self.distrust: str | None = None
        self.refused = False
        self._starting: asyncio.Task | None = None
        self._start_failed_at = float("-inf")
        self._problem: str | None = None
        self._stale_logged = False
        self._reopens = 0
        self._watch_timer: asyncio.TimerHandle | None = None
        self._stopping = False
        # Set for a member of a group: it registers no service; its readings, limits and link text
        # reach the group through this, which publishes them.
        self.group_notify: Callable[[str], None] | None = None
        self._claimed = False

    @property
    def name(self) -> str:
        return self.cfg.alias

    async def run(self, interval: float) -> None:
        """Poll every ``interval`` s, the first time at once."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while not self.refused:
            await self.poll(loop.time)
            next_tick += interval
            delay = next_tick - loop.time()
            if delay < 0:  # a poll overran the interval: skip ticks rather than burst
                next_tick = loop.time()
                delay = 0
            await asyncio.sleep(delay)

    async def poll(self, clock: Callable[[], float]) -> None:
        """Poll once, then judge, compute and publish; nothing raised here leaves the battery."""
        sample: Sample | None = None
        try:
            sample = await self.device.poll()
        except RejectedReading as exc:
            self._spell(f"reading refused ({exc.kind})", f"reading refused: {exc}", logging.WARNING)
            if exc.expire:
                self.distrust = str(exc)
        except DeviceError as exc:
            self._spell("no reading", f"no reading from the BMS ({exc})", logging.WARNING)
        except Exception:  # noqa: BLE001 - a bug on the read side must not freeze the published limits
            self._spell("internal error", "reading the BMS failed unexpectedly", logging.ERROR, trace=True)
            self.device.stats.record(False, "internal error")
            self.distrust = "internal error while reading the BMS"
        else:
            self.distrust = None
        self.apply(sample, clock())

    def apply(self, sample: Sample | None, now: float) -> None:
        """Charge control and publishing for one reading (or none); an exception here is logged
        once and leaves this battery in its fail-safe, never the loop."""
        try:
            self._apply(sample, now)
        except Exception:  # noqa: BLE001 - isolation: see the module docstring
            self._spell("internal error", "charge control or publishing failed", logging.ERROR, trace=True)
            self.distrust = "internal error in charge control"
            self._publish_fail_safe(now)
        finally:
            self._arm_watch(now)

    def _apply(self, sample: Sample | None, now: float) -> None:
        since_full = self.charge_state.since_full
        limits, self.charge_state = step(sample, self.charge_state, self.cfg.charge, now, distrust=self.distrust)
        self.limits = limits
        self.store.save(self.charge_state, time.time())
        if sample is not None:
            self._answered(now)
            if self.distrust is None:
                self._record(sample, now, soc_counter.reached_full(since_full, self.charge_state.since_full))
                if sample.bms_settings is not None and sample.bms_settings != self._bms_seen:
                    self._bms_settings_read(sample.bms_settings)
        last = self.charge_state.last
        if last is None or self.refused:
            return
        if not self._published:
            self._start_service(last, now)
            return
        if self.group_notify is not None and not self._claimed and not self._claim(last, "the group would count "
                                                                                   "one pack twice"):
            return
        self._publish(last, limits, now)

    @property
    def _published(self) -> bool:
        """Its readings go out: on its own service, or, for a group's member, on the group's; a
        refused battery's never do, and its watchdog has nothing to watch."""
        return not self.refused and (self.service is not None or self.group_notify is not None)

    def _record(self, sample: Sample, now: float, full: bool) -> None:
        """The history and the SoC count take in a reading charge control took in; ``full``: charge
        control declared the pack full at it."""
        stale_after, wall = self.cfg.charge.stale_after, time.time()
        self.history = history.update(self.history, sample, now, stale_after=stale_after,
                                      cells_held=self.charge_state.held)
        self.history_store.save(self.history, wall)
        self.capacity = soc_counter.capacity_of(sample, self._bms_seen) or self.capacity
        if not self.cfg.soc_counting:
            return
        if self.capacity is None and not self._no_capacity_logged:
            log.warning("%s: soc_counting: the BMS reports no capacity (full or nominal) to count against; "
                        "/Soc stays the BMS's own", self.name)
            self._no_capacity_logged = True
        self.soc = soc_counter.count(self.soc, sample, now, capacity=self.capacity, efficiency=self.cfg.soc_efficiency,
                                     stale_after=stale_after, full=full)
        self.soc_store.save(self.soc, wall)

    def _bms_settings_read(self, settings: BmsSettings) -> None:
        """Said once per change of the BMS's settings: where the config goes beyond them, charge
        control keeps to the BMS's, and check-config can tell from the saved copy."""
        self._bms_seen = settings
        for problem in exceeded(self.cfg.charge, settings):
            log.warning("%s: %s", self.name, problem)
        self.bms_store.save(settings)

    def _publish(self, last: Sample, limits: Limits, now: float) -> None:
        if self.group_notify is not None:
            self.group_notify(self._link_text(now))
            self.published_at = now
            return
        assert self.service is not None
        counting = self.cfg.soc_counting
        self.service.publish(soc_counter.published(last, self.soc) if counting else last, limits,
                             connection_text=self._link_text(now), link_quality=self.device.stats.quality,
                             history=self.history, since_full=self.charge_state.since_full,
                             absorption=self.charge_state.absorption_elapsed
                             if self.charge_state.mode is Mode.ABSORPTION else None,
                             cycles=history.full_cycles(self.history, self.capacity),
                             bms_soc=last.soc if counting else None)
        self.published_at = now

    def _publish_fail_safe(self, now: float) -> None:
        """After charge control itself failed: the fail-safe of step if it can still be computed,
        else no charging and discharge at most at the fail-safe current."""
        if not self._published or self.charge_state.last is None:
            return
        try:
            limits, self.charge_state = step(None, self.charge_state, self.cfg.charge, now, distrust=self.distrust)
        except Exception:  # noqa: BLE001 - the last resort below needs nothing that failed
            dcl = min(self.limits.dcl or 0.0, self.cfg.charge.failsafe_discharge_current) if self.limits else 0.0
            why = f"Fail-safe: {self.distrust}"
            cvl = self.limits.cvl if self.limits else None
            limits = Limits(cvl, 0.0, dcl, False, dcl > 0, "Fail-safe", why, why, True)
        self.limits = limits
        with contextlib.suppress(Exception):
            self._publish(self.charge_state.last, limits, now)

    def watch(self, now: float) -> None:
        """The watchdog's look at this battery, independent of its polls."""
        if not self._published or self.charge_state.last_time is None:
            return
        stale = now - self.charge_state.last_time > self.cfg.charge.stale_after
        if stale and not self._stale_logged:
            log.warning("%s: no reading for over %g s: fail-safe (%s)", self.name, self.cfg.charge.stale_after,
                        self._link_text(now))
            self._stale_logged = True
        if stale or self.distrust is not None:
            self.apply(None, now)
        elif now - self.published_at >= self._refresh_after and self.limits is not None:
            with contextlib.suppress(Exception):
                self._publish(self.charge_state.last, self.limits, now)

    @property
    def _refresh_after(self) -> float:
        return self.cfg.poll_interval + LINK_TEXT_REFRESH

    def next_watch(self, now: float) -> float | None:
        """When the watchdog must look at this battery next (loop time), None while there is nothing
        to watch (no service yet, no reading yet)."""
        last = self.charge_state.last_time
        if not self._published or last is None:
            return None
        stale_at = last + self.cfg.charge.stale_after
        if now > stale_at or self.distrust is not None:
            return now + WATCHDOG_TICK
        refresh_at = self.published_at + self._refresh_after
        return min(stale_at + _PAST, max(refresh_at, now + WATCHDOG_TICK))

    def _arm_watch(self, now: float) -> None:
        if self._watch_timer is not None:
            self._watch_timer.cancel()
            self._watch_timer = None
        due = None if self._stopping else self.next_watch(now)
        if due is not None:
            self._watch_timer = asyncio.get_running_loop().call_at(due, self._on_watch)

    def _on_watch(self) -> None:
        self._watch_timer = None
        now = asyncio.get_running_loop().time()
        try:
            self.watch(now)
        except Exception:  # noqa: BLE001 - the watchdog must keep watching whatever went wrong
            log.exception("%s: the watchdog's look failed", self.name)
        finally:
            if self._watch_timer is None:
                self._arm_watch(now)

    def _answered(self, now: float) -> None:
        reopens = self.device.stats.reopens
        if self._problem is not None:
            # A drop that a poll saw first is still a link made again: said whichever came first.
            again = ", link made again" if reopens != self._reopens else ""
            log.info("%s: BMS answers again%s (%s)", self.name, again, self._link_text(now))
        elif reopens != self._reopens:
            log.info("%s: link made again (%s)", self.name, self._link_text(now))
        self._reopens = reopens
        self._problem = None
        self._stale_logged = False

    def _spell(self, key: str, message: str, level: int, *, trace: bool = False) -> None:
        """Logs a problem once per spell: again only when the kind of problem changes."""
        if key != self._problem:
            log.log(level, "%s: %s", self.name, message, exc_info=trace)
        self._problem = key

    def unique_id(self, first: Sample) -> str:
        serial = first.device.serial if first.device else None
        return f"{self.device.type_name}_{serial}" if serial else self.device.fallback_id

    def _claim(self, first: Sample, why: str) -> str | None:
        """The unique id of this battery's BMS, taken for it; None, said and the battery refused, when
        another battery of the process already has it (``why``: what sharing it would do)."""
        unique_id = self.unique_id(first)
        other = self.claims.get(unique_id)
        if other is not None and other != self.name:
            log.error(
                "%s: refused: its BMS has the unique id %s, which battery %s already has; %s. Give one BMS "
                "another id (for a JK: the device name or user data in the JK app), then restart",
                self.name, unique_id, other, why,
            )
            self.refused = True
            return None
        self.claims[unique_id] = self.name
        self._claimed = True
        return unique_id

    def _start_service(self, first: Sample, now: float) -> None:
        if self._starting is not None or now - self._start_failed_at < START_RETRY:
            return
        unique_id = self._claim(first, "two batteries would share one device instance and one name on the GX")
        if unique_id is None:
            return
        # The start waits for localsettings; polling and the watchdog go on meanwhile.
        self._starting = asyncio.get_running_loop().create_task(self._register(first, unique_id))

    async def _register(self, first: Sample, unique_id: str) -> None:
        assert self.bus is not None, "a group member registers no service"
        service = BatteryService(
            self.bus,
            unique_id=unique_id,
            service_suffix=self.cfg.alias,
            product_name=self.device.product_name(first),
            process_name=PROCESS_NAME,
            connection=self.device.connection,
            device_instance_fallback=self.cfg.device_instance,
            state_dir=self.state_dir,
            cell_count=len(first.cell_voltages) if first.cell_voltages else None,
            settings_wait=self.settings_wait,
            cell_min_voltage=self.cfg.charge.cell_min_voltage,
            properties_changed=self.properties_changed,
            switcher=self.switch,
            has_settings=self.cfg.control and any(self.device.can_switch(which) for which in SWITCHES),
        )
        loop = asyncio.get_running_loop()
        try:
            await service.start()
        except Exception:  # noqa: BLE001 - a battery whose start failed is tried again later
            log.exception("%s: could not register its service; trying again in %g s", self.name, START_RETRY)
            self._start_failed_at = loop.time()
            del self.claims[unique_id]
            return
        finally:
            self._starting = None
        self.service = service
        log.info("%s: published as %s (unique id %s)", self.name, service.name, unique_id)
        last = self.charge_state.last
        if last is not None and self.limits is not None:
            with contextlib.suppress(Exception):
                self._publish(last, self.limits, loop.time())
        self._arm_watch(loop.time())

    async def switch(self, which: str, on: bool) -> bool:
        """A write to a control path. Refused, and said why, while control is off or the BMS cannot
        switch ``which``: then nothing is sent. Else the device switches and reads the BMS back, and
        that reading is taken in and published (AllowToCharge, CCL and the rest follow it) before
        the answer: True once the BMS shows the switch as asked."""
        asked = f"{_SWITCH_PATH[which]} = {int(not on)}"
        if not self.cfg.control:
            log.warning("%s: %s refused: control is off: set `control: true` in the config to switch the BMS from "
                        "the GX", self.name, asked)
            return False
        if not self.device.can_switch(which):
            log.warning("%s: %s refused: this BMS (%s) cannot switch its %s from the GX", self.name, asked,
                        self.device.type_name, which)
            return False
        try:
            sample = await self.device.switch(which, on)
        except ControlFailed as exc:
            log.warning("%s: %s not done: %s", self.name, asked, exc)
            self.distrust = None
            self.apply(exc.sample, asyncio.get_running_loop().time())
            return False
        except DeviceError as exc:
            log.warning("%s: %s not done: %s", self.name, asked, exc)
            return False
        self.distrust = None
        self.apply(sample, asyncio.get_running_loop().time())
        log.info("%s: %s: the BMS switched its %s %s", self.name, asked, which, "on" if on else "off")
        return True

    def _link_text(self, now: float) -> str:
        """The link-health record: success over recent polls, age of the last reading, counters."""
        s = self.device.stats
        quality = s.quality
        ratio = f"{quality:.0%}" if quality is not None else "-"
        at = self.charge_state.last_time
        age = f"{now - at:.0f} s ago" if at is not None else "never"
        # The GX's device page shows this text: while polls fail it must say so first, not "ok 20%".
        failing = f"FAILING ({s.last_error}), " if s.recent and not s.recent[-1] else ""
        return (
            f"{self.device.connection} {failing}ok {ratio}, last reading {age}, reconnects {s.reopens}, "
            f"bad frames {s.bad_frames}, timeouts {s.timeouts}, junk bytes {s.discarded_bytes}"
        )

    def hold_for_stop(self, now: float) -> bool:
        """Publishes no charging, discharge as it was, for the stop; False when nothing is published."""
        if self._starting is not None:
            self._starting.cancel()  # a service that would register now would publish normal limits
        self._stop_watching()
        if self.service is None or self.limits is None or self.charge_state.last is None:
            return False
        why = "dbus-bms is stopping"
        limits = dataclasses.replace(self.limits, ccl=0.0, allow_charge=False, charge_limitation=why)
        with contextlib.suppress(Exception):
            self._publish(self.charge_state.last, limits, now)
        return True

    def _stop_watching(self) -> None:
        self._stopping = True
        if self._watch_timer is not None:
            self._watch_timer.cancel()
            self._watch_timer = None

    async def close(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
        self._stop_watching()
        self.store.flush(time.time())
        self.history_store.flush(time.time())
        self.soc_store.flush(time.time())
        closing = [self.device.close()]
        if self.service is not None:
            closing.append(self.service.stop())
        # Side by side, each bounded: after a lost bus the process must be gone within 2 s.
        results = await asyncio.gather(*(asyncio.wait_for(c, CLOSE_TIMEOUT) for c in closing), return_exceptions=True)
        for exc in results:
            if isinstance(exc, BaseException):
                log.warning("%s: closing did not finish cleanly (%s)", self.name, exc or type(exc).__name__)
        if self.bus is not None:
            self.bus.disconnect()


async def run(config: Config, *, stop: asyncio.Event | None = None) -> None:
    """Run every battery of ``config`` until ``stop`` is set or SIGINT/SIGTERM arrives.

    Raises BusLost when a D-Bus connection closes under us.
    """
    stop = stop or asyncio.Event()
    again = asyncio.Event()  # a second signal during the stop hold ends the wait
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        (again if stop.is_set() else stop).set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    state_dir = Path(config.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    claims: dict[str, str] = {}
    # One connection per service, as Victron's own drivers do: consumers tell services apart by
    # the sender of a signal, and services sharing a connection would share one sender.
    # A group's members register no service of their own, so they need no connection.
    members = {alias for g in config.groups for alias in g.members}
    batteries = [
        Battery(b, create_device(b, state_dir=state_dir), None if b.alias in members else await connect(), state_dir,
                settings_wait=config.settings_wait, claims=claims, properties_changed=config.properties_changed,
                history_interval=config.history_interval)
        for b in config.batteries
    ]
    by_alias = {b.name: b for b in batteries}
    if config.groups:
        # Only a config with groups pays for their code.
        from .group_battery import GroupBattery
    groups = [
        GroupBattery(g, [by_alias[alias] for alias in g.members], await connect(), state_dir,
                     settings_wait=config.settings_wait, claims=claims, process_name=PROCESS_NAME,
                     properties_changed=config.properties_changed, history_interval=config.history_interval)
        for g in config.groups
    ]
    log.info("dbus-bms %s: %d batter%s", __version__, len(batteries), "y" if len(batteries) == 1 else "ies")
    # All batteries poll on the same tick: the loop wakes once for all of them, which costs less
    # CPU than a wake-up per battery (measured: 0.27 against 0.62 ms per update with 16 batteries).
    tasks = [asyncio.create_task(b.run(b.cfg.poll_interval), name=f"battery {b.name}") for b in batteries]
    waiter = asyncio.create_task(stop.wait())
    lost = {asyncio.ensure_future(b.bus.wait_for_disconnect()): b for b in (*batteries, *groups) if b.bus is not None}
    done, _ = await asyncio.wait([waiter, *lost], return_when=asyncio.FIRST_COMPLETED)
    # A cancelled poll stops before it publishes anything; unwinding it can take a while (a BLE
    # step waits a bounded time for a silent bluetoothd), so the stop does not wait for that first.
    for task in tasks:
        task.cancel()
    gone = [lost[f] for f in done if f in lost]
    for f in done:
        if f in lost and not f.cancelled():
            f.exception()  # the reason is logged by dbus-fast; taking it keeps asyncio quiet
    if gone:
        log.error("%s: the D-Bus connection closed; exiting so that the service is started again", gone[0].name)
    else:
        now = loop.time()
        holding = [b for b in (*batteries, *groups) if b.hold_for_stop(now)]
        if holding and config.stop_hold > 0:
            log.info("stopping: CCL 0 published, leaving the bus in %g s", config.stop_hold)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(config.stop_hold):
                    await again.wait()
    await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
    for f in (waiter, *lost):
        f.cancel()
    await asyncio.gather(*(b.close() for b in (*batteries, *groups)), return_exceptions=True)
    if gone:
        raise BusLost(gone[0].name)
