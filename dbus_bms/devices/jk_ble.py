"""A JK BMS over Bluetooth LE: 300-byte records on characteristic FFE1.

On a fresh link we ask for the device info (0x97) first: its firmware version decides the record
layout (JK02_24S, JK02_32S or JK04) unless the config fixed it. Then one cell-info request (0x96)
makes the BMS send its settings once and stream cell info until the link ends. A poll takes the
newest cell info that arrived; when the stream stalls it asks again, and after a few silent polls
it drops the link and reconnects, because a JK that stopped streaming rarely starts again on the
same connection.

The switches (charge, discharge, balancer) are settings: a switch command is followed by a fresh
0x96, and the poll after it waits for the settings record that it brings, which shows whether the
BMS took the command, and for the cell info after it, which shows the FETs.

A poll has a deadline (``deadline``) that covers everything it may have to do: a scan and a
connect when no link is up, then each reply it waits for. A poll that overruns it (bluetoothd not
answering) is cut off and the link forgotten, so the next poll starts with a fresh connect.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..model import Sample
from ..protocols import jk02
from ..protocols.errors import ProtocolError
from ..protocols.framing import drain
from ..transports.ble import CONNECT_TIMEOUT, BleTransport
from ..transports.ble_discovery import BLUEZ_REPLY_TIMEOUT
from ..transports.errors import TransportError
from .base import Device, DeviceError

# Config protocol names → the codec's layout names.
LAYOUTS = {"jk02_24s": "24s", "jk02_32s": "32s", "jk04": "jk04"}

# Polls in a row without a cell-info record before the link is dropped and made again.
SILENT_POLLS_BEFORE_RECONNECT = 3


class JkBleDevice(Device):
    type_name = "jk"
    vendor = "JK BMS"

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
        super().__init__()
        self.timeout = timeout
        self.fixed_layout = LAYOUTS.get(protocol or "auto")
        self.forced_protocol = protocol if protocol not in (None, "auto") else None
        self.layout: str | None = self.fixed_layout
        self.settings: jk02.JkSettings | None = None
        self.transport = BleTransport(
            target,
            notify_uuid=jk02.CHAR_UUID,
            write_uuid=jk02.CHAR_UUID,
            adapter=adapter,
            pin=pin,
            keep_alive=keep_alive,
            scan_timeout=scan_timeout,
            connect_timeout=connect_timeout,
        )
        self._rx = jk02.RecordAssembler()
        self._cell_record: bytes | None = None
        self._streaming = False
        self._silent = 0
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

    @property
    def connection(self) -> str:
        return self.transport.describe()

    @property
    def fallback_id(self) -> str:
        where = self.transport.address or self.transport.target
        return f"{self.type_name}_{where.replace(':', '').lower()}"

    @property
    def deadline(self) -> float:
        """The bound of the next poll: the scan and the connect when no link is up, each reply the
        poll waits for (the device info too while the layout is unknown), and BlueZ's answers to
        the writes. With the defaults: 37 s for the first poll, 32 s to reconnect, 7 s on a live link."""
        t = self.transport
        connect = 0.0 if t.is_open else t.scan_timeout + t.connect_timeout
        replies = (1 if self.layout is not None else 2) + self._want_settings
        return connect + replies * self.timeout + BLUEZ_REPLY_TIMEOUT

    def can_switch(self, which: str) -> bool:
        return self.layout is not None and which in jk02.switch_registers(self.layout)

    async def send_switch(self, which: str, on: bool) -> None:
        opens = self.transport.opens
        try:
            await self.transport.open()
            if self.transport.opens > opens:
                self._fresh_link(reopened=opens > 0)
            assert self.layout is not None
            await self.transport.write(jk02.build_switch(which, on, self.layout))
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(str(exc)) from None
        self._streaming = False
        self._want_settings = True

    async def abort(self) -> None:
        """Drops the link without waiting on bluetoothd; the next poll connects afresh and asks
        for the stream again."""
        self._streaming = False
        self._silent = 0
        await self.transport.close()

    async def end_poll(self) -> None:
        await self.transport.release()

    async def exchange(self) -> Sample:
        opens = self.transport.opens
        try:
            await self.transport.open()
            if self.transport.opens > opens:
                self._fresh_link(reopened=opens > 0)
            if self.layout is None:
                await self.transport.write(jk02.build_command(jk02.CMD_DEVICE_INFO))
                await self._collect(jk02.TYPE_DEVICE_INFO)
            self._cell_record = None
            if not self._streaming:
                await self.transport.write(jk02.build_command(jk02.CMD_CELL_INFO))
                self._streaming = True
            if self._want_settings:
                await self._collect(jk02.TYPE_SETTINGS)
                self._want_settings = False
            await self._collect(jk02.TYPE_CELL_INFO)
        except TimeoutError as exc:
            self.stats.timeouts += 1
            await self._stalled()
            raise DeviceError(str(exc)) from None
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(str(exc)) from None
        self._silent = 0
        assert self._cell_record is not None and self.layout is not None
        try:
            decoded = jk02.decode(self._cell_record, self.layout)
        except ProtocolError as exc:
            self.stats.bad_frames += 1
            raise DeviceError(f"undecodable cell info: {exc}") from None
        assert isinstance(decoded, Sample)
        if self.settings is not None:
            decoded.bms_settings = self.settings.protections()
            decoded.switches = self.settings.switches()
        return decoded

    def _fresh_link(self, *, reopened: bool) -> None:
        if reopened:
            self.stats.reopens += 1
        self.stats.discarded_bytes += len(self._rx.buf)
        self._rx = jk02.RecordAssembler()
        self._streaming = False
        self._silent = 0

    async def _stalled(self) -> None:
        """No cell info this poll: ask again next time, and after a few such polls start over."""
        self._streaming = False
        self._silent += 1
        if self._silent >= SILENT_POLLS_BEFORE_RECONNECT and self.transport.keep_alive:
            self._silent = 0
            await self.transport.close()

    async def _collect(self, wanted: int) -> None:
        """Reads notifications until a record of type ``wanted`` is in; every record met on the way
        is taken in (device info sets the layout, settings are kept, the newest cell info wins)."""
        loop_time = asyncio.get_running_loop().time
        deadline = loop_time() + self.timeout
        what = {jk02.TYPE_DEVICE_INFO: "device info", jk02.TYPE_SETTINGS: "settings"}.get(wanted, "cell info")
        while True:
            if wanted in self._take_records() and (wanted != jk02.TYPE_CELL_INFO or self._cell_record is not None):
                return
            remaining = deadline - loop_time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                self._rx.feed(await self.transport.read(remaining))
                self.stats.discarded_bytes += self.transport.take_overflowed()
            except TimeoutError:
                raise TimeoutError(f"no {what} from {self.connection} within {self.timeout:g} s") from None

    def _take_records(self) -> set[int]:
        seen: set[int] = set()
        discarded = self._rx.discarded_bytes
        for item in drain(self._rx):
            if isinstance(item, ProtocolError):
                self.stats.bad_frames += 1
                continue
            kind = item[4]
            seen.add(kind)
            if kind == jk02.TYPE_CELL_INFO:
                self._cell_record = item
            elif kind == jk02.TYPE_DEVICE_INFO:
                self._take_device_info(item)
            elif kind == jk02.TYPE_SETTINGS and self.layout is not None:
                # Cell info sent before the settings is older than them (than a switch they confirm).
                self._cell_record = None
                self._take_settings(item)
        self.stats.discarded_bytes += self._rx.discarded_bytes - discarded
        return seen

    def _take_device_info(self, record: bytes) -> None:
        try:
            info = jk02.decode_device_info(record)
        except ProtocolError:
            self.stats.bad_frames += 1
            return
        self.info = self.info.merged(info)
        if self.fixed_layout is None:
            self.layout = jk02.layout_for_firmware(info.sw_version, info.hw_version)

    def _take_settings(self, record: bytes) -> None:
        assert self.layout is not None
        try:
            settings = jk02.decode(record, self.layout)
        except ProtocolError:
            self.stats.bad_frames += 1
            return
        if isinstance(settings, jk02.JkSettings):
            self.settings = settings

    async def close(self) -> None:
        await self.transport.close()
