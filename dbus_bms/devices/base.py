"""What every device offers the app: poll for a Sample, switch the BMS's FETs and balancer, and
honest counters of how the link fares."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..model import DeviceInfo, Sample
from ..protocols.errors import ProtocolError
from .plausibility import FOREIGN, FROZEN, IMPLAUSIBLE, ReadingJudge, Verdict

T = TypeVar("T")

# The bound of one poll for a device that has no reply timeout of its own.
DEFAULT_DEADLINE = 10.0
# What a poll may take beyond the device's reply timeout: opening the port, writing the request.
DEADLINE_MARGIN = 2.0
# What ``Device.switch`` can switch: the charge FET, the discharge FET, the balancer.
SWITCHES = ("charge", "discharge", "balance")


class DeviceError(Exception):
    """A poll produced no reading (timeout, port gone, only corrupt frames)."""


class ControlUnsupported(DeviceError):
    """The BMS, or its protocol as we know it, has no such switch; nothing was sent."""


class ControlFailed(DeviceError):
    """The switch command went out, but the BMS's state read back does not show it taken;
    ``sample`` is that reading, good as any poll's."""

    def __init__(self, message: str, sample: Sample) -> None:
        super().__init__(message)
        self.sample = sample


class RejectedReading(DeviceError):
    """The BMS answered, but its reading cannot be believed (see ``plausibility``).

    ``kind`` is ``implausible``, ``foreign`` (another BMS answers in our BMS's place) or ``frozen``
    (the same reading over and over while current flows). ``expire``: the last good reading is no
    longer to be trusted either, so the fail-safe applies at once rather than after the staleness
    bound; true for a foreign and a frozen reading, whose BMS may have been wrong for a while.
    """

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.expire = kind in (FOREIGN, FROZEN)


@dataclass
class LinkStats:
    """Counters for /Mgmt/Connection and the logs; never reset while the daemon runs."""

    polls: int = 0
    good: int = 0
    bad_frames: int = 0
    discarded_bytes: int = 0
    timeouts: int = 0
    link_errors: int = 0
    reopens: int = 0
    recent: list[bool] = field(default_factory=list)
    last_error: str = ""

    window = 20

    def record(self, ok: bool, error: str = "") -> None:
        self.polls += 1
        self.good += ok
        self.recent.append(ok)
        del self.recent[: -self.window]
        if not ok:
            self.last_error = error

    @property
    def quality(self) -> float | None:
        """Share of the recent polls that produced a reading, 0..1."""
        return sum(self.recent) / len(self.recent) if self.recent else None


