"""What every BMS reached as a byte stream shares: a serial port, an RS485-TCP gateway at
``tcp://host:port``, or the BMS's own Bluetooth LE module, which bridges its UART (the same frames,
written to one characteristic and notified on another). Here: the link, a poll's frame, how its
failures are counted, and reading a reply frame by frame within the reply timeout. A family's device
says what one poll asks (``read_bms``).
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..model import Sample
from ..protocols.framing import Assembler
from ..transports.errors import TransportError
from ..transports.link import link_name, stream_transport
from ..transports.stream import StreamTransport
from .base import DEADLINE_MARGIN, Device, DeviceError
from .replies import first_reply

if TYPE_CHECKING:
    from ..transports.ble import BleTransport

T = TypeVar("T")


@dataclass(frozen=True)
class BleModule:
    """A family's Bluetooth LE module: the GATT characteristics its UART bridge notifies on and is
    written to (they may be one and the same)."""

    notify_uuid: str
    write_uuid: str


class StreamDevice(Device):
    """One BMS on a serial port or a gateway, or (``transport`` a BleTransport, ``port`` its MAC or
    name) over its BLE module; ``default_baudrate`` is its family's line speed, ``ble_module`` the
    GATT of its BLE module where it has one."""

    default_baudrate = 115200
    ble_module: BleModule | None = None

    def __init__(
        self, port: str, *, baudrate: int | None = None, timeout: float = 0.5, transport: BleTransport | None = None
    ) -> None:
        super().__init__()
        self.port = port
        self.timeout = timeout
        self.transport: StreamTransport | BleTransport = transport or stream_transport(
            port, baudrate or self.default_baudrate
        )

    @classmethod
    def from_config(cls, cfg: Any) -> StreamDevice:
        """A config with a ``port`` reads the serial line or gateway there; one with an ``address``
        instead (a ``-ble`` type) reads the BMS's BLE module at that MAC or name."""
        if cfg.port is None:
            return cls(cfg.address, timeout=cfg.timeout, transport=cls.ble_transport(cfg), **cls.options(cfg))
        return cls(cfg.port, baudrate=cfg.baudrate, timeout=cfg.timeout, **cls.options(cfg))

    @classmethod
    def options(cls, cfg: Any) -> dict[str, Any]:
        """What else of ``cfg`` the family's constructor takes (its ``protocol``, say)."""
        return {}

    @classmethod
    def ble_transport(cls, cfg: Any) -> BleTransport:
        """The BLE link of ``cfg`` to this family's module; the BLE stack is loaded only here."""
        from ..transports.ble import BleTransport

        if cls.ble_module is None:
            raise ValueError(f"{cls.vendor} ({cls.type_name}) has no Bluetooth LE module to read")
        return BleTransport(
            cfg.address,
            notify_uuid=cls.ble_module.notify_uuid,
            write_uuid=cls.ble_module.write_uuid,
            adapter=cfg.adapter,
            pin=cfg.pin,
            keep_alive=cfg.ble_mode != "per-poll",
        )

    @property
    def over_ble(self) -> bool:
        return not isinstance(self.transport, StreamTransport)

    @property
    def connection(self) -> str:
        if isinstance(self.transport, StreamTransport):
            return link_name(self.port)
        return self.transport.describe()

    @property
    def fallback_id(self) -> str:
        if isinstance(self.transport, StreamTransport):
            return f"{self.type_name}_{self.port}"
        return f"{self.type_name}_{self.transport.id_part}"

    @property
    def deadline(self) -> float:
        """Opening the link (a BLE scan and connect when no link is up) and one poll's replies."""
        return self.transport.open_bound + self.exchange_bound

    @property
    def exchange_bound(self) -> float:
        """The bound of one poll's requests and replies on an open link: one reply by default; a
        family that asks several times says so."""
        return self.timeout + DEADLINE_MARGIN

    async def exchange(self) -> Sample:
        async with self.counted():
            await self.open_clean()
            return await self.read_bms()

    @abc.abstractmethod
    async def read_bms(self) -> Sample:
        """One poll's requests and replies on an open, clean link, decoded (``decoded``)."""

    async def open_clean(self) -> None:
        """The link open, and what arrived unasked since the last exchange dropped, counted."""
        await self.transport.open()
        self.stats.discarded_bytes += self.transport.discard_input()

    @contextlib.asynccontextmanager
    async def counted(self) -> AsyncIterator[None]:
        """A reply that did not come and a link that failed become a DeviceError, counted; so is a
        link made again on the way."""
        opens = self.transport.opens
        try:
            yield
        except TimeoutError as exc:
            self.stats.timeouts += 1
            raise DeviceError(str(exc)) from None
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(str(exc)) from None
        finally:
            if self.transport.opens > opens > 0:
                self.stats.reopens += 1

    async def collect(
        self, rx: Assembler, take: Callable[[bytes], T | None], what: str, *, timeout: float | None = None
    ) -> T:
        """What ``take`` makes of the first good frame of ``rx`` it accepts (``replies.first_reply``),
        within ``timeout`` (the reply timeout unless given); TimeoutError naming ``what`` when none."""
        timeout = self.timeout if timeout is None else timeout
        return await first_reply(self.transport, rx, take, timeout=timeout, stats=self.stats,
                                 silent=f"no {what} from {self.port} within {timeout:g} s")

    async def request(
        self, request: bytes, rx: Assembler, *, wanted: Callable[[bytes], bool] = lambda frame: True,
        what: str = "reply", timeout: float | None = None,
    ) -> bytes:
        """Sends ``request`` and returns the first good frame ``wanted`` takes; others (an adapter's
        echo, a late reply to an earlier request) are passed over."""
        await self.transport.write(request)
        return await self.collect(rx, lambda frame: frame if wanted(frame) else None, what, timeout=timeout)

    async def end_poll(self) -> None:
        await self.transport.between_polls()

    async def close(self) -> None:
        await self.transport.close()
