"""An older Supervolt battery answering its ASCII protocol, driven by a simulated pack, behind its
Nordic UART Service module. It answers the realtime and the capacity request; any other frame goes
unanswered."""

from __future__ import annotations

import random

from ..protocols import supervolt
from ..protocols.framing import good_frames
from .ble_bridge import UartBridgePeripheral
from .faults import Fault, apply_fault
from .pack import SimPack


class SupervoltSimulator:
    """Feed it what the host wrote; it returns the bytes the battery would send back."""

    def __init__(self, pack: SimPack | None = None, *, seed: int = 7) -> None:
        self.pack = pack or SimPack(cells=4)
        self.fault = Fault.NONE
        # Working-state bits the battery raises besides charging, discharging and its FETs.
        self.protections = 0
        self.requests = 0
        self._rng = random.Random(seed)
        self._rx = supervolt.SupervoltAssembler((supervolt.REQUEST_SIZE,))

    def handle(self, data: bytes) -> bytes:
        self._rx.feed(data)
        out = bytearray()
        for frame in good_frames(self._rx):  # a request it cannot read is ignored
            self.requests += 1
            sample = self.pack.sample()
            if frame == supervolt.REQUEST_REALTIME:
                current = sample.current or 0
                state = ((supervolt.CHARGING if current > 0 else 0) | (supervolt.DISCHARGING if current < 0 else 0)
                         | supervolt.CFET_ON | supervolt.DFET_ON | self.protections)
                out += apply_fault(self.fault, supervolt.encode_realtime(sample, state=state), self._rng)
            elif frame == supervolt.REQUEST_CAPACITY:
                out += apply_fault(self.fault, supervolt.encode_capacity(sample), self._rng)
        return bytes(out)


def supervolt_ble_module(index: int, *, cells: int = 4, seed: int = 1) -> UartBridgePeripheral:
    """Simulated Supervolt module number ``index`` (MAC 84:28:D7:00:00:<index + 1>, named libatt) on a
    fresh pack of ``cells`` (at most 16)."""
    return UartBridgePeripheral(
        SupervoltSimulator(SimPack(cells=min(cells, supervolt.CELL_SLOTS), capacity_ah=100.0, seed=seed), seed=seed),
        address=f"84:28:D7:00:00:{index + 1:02X}", name="libatt",
        service_uuid=supervolt.BLE_SERVICE_UUID, notify_uuid=supervolt.BLE_NOTIFY_UUID,
        write_uuid=supervolt.BLE_WRITE_UUID, seed=seed,
    )
