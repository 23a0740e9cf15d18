"""A Seplos v2 pack behind its Bluetooth LE module, answering the binary form of the protocol:
the pack telemetry (0x61) and the device name (0x51); any other command is refused with return
code 0x04, and a request it cannot read goes unanswered. A fault damages every reply.
"""

from __future__ import annotations

import random

from ..model import DeviceInfo
from ..protocols import seplos
from ..protocols.framing import good_frames
from .ble_bridge import UartBridgePeripheral
from .faults import Fault, apply_fault
from .pack import SimPack

_COMMAND_NOT_SUPPORTED = 0x04


class SeplosBleSimulator:
    """Feed it what the host wrote; it returns the bytes the module would notify."""

    def __init__(self, pack: SimPack | None = None, *, seed: int = 7) -> None:
        self.pack = pack or SimPack()
        self.device = DeviceInfo(model="B1101-SP16", sw_version="16.6")
        self.fault = Fault.NONE
        self.requests: dict[int, int] = {}
        self._rng = random.Random(seed)
        self._rx = seplos.BinaryAssembler()

    def handle(self, data: bytes) -> bytes:
        self._rx.feed(data)
        out = bytearray()
        for frame in good_frames(self._rx):
            if frame[3] != seplos.CID1_BMS:  # not a request
                continue
            command = frame[4]
            self.requests[command] = self.requests.get(command, 0) + 1
            out += apply_fault(self.fault, self.reply(command), self._rng)
        return bytes(out)

    def reply(self, command: int) -> bytes:
        if command == seplos.CMD_PACK_TELEMETRY:
            sample = self.pack.sample()
            info = seplos.encode_telemetry(sample, ambient=round(self.pack.temperature - 1.0, 1))
        elif command == seplos.CMD_BINARY_NAME:
            info = seplos.encode_binary_name(self.device.model or "", self.device.sw_version or "0.0")
        else:
            return seplos.build_binary_reply(command, b"", rtn=_COMMAND_NOT_SUPPORTED)
        return seplos.build_binary_reply(command, info)


def seplos_ble_module(index: int, *, cells: int = 16, seed: int = 1) -> UartBridgePeripheral:
    """Simulated Seplos v2 BLE module number ``index`` (MAC 5E:9A:05:00:00:<index + 1>, named
    BP<index>) on a fresh pack."""
    address = f"5E:9A:05:00:00:{index + 1:02X}"
    return UartBridgePeripheral(
        SeplosBleSimulator(SimPack(cells=cells, seed=seed), seed=seed),
        address=address,
        name=f"BP{index:02d}",
        service_uuid=seplos.BLE_SERVICE_UUID,
        notify_uuid=seplos.BLE_NOTIFY_UUID,
        write_uuid=seplos.BLE_WRITE_UUID,
        seed=seed,
    )
