"""A JK BMS answering the "NW" serial protocol, driven by a simulated pack.

A write of the charge or discharge switch (0xAB, 0xAC) sets it, and the FET follows its switch.
No public source shows what a JK answers to a write; this one echoes the register and value in a
reply frame, which the reader takes without looking inside.
"""

from __future__ import annotations

import random

from ..model import BmsSettings, DeviceInfo
from ..protocols import jk_nw
from ..protocols.framing import good_frames
from .faults import Fault, apply_fault
from .pack import SimPack

_READ_ALL = 0x06
_SWITCH_BY_REGISTER = {register: which for which, register in jk_nw.SWITCH_REGISTERS.items()}
_REPLY = 0x01


class JkNwSimulator:
    """Feed it what the host wrote; it returns the bytes a JK would send back."""

    def __init__(self, pack: SimPack | None = None, *, serial: str = "SIM-JK-0001", seed: int = 7) -> None:
        self.pack = pack or SimPack()
        self.device = DeviceInfo(model="JK-B2A24S15P", sw_version="10.XW_S10.08_", serial=serial)
        # A LiFePO4 set-up as JK's app suggests it; ``settings`` changes what the replies carry.
        self.settings = BmsSettings(
            cell_ovp=3.65, cell_ovp_recovery=3.55, cell_uvp=2.70, cell_uvp_recovery=2.90, max_charge_current=150.0,
            max_discharge_current=200.0, charge_max_temperature=55.0, discharge_max_temperature=60.0,
            charge_min_temperature=0.0, discharge_min_temperature=-20.0, balance_start_voltage=3.40,
            balance_trigger_voltage=0.010, cell_count=self.pack.cells,
        )
        self.switches = {"charge": True, "discharge": True, "balance": True}
        self.fault = Fault.NONE
        self.requests = 0
        # Write frames received, whatever they wrote; with ``takes_writes`` False they are answered
        # but change nothing, as firmware that ignores a register's write does.
        self.writes = 0
        self.takes_writes = True
        self._rng = random.Random(seed)
        self._rx = jk_nw.NwAssembler()

    def handle(self, data: bytes) -> bytes:
        self._rx.feed(data)
        out = bytearray()
        for frame in good_frames(self._rx):  # a real BMS ignores a request it cannot read
            if frame[8] == _READ_ALL:
                self.requests += 1
                out += apply_fault(self.fault, self.reply(), self._rng)
            elif frame[8] == jk_nw.CMD_WRITE:
                self.writes += 1
                out += self._write(frame[11:-9])
        return bytes(out)

    def _write(self, data: bytes) -> bytes:
        which = _SWITCH_BY_REGISTER.get(data[0]) if len(data) == 2 else None
        if which is None:
            return b""
        if self.takes_writes:
            self.switches[which] = data[1] != 0
        return jk_nw.build_frame(jk_nw.CMD_WRITE, data, source=jk_nw.SOURCE_BMS, transport=_REPLY)

    def reply(self) -> bytes:
        sample = self.pack.sample()
        sample.device = self.device
        sample.bms_settings = self.settings
        sample.switches = dict(self.switches)
        sample.charge_enabled = self.switches["charge"]
        sample.discharge_enabled = self.switches["discharge"]
        return jk_nw.encode_status(sample)
