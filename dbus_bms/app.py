"""The daemon: one asyncio loop polls every configured battery and publishes each on D-Bus.

This is the only place that reads the clocks; charge control and codecs get ``now`` from here
(the event loop's monotonic clock), the charge store the wall clock for the dates it keeps.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

from dbus_fast.aio import MessageBus

from . import __version__
from .charge.limits import step
from .charge.store import ChargeStore
from .config import BatteryConfig, Config
from .devices.base import Device, DeviceError
from .devices.registry import create_device
from .model import Sample
from .victron.battery_service import BatteryService
from .victron.connection import connect

log = logging.getLogger("dbus_bms")

PROCESS_NAME = "dbus-bms"


class Battery:
    """One configured battery: its device, its charge state and, once the BMS answered, its service."""

    def __init__(self, cfg: BatteryConfig, device: Device, bus: MessageBus, state_dir: Path) -> None:
        self.cfg = cfg
        self.device = device
        self.bus = bus
        self.state_dir = state_dir
        self.store = ChargeStore(state_dir / f"charge-{cfg.alias}.json")
        self.charge_state = self.store.load(time.time())
        self.service: BatteryService | None = None
        self._failing = False
        self._reopens = 0

    @property
    def name(self) -> str:
        return self.cfg.alias

    async def run(self, interval: float) -> None:
        """Poll every ``interval`` s, the first time at once."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            await self.cycle(loop.time)
            next_tick += interval
            delay = next_tick - loop.time()
            if delay < 0:  # a poll overran the interval: skip ticks rather than burst
                next_tick = loop.time()
                delay = 0
            await asyncio.sleep(delay)

    async def cycle(self, clock: Callable[[], float]) -> None:
        """Poll once, compute the limits, publish."""
        sample: Sample | None = None
        try:
            sample = await self.device.poll()
        except DeviceError as exc:
            if not self._failing:
                log.warning("%s: no reading from the BMS (%s)", self.name, exc)
            self._failing = True
        except Exception:
            # A bug on the read side must not freeze the published limits: the cycle goes on
            # without a sample, so the fail-safe takes over as for a silent BMS.
            if not self._failing:
                log.exception("%s: reading the BMS failed unexpectedly", self.name)
            self.device.stats.record(False, "internal error")
            self._failing = True
        now = clock()
        # The charge state keeps the last good sample and its time: what is published and what
        # the link text ages.
        limits, self.charge_state = step(sample, self.charge_state, self.cfg.charge, now)
        self.store.save(self.charge_state, time.time())
        if sample is not None:
            reopens = self.device.stats.reopens
            if self._failing:
                log.info("%s: BMS answers again (%s)", self.name, self._link_text(now))
            elif reopens != self._reopens:
                log.info("%s: link made again (%s)", self.name, self._link_text(now))
            self._reopens = reopens
            self._failing = False
        last = self.charge_state.last
        if last is None:
            return
        if self.service is None:
            await self._start_service(last)
        assert self.service is not None
        self.service.publish(
            last,
            limits,
            connection_text=self._link_text(now),
            link_quality=self.device.stats.quality,
        )

    async def _start_service(self, first: Sample) -> None:
        serial = first.device.serial if first.device else None
        unique_id = f"{self.device.type_name}_{serial}" if serial else self.device.fallback_id
        self.service = BatteryService(
            self.bus,
            unique_id=unique_id,
            service_suffix=self.cfg.alias,
            product_name=self.device.product_name(first),
            process_name=PROCESS_NAME,
            connection=self.device.connection,
            device_instance_fallback=self.cfg.device_instance,
            state_dir=self.state_dir,
            cell_count=len(first.cell_voltages) if first.cell_voltages else None,
        )
        await self.service.start()
        log.info("%s: published as com.victronenergy.battery.%s (unique id %s)", self.name, self.cfg.alias, unique_id)

    def _link_text(self, now: float) -> str:
        """The link-health record: success over recent polls, age of the last reading, counters."""
        s = self.device.stats
        quality = s.quality
        ratio = f"{quality:.0%}" if quality is not None else "-"
        at = self.charge_state.last_time
        age = f"{now - at:.0f} s ago" if at is not None else "never"
        return (
            f"{self.device.connection} ok {ratio}, last reading {age}, reconnects {s.reopens}, "
            f"bad frames {s.bad_frames}, timeouts {s.timeouts}, junk bytes {s.discarded_bytes}"
        )

    async def close(self) -> None:
        if self.service is not None:
            await self.service.stop()
        await self.device.close()
        self.bus.disconnect()


async def run(config: Config, *, stop: asyncio.Event | None = None) -> None:
    """Run every battery of ``config`` until ``stop`` is set or SIGINT/SIGTERM arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    state_dir = Path(config.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    # One connection per service, as Victron's own drivers do: consumers tell services apart by
    # the sender of a signal, and services sharing a connection would share one sender.
    batteries = [Battery(b, create_device(b), await connect(), state_dir) for b in config.batteries]
    log.info("dbus-bms %s: %d batter%s", __version__, len(batteries), "y" if len(batteries) == 1 else "ies")
    # All batteries poll on the same tick: the loop wakes once for all of them, which costs less
    # CPU than a wake-up per battery (measured: 0.27 against 0.62 ms per update with 16 batteries).
    tasks = [asyncio.create_task(b.run(b.cfg.poll_interval), name=f"battery {b.name}") for b in batteries]
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    waiter.cancel()
    for b in batteries:
        await b.close()
    for task in done:
        if task is not waiter and task.exception() is not None:
            raise task.exception()

