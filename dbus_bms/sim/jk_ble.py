"""A JK BMS as a BLE peripheral: the record model of ``jk_records`` behind JK's GATT table.

JK's BLE module is a UART bridge, and it behaves like one: records reach the host cut into
notifications wherever the bridge's buffer happened to end, sometimes with ``AT\\r\\n`` from the
module in between. The faults below reproduce what users' captures show.
"""

from __future__ import annotations

import asyncio
import enum
import random

from ..protocols import jk02
from ..protocols.jk02 import CHAR_UUID, MANUFACTURER_ID, SERVICE_UUID
from .jk_records import JkRecordSimulator
from .ble_peripheral import Char, Peripheral, Service


# The write acknowledgement a JK sends for each request (as captured, with the module's AT tail).
WRITE_ACK = bytes.fromhex("aa5590ebc801010000000000000000000000004441540d0a")
AT_JUNK = b"AT\r\n"
# How long the BLE module's UART bridge waits for more bytes before it sends what it holds.
BRIDGE_IDLE_TIMEOUT = 0.05


def ble_address(i: int) -> str:
    """The MAC of simulated BLE JK number ``i`` (in JK's own address block)."""
    return f"C8:47:8C:00:00:{i + 1:02X}"


class BleFault(enum.Enum):
    NONE = "none"
    SPLIT = "split"  # records cut into notifications of random size
    MERGED = "merged"  # the end of one record and the start of the next in one notification
    JUNK = "junk"  # AT\r\n and write acks around the records
    DROP_MID_FRAME = "drop-mid-frame"  # the link ends after the first piece of a record
    SILENT = "silent"  # stays connected, sends nothing


class JkBlePeripheral(Peripheral):
    """A simulated JK that streams cell info every ``stream_interval`` s after a 0x96 request."""

    def __init__(
        self,
        model: JkRecordSimulator,
        *,
        address: str,
        name: str | None = None,
        stream_interval: float = 0.5,
        chunk: int = 128,
        seed: int = 1,
    ) -> None:
        mac = bytes.fromhex(address.replace(":", ""))
        super().__init__(
            address=address,
            name=name or model.device.model,
            rssi=-62,
            manufacturer_data={MANUFACTURER_ID: b"\x88\xa0" + mac},
            service_uuids=[SERVICE_UUID],
            services=[Service(SERVICE_UUID, [Char(CHAR_UUID, ["read", "write", "write-without-response", "notify"])])],
        )
        self.model = self.bms = model
        self.stream_interval = stream_interval
        self.chunk = chunk
        self.ble_fault = BleFault.NONE
        self._rng = random.Random(seed)
        self._stream: asyncio.Task | None = None
        self._pending = bytearray()
        self._flush: asyncio.TimerHandle | None = None

    def on_write(self, char_uuid: str, data: bytes, with_response: bool) -> None:
        streams = self.model.requests.get(jk02.CMD_CELL_INFO, 0)
        reply = self.model.handle(data)
        if self.ble_fault is BleFault.JUNK:
            reply = WRITE_ACK + reply
        self._send(reply)
        if self.model.requests.get(jk02.CMD_CELL_INFO, 0) > streams and self._stream is None:
            self._stream = asyncio.get_running_loop().create_task(self._stream_cell_info())

    def on_disconnect(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
            self._stream = None
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self._pending.clear()

    def _flush_pending(self) -> None:
        self._flush = None
        data, self._pending = bytes(self._pending), bytearray()
        for i in range(0, len(data), self.chunk):
            self.notify(CHAR_UUID, data[i : i + self.chunk])

    async def _stream_cell_info(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.stream_interval)
            now = loop.time()
            self.model.pack.advance(now - last)
            last = now
            self._send(self.model.cell_info())

    def _send(self, data: bytes) -> None:
        """Cuts ``data`` into notifications as the fault in force says."""
        fault = self.ble_fault
        if fault is BleFault.SILENT or not data:
            return
        if fault is BleFault.JUNK:
            data = AT_JUNK + data + AT_JUNK
        if fault is BleFault.MERGED:
            # Hold back a random tail so it leaves glued to the start of the next record, as a UART
            # bridge does when the next bytes arrive before its idle timeout sends the buffer.
            data = bytes(self._pending) + data
            keep = self._rng.randint(1, min(len(data) - 1, self.chunk))
            self._pending[:] = data[-keep:]
            data = data[:-keep]
            if self._flush is None:
                self._flush = asyncio.get_running_loop().call_later(BRIDGE_IDLE_TIMEOUT, self._flush_pending)
        limit = min(self.chunk, self.mtu - 3)
        pieces = []
        while data:
            size = self._rng.randint(1, limit) if fault in (BleFault.SPLIT, BleFault.MERGED) else limit
            pieces.append(data[:size])
            data = data[size:]
        for i, piece in enumerate(pieces):
            self.notify(CHAR_UUID, piece)
            if fault is BleFault.DROP_MID_FRAME and i == 0:
                self.drop_connection()
                return
