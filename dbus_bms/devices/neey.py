"""A NEEY / Heltec active balancer over Bluetooth LE (type ``neey-ble``).

On a fresh link we ask for the device info (its model tells the cell-info layout) and the settings
(they carry the balancer switch), then one cell-info request makes the balancer stream cell info
until the link ends (``ble_stream_device``: a poll takes the newest, a stalled stream is asked
again, a silent one reconnected).

The balancer switch is a register write; the poll after it asks for the settings again and waits
for them, which shows whether the balancer took it.
"""

from __future__ import annotations

from typing import Any

from ..model import Sample
from ..protocols import neey
from ..transports.ble import CONNECT_TIMEOUT, BleTransport
from ..transports.ble_discovery import BLUEZ_REPLY_TIMEOUT
from ..transports.errors import TransportError
from .base import DeviceError
from .ble_stream_device import SILENT_POLLS_BEFORE_RECONNECT, BleStreamDevice

__all__ = ["NeeyBleDevice", "SILENT_POLLS_BEFORE_RECONNECT"]


class NeeyBleDevice(BleStreamDevice):
    type_name = "neey-ble"
    vendor = "NEEY balancer"
    streamed = neey.TYPE_CELL_INFO
    names = {neey.TYPE_DEVICE_INFO: "device info", neey.TYPE_SETTINGS: "settings", neey.TYPE_CELL_INFO: "cell info"}

    def __init__(
        self,
        target: str,
        *,
        adapter: str | None = None,
        pin: str | None = None,
        keep_alive: bool = True,
        timeout: float = 3.0,
        scan_timeout: float = 10.0,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        transport = BleTransport(
            target, notify_uuid=neey.CHAR_UUID, write_uuid=neey.CHAR_UUID, adapter=adapter, pin=pin,
            keep_alive=keep_alive, scan_timeout=scan_timeout, connect_timeout=connect_timeout,
        )
        super().__init__(transport, timeout=timeout)
        self.layout: str | None = None
        self.balancer_on: bool | None = None
        self.settings: neey.Settings | None = None
        self._want_settings = True

    @classmethod
    def from_config(cls, cfg: Any) -> NeeyBleDevice:
        return cls(cfg.address, adapter=cfg.adapter, pin=cfg.pin, keep_alive=cfg.ble_mode != "per-poll",
                   timeout=cfg.timeout)

    def new_assembler(self) -> neey.FrameAssembler:
        return neey.FrameAssembler()

    def on_fresh_link(self) -> None:
        self._want_settings = True

    @property
    def deadline(self) -> float:
        """The scan and the connect when no link is up, then each reply the poll waits for."""
        replies = 1 + (self.layout is None) + self._want_settings
        return self.transport.open_bound + replies * self.timeout + BLUEZ_REPLY_TIMEOUT

    def can_switch(self, which: str) -> bool:
        return which == "balance"

    async def send_switch(self, which: str, on: bool) -> None:
        try:
            await self.open_link()
            await self.transport.write(neey.build_switch(on))
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(str(exc)) from None
        self._want_settings = True

    async def ask_poll(self) -> None:
        if self.layout is None:
            await self.ask(neey.build_request(neey.TYPE_DEVICE_INFO), neey.TYPE_DEVICE_INFO)
        if self._want_settings:
            await self.ask(neey.build_request(neey.TYPE_SETTINGS), neey.TYPE_SETTINGS)
            self._want_settings = False
        await self.stream(neey.build_request(neey.TYPE_CELL_INFO))

    def sample(self, record: bytes) -> Sample:
        assert self.layout is not None
        sample = self.decoded(neey.decode_cell_info, record, self.layout).sample
        if self.settings is not None:
            sample.bms_settings = self.settings.settings
        if self.balancer_on is not None:
            sample.switches = {"balance": self.balancer_on}
        return sample

    def take(self, kind: int, record: bytes) -> None:
        """Device info tells the cell-info layout; settings carry the balancer switch, and make the
        cell info before them stale."""
        if kind == neey.TYPE_DEVICE_INFO:
            info = neey.decode_device_info(record)
            self.info = self.info.merged(info)
            self.layout = neey.layout_for_model(info.model)
        elif kind == neey.TYPE_SETTINGS:
            self.record = None
            self.settings = neey.decode_settings(record)
            self.balancer_on = self.settings.balancer_on
