"""A JK BMS over Bluetooth LE: 300-byte records on characteristic FFE1.

On a fresh link we ask for the device info (0x97) first: its firmware version decides the record
layout (JK02_24S, JK02_32S or JK04) unless the config fixed it. Then one cell-info request (0x96)
makes the BMS send its settings once and stream cell info until the link ends
(``ble_stream_device``: a poll takes the newest, a stalled stream is asked again, a silent one
reconnected).

The switches (charge, discharge, balancer) are settings: a switch command is followed by a fresh
0x96, and the poll after it waits for the settings record that it brings, which shows whether the
BMS took the command, and for the cell info after it, which shows the FETs.

A poll has a deadline (``deadline``) that covers everything it may have to do: a scan and a
connect when no link is up, then each reply it waits for. A poll that overruns it (bluetoothd not
answering) is cut off and the link forgotten, so the next poll starts with a fresh connect.
"""

from __future__ import annotations

from typing import Any

from ..model import Sample
from ..protocols import jk02
from ..protocols.errors import ProtocolError
from ..transports.ble import CONNECT_TIMEOUT, BleTransport
from ..transports.ble_discovery import BLUEZ_REPLY_TIMEOUT
from ..transports.errors import TransportError
from .base import DeviceError
from .ble_stream_device import SILENT_POLLS_BEFORE_RECONNECT, BleStreamDevice

# Config protocol names → the codec's layout names.
LAYOUTS = {"jk02_24s": "24s", "jk02_32s": "32s", "jk04": "jk04"}

__all__ = ["JkBleDevice", "LAYOUTS", "SILENT_POLLS_BEFORE_RECONNECT"]


class JkBleDevice(BleStreamDevice):
    type_name = "jk"
    vendor = "JK BMS"
    streamed = jk02.TYPE_CELL_INFO
    names = {jk02.TYPE_DEVICE_INFO: "device info", jk02.TYPE_SETTINGS: "settings", jk02.TYPE_CELL_INFO: "cell info"}

    def __init__(
        self,
        target: str,
        *,
        adapter: str | None = None,
        pin: str | None = None,
        keep_alive: bool = True,
        protocol: str | None = None,
        timeout: float = 5.0,
        scan_timeout: float = 10.0,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        transport = BleTransport(
            target,
            notify_uuid=jk02.CHAR_UUID,
            write_uuid=jk02.CHAR_UUID,
            adapter=adapter,
            pin=pin,
            keep_alive=keep_alive,
            scan_timeout=scan_timeout,
            connect_timeout=connect_timeout,
        )
        super().__init__(transport, timeout=timeout)
        self.fixed_layout = LAYOUTS.get(protocol or "auto")
        self.forced_protocol = protocol if protocol not in (None, "auto") else None
        self.layout: str | None = self.fixed_layout
        self.settings: jk02.JkSettings | None = None
        # After a switch command: the next exchange waits for the settings record as well.
        self._want_settings = False

    @classmethod
    def from_config(cls, cfg: Any) -> JkBleDevice:
        return cls(
            cfg.address,
            adapter=cfg.adapter,
            pin=cfg.pin,
            keep_alive=cfg.ble_mode != "per-poll",
            protocol=cfg.protocol,
            timeout=cfg.timeout,
        )

    def new_assembler(self) -> jk02.RecordAssembler:
        return jk02.RecordAssembler()

    @property
    def deadline(self) -> float:
        """The bound of the next poll: the scan and the connect when no link is up, each reply the
        poll waits for (the device info too while the layout is unknown), and BlueZ's answers to
        the writes. With the defaults: 37 s for the first poll, 32 s to reconnect, 7 s on a live link."""
        replies = (1 if self.layout is not None else 2) + self._want_settings
        return self.transport.open_bound + replies * self.timeout + BLUEZ_REPLY_TIMEOUT

    def can_switch(self, which: str) -> bool:
        return self.layout is not None and which in jk02.switch_registers(self.layout)

    async def send_switch(self, which: str, on: bool) -> None:
        try:
            await self.open_link()
            assert self.layout is not None
            await self.transport.write(jk02.build_switch(which, on, self.layout))
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(str(exc)) from None
        self.streaming = False
        self._want_settings = True

    async def ask_poll(self) -> None:
        if self.layout is None:
            await self.ask(jk02.build_command(jk02.CMD_DEVICE_INFO), jk02.TYPE_DEVICE_INFO)
        self.record = None
        if not self.streaming:
            # One cell-info request brings the settings once, then the stream.
            await self.transport.write(jk02.build_command(jk02.CMD_CELL_INFO))
            self.streaming = True
        if self._want_settings:
            await self.collect(jk02.TYPE_SETTINGS)
            self._want_settings = False
        await self.collect(jk02.TYPE_CELL_INFO)

    def sample(self, record: bytes) -> Sample:
        assert self.layout is not None
        try:
            decoded = jk02.decode(record, self.layout)
        except ProtocolError as exc:
            self.stats.bad_frames += 1
            raise DeviceError(f"undecodable cell info: {exc}") from None
        assert isinstance(decoded, Sample)
        if self.settings is not None:
            decoded.bms_settings = self.settings.protections()
            decoded.switches = self.settings.switches()
        return decoded

    def take(self, kind: int, record: bytes) -> None:
        """Device info sets the layout; settings are kept, and make the cell info before them stale."""
        if kind == jk02.TYPE_DEVICE_INFO:
            info = jk02.decode_device_info(record)
            self.info = self.info.merged(info)
            if self.fixed_layout is None:
                self.layout = jk02.layout_for_firmware(info.sw_version, info.hw_version)
        elif kind == jk02.TYPE_SETTINGS and self.layout is not None:
            # Cell info sent before the settings is older than them (than a switch they confirm).
            self.record = None
            settings = jk02.decode(record, self.layout)
            if isinstance(settings, jk02.JkSettings):
                self.settings = settings