class Device(abc.ABC):
    """A BMS the daemon polls. Subclasses set ``type_name`` and implement ``exchange``."""

    type_name: str = ""
    vendor: str = ""
    # The protocol the config forced on the device (``jk02_24s``), None when it chooses itself:
    # readings that fail their checks then say which protocol gave them.
    forced_protocol: str | None = None

    def __init__(self) -> None:
        self.stats = LinkStats()
        self.info = DeviceInfo()
        # Frozen-data detection off; the registry sets it from the battery's charge settings.
        self.judge = ReadingJudge()
        # One exchange with the BMS at a time: a switch command never lands inside a poll.
        self._busy = asyncio.Lock()

    @classmethod
    @abc.abstractmethod
    def from_config(cls, cfg: Any) -> Device:
        """The device for one battery's config (a BatteryConfig, or the ``read`` command's arguments)."""

    @property
    @abc.abstractmethod
    def connection(self) -> str:
        """Where the device is, for /Mgmt/Connection (``Serial /dev/ttyUSB0``)."""

    @property
    @abc.abstractmethod
    def fallback_id(self) -> str:
        """A stable id when the BMS reports no serial number: port (and address), or MAC."""

    def product_name(self, sample: Sample) -> str:
        """/ProductName: the vendor and, when the BMS told us, its model."""
        model = sample.device.model if sample.device else None
        return f"{self.vendor} {model}" if model else self.vendor

    @property
    def deadline(self) -> float:
        """The overall bound of one poll (connect, request, reply), in seconds: by default the
        device's reply ``timeout`` plus 2 s for opening the link and sending the request, else
        10 s. A device whose exchange waits for several replies or a slow connect overrides it."""
        timeout = getattr(self, "timeout", None)
        return DEFAULT_DEADLINE if timeout is None else timeout + DEADLINE_MARGIN

    async def poll(self) -> Sample:
        """One reading that passed ``judge``; raises DeviceError when none could be had, and
        RejectedReading (counted as a bad frame) when the BMS's reading cannot be believed.
        Counts into ``stats``. Nothing of a refused reading enters ``info``, and a reading from
        another BMS takes back what its exchange put there."""
        async with self._busy:
            return await self._poll()

    def can_switch(self, which: str) -> bool:
        """Whether ``switch(which, ...)`` can work with this BMS as far as we know it now (for a
        device that learns its protocol from the BMS, once it has); False by default."""
        return False

    async def switch(self, which: str, on: bool) -> Sample:
        """Switches the BMS's ``which`` (one of ``SWITCHES``) on or off, then reads the BMS back
        and returns that reading once it shows the switch as asked. Raises ControlUnsupported
        (nothing sent) when this BMS cannot, ControlFailed when the reading after the command
        shows the switch otherwise or not at all, DeviceError when the BMS did not answer. Never
        runs inside a poll."""
        if which not in SWITCHES:
            raise ValueError(f"no switch {which!r}; known: {', '.join(SWITCHES)}")
        if not self.can_switch(which):
            raise ControlUnsupported(f"{self.vendor} ({self.type_name}) cannot switch its {which} from here")
        async with self._busy:
            await self._bounded(self.send_switch(which, on), "the switch command")
            sample = await self._poll()
        state = sample.switches.get(which)
        wanted = "on" if on else "off"
        if state is None:
            raise ControlFailed(f"the BMS did not report its {which} switch after the command", sample)
        if state != on:
            raise ControlFailed(f"the {which} switch still reads {'on' if state else 'off'} after the command to "
                                f"switch it {wanted}: the BMS did not take it", sample)
        return sample

    async def send_switch(self, which: str, on: bool) -> None:
        """Sends the command that switches ``which`` on or off, and takes what the BMS answers to
        it; the reading that confirms it is the next exchange's. Only for what ``can_switch``
        allows; raises DeviceError when the command could not be sent."""
        raise ControlUnsupported(f"{self.vendor} ({self.type_name}) cannot switch its {which} from here")

    async def _bounded(self, step: Awaitable[None], what: str) -> None:
        """Runs ``step`` within the device's deadline; one that overruns it is cut off like a poll."""
        deadline = self.deadline
        try:
            async with asyncio.timeout(deadline) as bound:
                await step
        except TimeoutError as exc:
            self.stats.timeouts += 1
            if not bound.expired():
                raise DeviceError(str(exc) or f"the BMS did not answer {what} in time") from None
            await self.abort()
            raise DeviceError(f"{what} overran its deadline of {deadline:g} s") from None

    async def _poll(self) -> Sample:
        known = self.info
        try:
            sample = await self.bounded_exchange()
            sample.device = self.info.merged(sample.device)
            verdict = self.judge.judge(sample)
            if verdict is not None:
                self.stats.bad_frames += 1
                if verdict.kind == FOREIGN:
                    # What the exchange itself learnt of the identity (a device-info record) is
                    # the other BMS's too.
                    self.info = known
                raise RejectedReading(self._refusal_text(verdict), verdict.kind)
        except DeviceError as exc:
            self.stats.record(False, str(exc))
            raise
        finally:
            await self.end_poll()
        self.stats.record(True)
        self.info = sample.device
        return sample

    async def bounded_exchange(self) -> Sample:
        """``exchange`` within the poll's deadline, unjudged: a poll's own step, and what a device
        that merges readings (``borrowing``) takes of the BMS it wraps, judging the merged one."""
        deadline = self.deadline
        try:
            async with asyncio.timeout(deadline) as bound:
                return await self.exchange()
        except TimeoutError as exc:
            if not bound.expired():
                # A timeout of the exchange's own, not the deadline: a link that did not answer.
                self.stats.timeouts += 1
                raise DeviceError(str(exc) or "the BMS did not answer in time") from None
        self.stats.timeouts += 1
        await self.abort()
        raise DeviceError(f"poll overran its deadline of {deadline:g} s")

    def _refusal_text(self, verdict: Verdict) -> str:
        if verdict.kind == IMPLAUSIBLE and self.forced_protocol is not None:
            return f"protocol {self.forced_protocol} gives implausible values: {verdict.message}; try auto"
        return verdict.message

    def decoded(self, decode: Callable[..., T], *replies: Any) -> T:
        """``decode(*replies)``; a reply that does not decode is a bad frame and a DeviceError."""
        try:
            return decode(*replies)
        except ProtocolError as exc:
            self.stats.bad_frames += 1
            raise DeviceError(f"undecodable reply: {exc}") from None

    @abc.abstractmethod
    async def exchange(self) -> Sample:
        """One round of requests and replies; raises DeviceError, counting the cause in ``stats``."""

    async def abort(self) -> None:
        """Cuts off a poll that overran its deadline, so that the next one starts clean: by
        default the link is closed (and opened again by the next poll)."""
        await self.close()

    async def end_poll(self) -> None:
        """Runs after every poll, answered or not (a BLE link in per-poll mode lets go here)."""

    @abc.abstractmethod
    async def close(self) -> None: ...
