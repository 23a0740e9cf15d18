"""What every device offers the app: poll for a Sample, and honest counters of how the link fares."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from ..model import DeviceInfo, Sample


class DeviceError(Exception):
    """A poll produced no reading (timeout, port gone, only corrupt frames)."""


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
    """A BMS the daemon polls. Subclasses set ``type_name`` and implement ``poll``."""

    type_name: str = ""
    vendor: str = ""

    def __init__(self) -> None:
        self.stats = LinkStats()
        self.info = DeviceInfo()

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

    async def poll(self) -> Sample:
        """One reading; raises DeviceError when none could be had. Counts into ``stats``."""
        try:
            sample = await self.exchange()
        except DeviceError as exc:
            self.stats.record(False, str(exc))
            raise
        finally:
            await self.end_poll()
        self.stats.record(True)
        self.info = self.info.merged(sample.device)
        sample.device = self.info
        return sample

    @abc.abstractmethod
    async def exchange(self) -> Sample:
        """One round of requests and replies; raises DeviceError, counting the cause in ``stats``."""

    async def end_poll(self) -> None:
        """Runs after every poll, answered or not (a BLE link in per-poll mode lets go here)."""

    @abc.abstractmethod
    async def close(self) -> None: ...
