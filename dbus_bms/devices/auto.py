"""``type: auto``: a BMS on a serial port (or gateway) whose family the owner does not know.

A poll without a family probes the families of ``PROBE_ORDER`` one after the other, each through
its own device and codec, at its own baud rate unless the config sets one, with read requests
only. The first family whose reply decodes is the battery's BMS: from then on every poll, switch,
counter and deadline is that family's device's, this one only hands them on. Until then a poll
fails like one of a silent BMS, and ``connection`` says what was tried.

The family found is kept per port in the state directory, so that a restart reads that family at
once, without another family's request on the line; a family that stays silent for the battery's
``stale_after`` is probed for again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .. import statefile
from ..model import DeviceInfo, Sample
from ..transports.link import link_name
from .base import DEADLINE_MARGIN, Device, DeviceError
from .registry import DEVICE_TYPES, create_device

# Why this order cannot upset another BMS:
# - every request a probe sends is a read in its own protocol; nothing is ever written;
# - the bus types are left out (``BUSES``): their packs share a port, each a battery of its own at
#   the address of its DIP switches, which a probe for the one battery of a port cannot guess (a
#   Seplos v2 without an address is the pack at 0, and is probed); and jk-pb's packs send a record
#   only when a Modbus write (FC16) triggers it, which a probe must never send to an unknown BMS;
# - a BMS drops a frame that does not start with its header and pass its checksum, so another
#   family's request is dropped whole, except where it carries a BMS's header byte: JBD's reads
#   (DD A5 ..) carry Daly's A5, ANT's (7E A1 ..) Seplos' '~'. A Daly or a Seplos would take that
#   byte for the start of a frame and could swallow its own next request with the rest, so each is
#   probed before the family whose request carries its header;
# - JK NW's read (4E 57 ..) carries no other family's header: it goes first, the most common
#   family, at the fastest line speed, found with the fewest bytes sent;
# - at another family's baud rate our bytes reach a BMS garbled, as line noise that its header and
#   checksum reject like any other.
PROBE_ORDER = ("jk-nw", "seplos", "daly", "jbd", "ant")
BUSES = tuple(name for name, kind in DEVICE_TYPES.items()
              if kind.link == "serial" and kind.bus and kind.default_address is None)
NOT_PROBED = (f"not probed: {', '.join(BUSES)} (packs on a bus, each a battery at the address its DIP switches set): "
              "give them their type and address")

log = logging.getLogger(__name__)


def cache_path(state_dir: Path, port: str) -> Path:
    """The file that keeps the family found on ``port``: one per port, named after it."""
    return Path(state_dir) / f"auto-{re.sub(r'[^A-Za-z0-9.-]+', '_', port).strip('_')}.json"


class AutoDevice(Device):
    """The BMS on ``port``, whichever family of ``PROBE_ORDER`` it is. ``baudrate`` None: each
    family at its own; ``silence``: how long a found family may stay silent before it is probed
    for again (None: never); ``cache``: the file that keeps the family found (None: none)."""

    vendor_unknown = "unidentified BMS"

    def __init__(self, port: str, *, baudrate: int | None = None, timeout: float = 0.5,
                 silence: float | None = None, cache: Path | None = None) -> None:
        self.found: Device | None = None
        self._info = DeviceInfo()
        super().__init__()
        self.port = port
        self.baudrate = baudrate
        self.timeout = timeout
        self.silence = silence
        self.cache = cache
        # The families the last probe tried, in order; empty before the first probe.
        self.tried: list[str] = []
        self._cached: str | None = self._load_cache()
        self._from_cache = False
        self._answered_at: float | None = None
        self._probing: Device | None = None
        self._quiet_spell = False
        # While no family is found: one device per family, in the order a probe asks them.
        self._candidates: list[Device] = []
        if self._cached is None:
            self._candidates = self._fresh_candidates()
        else:
            self.found = self._make(self._cached)
            self._from_cache = True
            log.info("%s: reading it as %s, the family found there before (%s)%s", port, self._cached, cache,
                     f"; probed for again after {silence:g} s of silence" if silence is not None else "")

    @classmethod
    def from_config(cls, cfg: Any, *, state_dir: Path | None = None) -> AutoDevice:
        charge = getattr(cfg, "charge", None)
        return cls(cfg.port, baudrate=cfg.baudrate, timeout=cfg.timeout,
                   silence=charge.stale_after if charge is not None else None,
                   cache=cache_path(state_dir, cfg.port) if state_dir is not None else None)

    # What the found family's device says, once there is one.

    @property
    def type_name(self) -> str:  # type: ignore[override]
        return self.found.type_name if self.found is not None else "auto"

    @property
    def vendor(self) -> str:  # type: ignore[override]
        return self.found.vendor if self.found is not None else self.vendor_unknown

    @property
    def info(self) -> DeviceInfo:  # type: ignore[override]
        return self._info

    @info.setter
    def info(self, value: DeviceInfo) -> None:
        # The found device asks for what it does not know yet (an ANT its model): it knows what we know.
        self._info = value
        if self.found is not None:
            self.found.info = value

    @property
    def connection(self) -> str:
        link = link_name(self.port)
        if self.found is not None:
            return f"{link} (auto: {self.found.type_name}{', from the cache' if self._from_cache else ''})"
        return f"{link} (auto: probing{'; tried ' + ', '.join(self.tried) if self.tried else ''})"

    @property
    def fallback_id(self) -> str:
        # The found family's, as if it had been configured: pinning the type later keeps the instance.
        return self.found.fallback_id if self.found is not None else f"auto_{self.port}"

    def product_name(self, sample: Sample) -> str:
        return self.found.product_name(sample) if self.found is not None else self.vendor_unknown

    @property
    def deadline(self) -> float:
        if self.found is not None:
            return self.found.deadline
        return sum(device.deadline for device in self._candidates) + DEADLINE_MARGIN

    def can_switch(self, which: str) -> bool:
        return self.found is not None and self.found.can_switch(which)

    async def send_switch(self, which: str, on: bool) -> None:
        assert self.found is not None, "asked only once can_switch allows it"
        await self.found.send_switch(which, on)

    async def exchange(self) -> Sample:
        loop = asyncio.get_running_loop()
        if self.found is not None and self._silent_too_long(loop.time()):
            log.warning("%s: the %s BMS has not answered for %g s: probing the families again", self.port,
                        self.found.type_name, self.silence)
            await self.found.close()
            self.found = None
            self._from_cache = False
            self._candidates = self._fresh_candidates()
        if self.found is None:
            return await self._probe()
        if self._answered_at is None:
            self._answered_at = loop.time()  # a cached family's silence counts from the first poll
        sample = await self.found.exchange()
        self._answered_at = loop.time()
        if self._from_cache:
            log.info("%s: the %s BMS answers", self.port, self.found.type_name)
            self._from_cache = False
        return sample

    def _silent_too_long(self, now: float) -> bool:
        return self.silence is not None and self._answered_at is not None and now - self._answered_at > self.silence

    async def _probe(self) -> Sample:
        loop = asyncio.get_running_loop()
        began = loop.time()
        tried: list[str] = []
        reasons: list[str] = []
        sample: Sample | str = ""
        for device in self._candidates:
            if self.found is not None:
                await device.close()  # never asked: it gives back what it holds (a bus's link)
                continue
            tried.append(device.type_name)
            sample = await self._ask(device)
            if isinstance(sample, str):
                reasons.append(f"{device.type_name} at {self._baudrate_of(device.type_name)} baud: {sample}")
            else:
                self.found = device
        self.tried = tried
        if not isinstance(sample, str):
            assert self.found is not None
            self._candidates = []
            self._answered_at = loop.time()
            self._quiet_spell = False
            log.info("%s: found the %s family (%s) at %d baud in %.1f s, after %s", self.port, self.found.type_name,
                     self.found.vendor, self._baudrate_of(self.found.type_name), loop.time() - began,
                     "; ".join(reasons) if reasons else "no other family tried")
            self._save_cache(self.found.type_name)
            return sample
        self._candidates = self._fresh_candidates()
        level = logging.DEBUG if self._quiet_spell else logging.INFO
        self._quiet_spell = True
        log.log(level, "%s: no BMS family answered in %.1f s: %s; %s", self.port, loop.time() - began,
                "; ".join(reasons), NOT_PROBED)
        raise DeviceError(f"no BMS family answered: tried {', '.join(tried)}")

    async def _ask(self, device: Device) -> Sample | str:
        """One poll of ``device`` within its own deadline: its reading, or why there is none (then
        the device is closed, and the port free for the next family's)."""
        self._probing = device
        try:
            async with asyncio.timeout(device.deadline):
                return await device.exchange()
        except TimeoutError:
            self.stats.timeouts += 1
            why = f"no reply within {device.deadline:g} s"
        except DeviceError as exc:
            why = str(exc)
        finally:
            self._probing = None
        await device.close()
        return why

    def _baudrate_of(self, family: str) -> int:
        return self.baudrate or DEVICE_TYPES[family].baudrate or 115200

    def _fresh_candidates(self) -> list[Device]:
        """One new device per family, in the order a probe tries them: the cached family first."""
        order = [self._cached] if self._cached is not None else []
        order += [family for family in PROBE_ORDER if family != self._cached]
        return [self._make(family) for family in order]

    def _make(self, family: str) -> Device:
        cfg = SimpleNamespace(type=family, port=self.port, address=None, baudrate=self._baudrate_of(family),
                              timeout=self.timeout, protocol=None)
        device = create_device(cfg)
        # What a family's device counts while it probes or reads is this battery's link.
        device.stats = self.stats
        return device

    def _load_cache(self) -> str | None:
        if self.cache is None:
            return None
        try:
            record = statefile.read_json(self.cache)
        except (OSError, ValueError) as exc:
            log.warning("%s: cannot read the family found before (%s): probing", self.cache, exc)
            return None
        if record is None:
            return None
        family = record.get("type") if isinstance(record, dict) else None
        if family not in PROBE_ORDER:
            log.warning("%s: %r is no family that auto reads: probing", self.cache, family)
            return None
        return family

    def _save_cache(self, family: str) -> None:
        if self.cache is None or family == self._cached:
            return
        record = {"port": self.port, "type": family, "baudrate": self._baudrate_of(family),
                  "found_at": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        try:
            statefile.write_json(self.cache, record)
        except OSError as exc:
            log.warning("%s: cannot keep the family found (%s)", self.cache, exc)
            return
        self._cached = family

    async def abort(self) -> None:
        if self._probing is not None:
            await self._probing.close()
        elif self.found is not None:
            await self.found.abort()

    async def end_poll(self) -> None:
        if self.found is not None:
            await self.found.end_poll()

    async def close(self) -> None:
        for device in {id(d): d for d in (self.found, *self._candidates) if d is not None}.values():
            await device.close()
