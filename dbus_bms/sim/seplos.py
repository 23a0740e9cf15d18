"""A Seplos v2 BMS answering its RS485 ASCII protocol, driven by a simulated pack; several of
them on one line make a bus (``SeplosBus``).

It answers telemetry (0x42), alarms (0x44) and the device name (0x51) at its own address, refuses
any other command with return code 0x04 as the protocol asks, and stays silent to a request for
another address or one it cannot read.
"""

from __future__ import annotations

import random

from ..model import DeviceInfo
from ..protocols import seplos
from ..protocols.errors import ProtocolError
from ..protocols.framing import good_frames
from .faults import Fault, apply_fault
from .pack import SimPack
from .pack_bus import PackBus

_COMMAND_NOT_SUPPORTED = 0x04


class SeplosSimulator:
    """Feed it what the host wrote; it returns the bytes a Seplos v2 would send back."""

    def __init__(self, pack: SimPack | None = None, *, address: int = 0, seed: int = 7) -> None:
        self.pack = pack or SimPack()
        self.address = address
        # Seplos v2 reports no serial number; the model and firmware come with 0x51.
        self.device = DeviceInfo(model="1101-SP16", sw_version="2.8")
        self.fault = Fault.NONE
        # Victron alarm name → level that the alarm replies raise (through the protocol's event bits).
        self.alarms: dict[str, int] = {}
        self.requests: dict[int, int] = {}
        self._rng = random.Random(seed)
        self._rx = seplos.SeplosAssembler()

    def handle(self, data: bytes) -> bytes:
        self._rx.feed(data)
        out = bytearray()
        for frame in good_frames(self._rx):
            try:
                request = seplos.parse_frame(frame)
            except ProtocolError:
                continue
            if request.address != self.address or request.cid1 != seplos.CID1_BMS:
                continue
            self.requests[request.cid2] = self.requests.get(request.cid2, 0) + 1
            out += apply_fault(self.fault, self.reply(request.cid2), self._rng)
        return bytes(out)

    def reply(self, command: int) -> bytes:
        sample = self.pack.sample()
        sample.alarms = dict(self.alarms)
        if command == seplos.CMD_TELEMETRY:
            info = seplos.encode_telemetry(sample, ambient=round(self.pack.temperature - 1.0, 1))
        elif command == seplos.CMD_ALARMS:
            info = seplos.encode_alarms(sample)
        elif command == seplos.CMD_DEVICE_NAME:
            info = seplos.encode_device_name(self.device.model or "", self.device.sw_version or "0.0", "CANProtocol:Victron")
        else:
            return seplos.build_frame(_COMMAND_NOT_SUPPORTED, address=self.address)
        return seplos.build_frame(0x00, info, address=self.address)


class SeplosBus(PackBus):
    """Several Seplos v2 packs on one RS485 line, each at its address with its own pack and fault;
    feed it what the host wrote, it returns what the packs send back. ``echo``: an adapter that
    puts the host's own bytes in front of every reply."""

    def __init__(self, addresses: tuple[int, ...] = (0, 1), *, cells: int = 16, seed: int = 7, echo: bool = False) -> None:
        if len(set(addresses)) != len(addresses) or not all(0 <= a <= 15 for a in addresses):
            raise ValueError(f"addresses {addresses} are not distinct ones of 0-15")
        super().__init__({a: SeplosSimulator(SimPack(cells=cells, seed=seed + a), address=a, seed=seed + a)
                          for a in addresses}, echo=echo)

    def handle(self, data: bytes) -> bytes:
        return (data if self.echo else b"") + b"".join(sim.handle(data) for sim in self.packs.values())
