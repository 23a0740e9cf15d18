"""A Daly Smart BMS behind its newer Bluetooth LE module, answering the Modbus-style protocol
(``D2 03`` reads, ``D2 06`` writes), driven by a simulated pack.

Any run of registers can be read (those it does not hold read 0); the charge and discharge MOS
registers (0x00A5, 0x00A6) can be written, and the write is echoed; a write to any other register
is refused with exception code 2, a read of more than 125 registers with code 3. Classic ``A5``
frames go unanswered, as on the real module. A fault damages every reply.
"""

from __future__ import annotations

import random
import struct

from ..protocols import daly_modbus
from ..protocols.framing import good_frames
from .faults import Fault, apply_fault
from .pack import SimPack

_SWITCH_BY_REGISTER = {register: which for which, register in daly_modbus.SWITCH_REGISTERS.items()}
_MAX_READ = 125  # registers, as a Modbus read allows
_ILLEGAL_ADDRESS, _ILLEGAL_VALUE = 2, 3


class DalyModbusSimulator:
    """Feed it what the host wrote; it returns the bytes the BMS would send back."""

    def __init__(self, pack: SimPack | None = None, *, seed: int = 7, sw_version: str = "SIM_401012",
                 hw_version: str = "BMS-SIM") -> None:
        self.pack = pack or SimPack()
        self.sw_version = sw_version
        self.hw_version = hw_version
        self.switches = {"charge": True, "discharge": True}
        # The classic protocol's 0x98 alarm bits the BMS reports.
        self.failures = 0
        self.fault = Fault.NONE
        # Reads per start register, and every write taken or refused.
        self.requests: dict[int, int] = {}
        self.writes = 0
        # False: a MOS write is echoed but changes nothing, as a BMS that ignores it.
        self.takes_writes = True
        self._rng = random.Random(seed)
        self._rx = daly_modbus.ModbusAssembler(requests=True)

    def handle(self, data: bytes) -> bytes:
        self._rx.feed(data)
        out = bytearray()
        for frame in good_frames(self._rx):  # a request that does not check is ignored
            _, function, register, value = struct.unpack_from(">BBHH", frame)
            out += self._faulty(self._answer(frame, function, register, value))
        return bytes(out)

    def _faulty(self, reply: bytes) -> bytes:
        if self.fault is Fault.BAD_CHECKSUM and len(reply) < 9:  # too short to damage inside: its CRC then
            return reply[:-1] + bytes([reply[-1] ^ 0x10])
        return apply_fault(self.fault, reply, self._rng)

    def _answer(self, frame: bytes, function: int, register: int, value: int) -> bytes:
        if function == daly_modbus.READ:
            self.requests[register] = self.requests.get(register, 0) + 1
            if not 1 <= value <= _MAX_READ:
                return daly_modbus.build_refusal(function, _ILLEGAL_VALUE)
            return daly_modbus.build_read_reply(self.registers(), register, value)
        self.writes += 1
        which = _SWITCH_BY_REGISTER.get(register)
        if which is None or value > 1:
            return daly_modbus.build_refusal(function, _ILLEGAL_ADDRESS)
        if self.takes_writes:
            self.switches[which] = bool(value)
        return frame

    def registers(self) -> dict[int, int]:
        sample = self.pack.sample()
        sample.switches = dict(self.switches)
        return daly_modbus.encode_registers(sample, failures=self.failures, sw_version=self.sw_version,
                                            hw_version=self.hw_version)
