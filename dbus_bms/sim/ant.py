"""An ANT BMS on its serial port, driven by a simulated pack: speaking the 2021+ protocol, or with
``legacy`` the old one. Each ignores the other's requests, as the real boards do. ``ant_ble_module``
puts one behind the BLE module, advertising as real ones do."""

from __future__ import annotations

import random
import struct

from ..model import DeviceInfo
from ..protocols import ant, ant_legacy
from .ble_bridge import UartBridgePeripheral
from .faults import Fault, apply_fault
from .pack import SimPack

_REQUEST_SIZE = 10
# What real boards send between a device-info reply's checksum and its end mark.
_INFO_TRAILER = bytes.fromhex("ff0b000041f2")


class AntSimulator:
    """Feed it what the host wrote; it returns the bytes an ANT would send back."""

    def __init__(self, pack: SimPack | None = None, *, legacy: bool = False, seed: int = 7) -> None:
        self.pack = pack or SimPack()
        self.legacy = legacy
        self.device = DeviceInfo(model="16ZM", sw_version="16ZMUB00-211026A")
        self.fault = Fault.NONE
        self.requests = 0
        # The MOSFET and balancer status codes replies carry; None: from the pack's state.
        self.charge_code: int | None = None
        self.discharge_code: int | None = None
        self.balancer_code: int | None = None
        self._rng = random.Random(seed)
        self._rx = bytearray()

    def handle(self, data: bytes) -> bytes:
        self._rx += data
        out = bytearray()
        while True:
            reply = self._next_request()
            if reply is None:
                return bytes(out)
            if reply:
                self.requests += 1
                out += apply_fault(self.fault, reply, self._rng)

    def _next_request(self) -> bytes | None:
        """The reply to the next complete request held (b"" for one it ignores); None when none."""
        starts = [i for i in (self._rx.find(ant.HEADER), self._rx.find(ant_legacy.STATUS_REQUEST)) if i >= 0]
        if not starts:
            del self._rx[: max(0, len(self._rx) - _REQUEST_SIZE)]
            return None
        start = min(starts)
        del self._rx[:start]
        if self._rx.startswith(ant_legacy.STATUS_REQUEST):
            del self._rx[: len(ant_legacy.STATUS_REQUEST)]
            return self._legacy_status() if self.legacy else b""
        if len(self._rx) < _REQUEST_SIZE:
            return None
        request = bytes(self._rx[:_REQUEST_SIZE])
        if request[6:8] != struct.pack("<H", ant.crc16(request[1:6])) or request[8:] != ant.TAIL:
            del self._rx[:2]  # a real BMS ignores a request it cannot read
            return b""
        del self._rx[:_REQUEST_SIZE]
        if self.legacy:
            return b""
        if request[2] == ant.FUNC_STATUS:
            return self._status()
        if request[2] == ant.FUNC_DEVICE_INFO:
            info = ant.encode_device_info(self.device)
            return info[:-2] + _INFO_TRAILER + ant.TAIL
        return b""

    def _codes(self) -> dict[str, int | None]:
        return {"charge": self.charge_code, "discharge": self.discharge_code, "balancer": self.balancer_code}

    def _status(self) -> bytes:
        return ant.encode_status(self.pack.sample(), **self._codes())

    def _legacy_status(self) -> bytes:
        return ant_legacy.encode_status(self.pack.sample(), **self._codes())


# Legacy modules also advertise service FEE7, next to FFE0.
_LEGACY_EXTRA_UUID = "0000fee7-0000-1000-8000-00805f9b34fb"


def ant_ble_module(index: int, *, cells: int = 16, seed: int = 1, legacy: bool = False) -> UartBridgePeripheral:
    """Simulated ANT BLE module number ``index`` (MAC 22:DD:65:00:00:<index + 1>) on a fresh pack;
    legacy modules notify 19 bytes at a time, as recorded."""
    address = f"22:DD:65:00:00:{index + 1:02X}"
    mac = bytes.fromhex(address.replace(":", ""))
    return UartBridgePeripheral(
        AntSimulator(SimPack(cells=cells, seed=seed), legacy=legacy, seed=seed),
        address=address,
        name=f"ANT-BLE{'16S' if legacy else '24C'}-{index:03d}",
        service_uuid=ant.BLE_SERVICE_UUID,
        notify_uuid=ant.BLE_CHAR_UUID,
        write_uuid=ant.BLE_CHAR_UUID,
        chunk=19 if legacy else 20,
        manufacturer_data={ant.BLE_MANUFACTURER_ID: ant.BLE_DATA_PREFIX + mac},
        advertised_uuids=[ant.BLE_SERVICE_UUID, *([_LEGACY_EXTRA_UUID] if legacy else [])],
        seed=seed,
    )
