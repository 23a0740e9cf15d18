"""A JK BMS answering with 300-byte records, driven by a simulated pack: the device model behind
the BLE simulator, free of any transport.

0x97 → device info. 0x96 → settings once, then cell info; over BLE a real JK keeps streaming cell
info after that, which the BLE adapter drives through ``cell_info()``. A switch write (JK02: 0x1D
charge, 0x1E discharge, 0x1F balancer; JK04: 0x6C balancer; value 1 or 0) sets the switch in the
settings, and the FETs in the cell info follow their switches.
"""

from __future__ import annotations

import dataclasses
import random
import struct

from ..model import DeviceInfo
from ..protocols import jk02
from ..protocols.framing import good_frames
from .faults import Fault, apply_fault
from .pack import SimPack

_SWITCH_FIELDS = {"charge": "charge_switch", "discharge": "discharge_switch", "balance": "balancer_switch"}

# What each layout's hardware reports in its device info; the firmware version is what a reader
# uses to tell the layouts apart.
DEVICES = {
    "24s": DeviceInfo(model="JK-B2A24S15P", hw_version="10.XW", sw_version="10.09", serial="SIMJK24S001"),
    "32s": DeviceInfo(model="JK-B2A24S20P", hw_version="11.XW", sw_version="11.26", serial="SIMJK32S001"),
    "jk04": DeviceInfo(model="JK-B2A16S", hw_version="3.0", sw_version="3.3.0", serial="SIMJK04001"),
}


class JkRecordSimulator:
    """Feed it what the host wrote; it returns the records a JK would send back."""

    def __init__(self, pack: SimPack | None = None, *, layout: str = "32s", serial: str | None = None, seed: int = 7) -> None:
        self.pack = pack or SimPack()
        self.layout = layout
        base = DEVICES[layout]
        self.device = DeviceInfo(base.model, base.hw_version, base.sw_version, serial or base.serial)
        self.settings = jk02.JkSettings(
            cell_count=self.pack.cells,
            cell_ovp=3.65,
            cell_ovp_recovery=3.55,
            cell_uvp=2.70,
            cell_uvp_recovery=2.90,
            max_charge_current=150.0,
            max_discharge_current=200.0,
            balance_trigger_voltage=0.005,
            balance_start_voltage=3.40,
            charge_max_temperature=55.0,
            discharge_max_temperature=60.0,
            charge_min_temperature=0.0,
            charge_switch=True,
            discharge_switch=True,
            balancer_switch=True,
            nominal_capacity=self.pack.capacity_ah,
        )
        self.fault = Fault.NONE
        # Byte offset → bytes written over every cell-info record before its checksum is made:
        # a corrupt value that a sum8 let through, or a BMS that sends nonsense with a valid record.
        self.corrupt: dict[int, bytes] | None = None
        self.requests: dict[int, int] = {}
        self.counter = 0
        self._rng = random.Random(seed)
        self._rx = jk02.CommandAssembler()
        self._switch_fields = {register: _SWITCH_FIELDS[which] for which, register in jk02.switch_registers(layout).items()}

    def handle(self, data: bytes) -> bytes:
        self._rx.feed(data)
        out = bytearray()
        for frame in good_frames(self._rx):  # a real BMS ignores a request it cannot read
            command = frame[4]
            self.requests[command] = self.requests.get(command, 0) + 1
            if command == jk02.CMD_DEVICE_INFO:
                out += self._out(jk02.encode_device_info(self.device, self.layout))
            elif command == jk02.CMD_CELL_INFO:
                out += self._out(jk02.encode_settings(self.settings, self.layout)) + self.cell_info()
            elif command in self._switch_fields:
                on = struct.unpack_from("<I", frame, 6)[0] != 0
                self.settings = dataclasses.replace(self.settings, **{self._switch_fields[command]: on})
        return bytes(out)

    def cell_info(self) -> bytes:
        """The next cell-info record, as the stream after 0x96 sends it."""
        self.counter = (self.counter + 1) & 0xFF
        sample = self.pack.sample()
        sample.charge_enabled = bool(self.settings.charge_switch)
        sample.discharge_enabled = bool(self.settings.discharge_switch)
        sample.soh = 100.0  # a JK always sends it: a record with 0 there reads as a dead pack
        record = jk02.encode_cell_info(sample, self.layout, self.counter)
        if self.corrupt:
            damaged = bytearray(record)
            for offset, data in self.corrupt.items():
                if not 0 <= offset <= jk02.RECORD_LEN - 1 - len(data):
                    raise ValueError(f"{len(data)} bytes at offset {offset} do not fit before the checksum")
                damaged[offset : offset + len(data)] = data
            damaged[-1] = jk02.checksum(damaged[:-1])
            record = bytes(damaged)
        return self._out(record)

    def _out(self, record: bytes) -> bytes:
        return apply_fault(self.fault, record, self._rng)

