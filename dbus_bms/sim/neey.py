"""A NEEY / Heltec active balancer as a BLE peripheral: the balancer on a simulated pack, behind its
module's service FFE0 (one characteristic FFE1 for requests and replies).

It answers a device-info and a settings request once, and after a cell-info request streams cell
info every ``stream_interval`` s until the link ends, as the real one does; a write to the balancer
register switches its balancer, acknowledged with a 20-byte frame, and its settings and status
show it. ``fault`` is one of ``sim/faults.Fault`` and applies to every frame sent.
"""

from __future__ import annotations

import asyncio
import random
import struct

from ..model import DeviceInfo
from ..protocols import neey
from .ble_peripheral import Char, Peripheral, Service
from .faults import Fault, apply_fault
from .pack import SimPack

# The module's own text between frames, as captures show.
AT_JUNK = b"AT\r\n"


def ble_address(i: int) -> str:
    """The MAC of simulated balancer number ``i`` (a block of its own)."""
    return f"3C:A5:4E:00:00:{i + 1:02X}"


class NeeyBalancer:
    """The balancer's side of the protocol, transport-free: ``handle(request) -> reply``, and
    ``cell_info()`` for the stream. ``layout`` is the cell-info tail it sends (``v1`` or ``v2``)."""

    def __init__(self, pack: SimPack, *, model: str = "GW-24S4EB", seed: int = 1) -> None:
        self.pack = pack
        self.device = DeviceInfo(model=model, hw_version="HW-2.8.0", sw_version="ZH-1.2.3")
        self.layout = neey.layout_for_model(model)
        self.balancer_on = True
        self.fault = Fault.NONE
        self.requests: dict[int, int] = {}
        self._counter = 0
        self._rng = random.Random(seed)

    def handle(self, request: bytes) -> bytes:
        if len(request) != neey.REQUEST_LEN or not request.startswith(neey.REQUEST_HEADER):
            return b""
        if request[-1] != neey.END or request[-2] != neey.checksum(request[:-2]):
            return b""
        function, command, register = request[3], request[4], request[5]
        self.requests[command] = self.requests.get(command, 0) + 1
        if function == neey.FUNCTION_WRITE and command == neey.TYPE_WRITE:
            if register == neey.BALANCER_REGISTER:
                self.balancer_on = bool(int.from_bytes(request[8:12], "little"))
            return self._out(neey.seal(neey.blank_reply(neey.TYPE_WRITE, neey.MIN_FRAME)))
        if command == neey.TYPE_DEVICE_INFO:
            return self._out(self.device_info())
        if command == neey.TYPE_SETTINGS:
            return self._out(self.settings())
        if command == neey.TYPE_CELL_INFO:
            return self._out(self.cell_info())
        return b""

    def _out(self, frame: bytes) -> bytes:
        return apply_fault(self.fault, frame, self._rng)

    def streamed(self) -> bytes:
        """The next cell-info frame of the stream, as the fault in force lets it out."""
        return self._out(self.cell_info())

    def device_info(self) -> bytes:
        frame = neey.blank_reply(neey.TYPE_DEVICE_INFO, neey.DEVICE_INFO_LEN)
        for offset, text in ((8, self.device.model), (24, self.device.hw_version), (32, self.device.sw_version)):
            raw = (text or "").encode("ascii")
            frame[offset : offset + len(raw)] = raw
        return neey.seal(frame)

    def settings(self) -> bytes:
        """The 100-byte settings frame (the layout that carries the switch)."""
        frame = neey.blank_reply(neey.TYPE_SETTINGS, neey.SETTINGS_V1_LEN)
        frame[8] = self.pack.cells
        struct.pack_into("<ff", frame, 9, 0.005, 4.0)
        struct.pack_into("<f", frame, 17, 3.0)
        frame[21] = int(self.balancer_on)
        frame[22], frame[23] = 0x01, 0x02  # buzzer off, LFP
        struct.pack_into("<If", frame, 24, round(self.pack.capacity_ah), 3.4)
        return neey.seal(frame)

    def status(self) -> int:
        if not self.balancer_on:
            return 0x06
        volts = self.pack.cell_voltages()
        return neey.STATUS_BALANCING if max(volts) - min(volts) > 0.005 else 0x06

    def cell_info(self) -> bytes:
        """One cell-info frame of the pack as it is now."""
        frame = neey.blank_reply(neey.TYPE_CELL_INFO, neey.CELL_INFO_LEN)
        self._counter = (self._counter + 1) & 0xFF
        frame[8] = self._counter
        volts = self.pack.cell_voltages()
        for i, (v, r) in enumerate(zip(volts, self.pack.resistance)):
            struct.pack_into("<f", frame, 9 + 4 * i, v)
            # The balancer's figure includes the sense lead, some 100 mΩ.
            struct.pack_into("<f", frame, 105 + 4 * i, 0.1 + r)
        total = sum(volts)
        struct.pack_into("<fff", frame, 201, total, total / len(volts), max(volts) - min(volts))
        frame[213] = volts.index(max(volts))
        frame[214] = volts.index(min(volts))
        frame[215] = len(volts) - 1
        frame[216] = self.status()
        t = self.pack.temperature
        if self.layout == "v1":
            struct.pack_into("<fff", frame, 217, 0.0, t, t)
        else:
            full = self.pack.capacity_ah
            struct.pack_into("<ffffff", frame, 218, 0.0, self.pack.current, t, t, self.pack.mosfet_temperature, t)
            struct.pack_into("<fff", frame, 242, full, full * self.pack.pack_soc / 100, self.pack.pack_soc)
        return neey.seal(frame)


