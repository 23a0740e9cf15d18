"""A CBT Power smart BMS answering its "AA 55" protocol, and a Creabest VB series one answering its
ASCII protocol, each driven by a simulated pack behind the same BLE module (writes on FFE9 of
service FFE5, notifications on FFE4 of service FFE0)."""

from __future__ import annotations

import random

from ..protocols import cbtpwr, cbtpwr_vb
from ..protocols.framing import good_frames
from .ble_bridge import UartBridgePeripheral
from .ble_peripheral import Char, Service
from .faults import Fault, apply_fault
from .pack import SimPack


class CbtPowerSimulator:
    """Feed it what the host wrote; it returns the bytes a CBT Power BMS would send back. A command
    it does not know goes unanswered."""

    def __init__(self, pack: SimPack | None = None, *, seed: int = 7) -> None:
        self.pack = pack or SimPack()
        self.fault = Fault.NONE
        # The problem code the BMS reports (a test sets it).
        self.problem = 0
        self.requests = 0
        self._rng = random.Random(seed)
        self._rx = cbtpwr.CbtAssembler(cbtpwr.REQUEST_END)

    def handle(self, data: bytes) -> bytes:
        self._rx.feed(data)
        out = bytearray()
        for frame in good_frames(self._rx):  # a request it cannot read is ignored
            self.requests += 1
            command = cbtpwr.command_of(frame)
            if command in cbtpwr.CMD_CELLS:
                reply = cbtpwr.encode_cells(command, self.pack.cell_voltages())
            else:
                reply = cbtpwr.encode_status(self.pack.sample(), problem=self.problem).get(command, b"")
            if reply:
                out += apply_fault(self.fault, reply, self._rng)
        return bytes(out)


class CbtPowerVbSimulator:
    """Feed it what the host wrote; it returns the bytes a Creabest VB BMS would send back: the
    status (0x42) and the capacity (0x81); other commands go unanswered."""

    def __init__(self, pack: SimPack | None = None, *, seed: int = 7) -> None:
        self.pack = pack or SimPack()
        self.fault = Fault.NONE
        self.requests = 0
        self._rng = random.Random(seed)
        self._rx = cbtpwr_vb.VbAssembler()

    def handle(self, data: bytes) -> bytes:
        self._rx.feed(data)
        out = bytearray()
        for frame in good_frames(self._rx):  # a request it cannot read is ignored
            self.requests += 1
            if frame == cbtpwr_vb.STATUS_REQUEST:
                out += apply_fault(self.fault, cbtpwr_vb.encode_status(self.pack.sample()), self._rng)
            elif frame == cbtpwr_vb.CAPACITY_REQUEST:
                out += apply_fault(self.fault, cbtpwr_vb.encode_capacity(self.pack.sample()), self._rng)
        return bytes(out)


class CbtPowerBleModule(UartBridgePeripheral):
    """The module: it advertises ``advertised`` (its write service FFE5 unless given) and notifies on
    another service, FFE0."""

    def __init__(self, bms: CbtPowerSimulator | CbtPowerVbSimulator, *, address: str, name: str,
                 advertised: str = cbtpwr.BLE_WRITE_SERVICE_UUID, seed: int = 1) -> None:
        super().__init__(bms, address=address, name=name, service_uuid=cbtpwr.BLE_WRITE_SERVICE_UUID,
                         notify_uuid=cbtpwr.BLE_NOTIFY_UUID, write_uuid=cbtpwr.BLE_WRITE_UUID,
                         advertised_uuids=[advertised], seed=seed)
        self.services = [
            Service(cbtpwr.BLE_WRITE_SERVICE_UUID, [Char(cbtpwr.BLE_WRITE_UUID, ["write", "write-without-response"])]),
            Service(cbtpwr.BLE_NOTIFY_SERVICE_UUID, [Char(cbtpwr.BLE_NOTIFY_UUID, ["read", "notify"])]),
        ]


def cbtpwr_ble_module(index: int, *, cells: int = 16, seed: int = 1) -> CbtPowerBleModule:
    """Simulated CBT Power module number ``index`` (MAC 3C:A5:51:00:00:<index + 1>) on a fresh pack."""
    return CbtPowerBleModule(CbtPowerSimulator(SimPack(cells=cells, capacity_ah=100.0, seed=seed), seed=seed),
                             address=f"3C:A5:51:00:00:{index + 1:02X}", name=f"CBT-SIM{index:02d}", seed=seed)


def cbtpwr_vb_ble_module(index: int, *, cells: int = 16, seed: int = 1) -> CbtPowerBleModule:
    """Simulated Creabest VB module number ``index`` (MAC 3C:A5:52:00:00:<index + 1>) on a fresh pack."""
    return CbtPowerBleModule(CbtPowerVbSimulator(SimPack(cells=cells, capacity_ah=200.0, seed=seed), seed=seed),
                             address=f"3C:A5:52:00:00:{index + 1:02X}", name=f"VB2400{index:05d}",
                             advertised=cbtpwr_vb.BLE_ADVERTISED_UUID, seed=seed)
