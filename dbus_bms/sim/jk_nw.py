"""A JK BMS answering the "NW" serial protocol, driven by a simulated pack."""

from __future__ import annotations

import random

from ..model import DeviceInfo
from ..protocols import jk_nw
from ..protocols.framing import good_frames
from .faults import Fault, apply_fault
from .pack import SimPack

_READ_ALL = 0x06


class JkNwSimulator:
    """Feed it what the host wrote; it returns the bytes a JK would send back."""

    def __init__(self, pack: SimPack | None = None, *, serial: str = "SIM-JK-0001", seed: int = 7) -> None:
        self.pack = pack or SimPack()
        self.device = DeviceInfo(model="JK-B2A24S15P", sw_version="10.XW_S10.08_", serial=serial)
        self.fault = Fault.NONE
        self.requests = 0
        self._rng = random.Random(seed)
        self._rx = jk_nw.NwAssembler()

    def handle(self, data: bytes) -> bytes:
        self._rx.feed(data)
        out = bytearray()
        for frame in good_frames(self._rx):  # a real BMS ignores a request it cannot read
            if frame[8] == _READ_ALL:
                self.requests += 1
                out += apply_fault(self.fault, self.reply(), self._rng)
        return bytes(out)

    def reply(self) -> bytes:
        sample = self.pack.sample()
        sample.device = self.device
        return jk_nw.encode_status(sample)
