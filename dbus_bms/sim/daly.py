"""A Daly Smart BMS answering the classic ``A5`` protocol, driven by a simulated pack.

It answers each read command as Daly's BMS does, the cells in all 16 frames of its 48 cell slots,
and echoes a MOS command (0xDA charge, 0xD9 discharge) after switching that MOS, which 0x93
then reads back. A fault damages every frame of a reply.
"""

from __future__ import annotations

import random

from ..protocols import daly
from ..protocols.framing import good_frames
from .faults import Fault, apply_fault
from .pack import SimPack

_SWITCH_BY_COMMAND = {command: which for which, command in daly.SWITCH_COMMANDS.items()}


class DalySimulator:
    """Feed it what the host wrote; it returns the bytes a Daly would send back."""

    def __init__(self, pack: SimPack | None = None, *, seed: int = 7, cell_frames: int = 16) -> None:
        self.pack = pack or SimPack()
        self.cell_frames = cell_frames
        self.switches = {"charge": True, "discharge": True}
        # The 0x98 alarm bits (bit 0: byte 0 bit 0) and fault code the BMS reports.
        self.failures = 0
        self.fault_code = 0
        self.fault = Fault.NONE
        self.requests = 0
        self.writes = 0
        # False: a MOS command is echoed but changes nothing, as a BMS that refuses it.
        self.takes_writes = True
        self._rng = random.Random(seed)
        self._rx = daly.DalyAssembler()

    def handle(self, data: bytes) -> bytes:
        self._rx.feed(data)
        out = bytearray()
        for frame in good_frames(self._rx):  # a real BMS ignores a request it cannot read
            if daly.is_reply(frame):
                continue
            command = daly.command_of(frame)
            if command in _SWITCH_BY_COMMAND:
                self.writes += 1
                if self.takes_writes:
                    self.switches[_SWITCH_BY_COMMAND[command]] = frame[4] != 0
                out += apply_fault(self.fault, daly.build_frame(daly.BMS_ADDRESS, command, frame[4:12]), self._rng)
            elif command in daly.READ_COMMANDS:
                self.requests += 1
                for reply in self.replies()[command]:
                    out += apply_fault(self.fault, reply, self._rng)
        return bytes(out)

    def replies(self) -> dict[int, list[bytes]]:
        sample = self.pack.sample()
        sample.switches = dict(self.switches)
        return daly.encode_replies(sample, cell_frames=self.cell_frames, failures=self.failures,
                                   fault_code=self.fault_code)