class NeeyPeripheral(Peripheral):
    """``balancer`` behind the NEEY module's GATT table; replies go out in ``chunk``-byte notifications
    (``split``: cut at random places instead)."""

    def __init__(
        self, balancer: NeeyBalancer, *, address: str, name: str | None = None, stream_interval: float = 0.2,
        chunk: int = 20, seed: int = 1,
    ) -> None:
        super().__init__(
            address=address,
            name=name or balancer.device.model,
            rssi=-66,
            service_uuids=[neey.SERVICE_UUID],
            services=[Service(neey.SERVICE_UUID, [Char(neey.CHAR_UUID, ["read", "write", "write-without-response", "notify"])])],
        )
        self.bms = self.balancer = balancer
        self.stream_interval = stream_interval
        self.chunk = chunk
        self.split = False
        self._rng = random.Random(seed)
        self._stream: asyncio.Task | None = None
        self._last: float | None = None

    def on_write(self, char_uuid: str, data: bytes, with_response: bool) -> None:
        self._advance()
        self._send(self.balancer.handle(data))
        if len(data) > 4 and data[4] == neey.TYPE_CELL_INFO and self._stream is None:
            self._stream = asyncio.get_running_loop().create_task(self._stream_cell_info())

    def on_disconnect(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
            self._stream = None

    def _advance(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._last is not None:
            self.balancer.pack.advance(now - self._last)
        self._last = now

    async def _stream_cell_info(self) -> None:
        while True:
            await asyncio.sleep(self.stream_interval)
            self._advance()
            self._send(self.balancer.streamed())

    def _send(self, data: bytes) -> None:
        if not data:
            return
        data = AT_JUNK + data
        limit = min(self.chunk, self.mtu - 3)
        while data:
            size = self._rng.randint(1, limit) if self.split else limit
            self.notify(neey.CHAR_UUID, data[:size])
            data = data[size:]


def neey_peripheral(index: int, *, cells: int = 16, seed: int = 1, model: str = "GW-24S4EB") -> NeeyPeripheral:
    """Simulated balancer number ``index`` on a fresh pack of ``cells`` cells."""
    return NeeyPeripheral(NeeyBalancer(SimPack(cells=cells, seed=seed), model=model, seed=seed), address=ble_address(index),
                          seed=seed)
