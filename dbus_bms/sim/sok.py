"""A SOK battery's BMS (ABC-BMS) answering its BLE protocol, driven by a simulated pack, behind its
module (service FFE0, notifying on FFE1, written to on FFE2). Like the BMS it answers one request
fully before the next; with ``reports_protection`` False it leaves C4 unanswered, as some firmware
does."""

from __future__ import annotations

import random

from ..protocols import sok
from ..protocols.framing import good_frames
from .ble_bridge import UartBridgePeripheral
from .faults import Fault, apply_fault
from .pack import SimPack


class SokSimulator:
    """Feed it what the host wrote; it returns the bytes the BMS would send back."""

    def __init__(self, pack: SimPack | None = None, *, name: str = "SOK-BMS", seed: int = 7) -> None:
        self.pack = pack or SimPack()
        self.name = name
        self.fault = Fault.NONE
        # The protection flags the BMS reports (a test sets them), and whether it answers C4.
        self.protection = 0
        self.reports_protection = True
        self.requests = 0
        self._rng = random.Random(seed)
        self._rx = sok.SokAssembler(requests=True)

    def handle(self, data: bytes) -> bytes:
        self._rx.feed(data)
        out = bytearray()
        for frame in good_frames(self._rx):  # a request it cannot read is ignored
            self.requests += 1
            for reply in self._replies(frame[1]):
                out += apply_fault(self.fault, reply, self._rng)
        return bytes(out)

    def _replies(self, command: int) -> list[bytes]:
        sample = self.pack.sample()
        if command == sok.CMD_NAME:
            return [sok.encode_name(self.name)]
        if command == sok.CMD_INFO:
            return [sok.encode_status(sample), sok.encode_state(sample)]
        if command == sok.CMD_DETAIL:
            return [sok.encode_status(sample), sok.encode_detail(sample), *sok.encode_cells(sample.cell_voltages)]
        if command == sok.CMD_PROTECTION and self.reports_protection:
            return [sok.encode_protection(self.protection)]
        return []


def sok_ble_module(index: int, *, cells: int = 16, seed: int = 1) -> UartBridgePeripheral:
    """Simulated SOK module number ``index`` (MAC 50:4B:53:00:00:<index + 1>, named SOK-...) on a
    fresh pack. It advertises service FFF0, as the description has it, and bridges on FFE0."""
    return UartBridgePeripheral(
        SokSimulator(SimPack(cells=cells, capacity_ah=100.0, seed=seed), seed=seed),
        address=f"50:4B:53:00:00:{index + 1:02X}", name=f"SOK-24V100-{index:02d}",
        service_uuid=sok.BLE_SERVICE_UUID, notify_uuid=sok.BLE_NOTIFY_UUID, write_uuid=sok.BLE_WRITE_UUID,
        advertised_uuids=[sok.BLE_ADVERTISED_UUID], seed=seed,
    )
