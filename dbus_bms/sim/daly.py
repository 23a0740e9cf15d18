"""A Daly Smart BMS answering the classic ``A5`` protocol, driven by a simulated pack.

It answers each read command as Daly's BMS does, the cells in all 16 frames of its 48 cell slots,
and echoes a MOS command (0xDA charge, 0xD9 discharge) after switching that MOS, which 0x93
then reads back. It takes a SoC set with 0x21 (and the clock sent with it): from then on its SoC
counts from there, as a BMS whose coulomb counter was set. It answers requests from a UART host
(0x40) and from a BLE module (0x80) alike. A fault damages every frame of a reply.
"""

from __future__ import annotations

import random
from datetime import datetime

from ..protocols import daly
from ..protocols.errors import ProtocolError
from ..protocols.framing import good_frames
from .ble_bridge import UartBridgePeripheral
from .daly_modbus import DalyModbusSimulator
from .faults import Fault, apply_fault
from .pack import SimPack
from .pty_server import SimDevice

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
        # What 0x21 set: the SoC's offset from the pack's own, and the clock.
        self.soc_offset: float | None = None
        self.clock: datetime | None = None
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
            elif command == daly.SET_SOC:
                out += apply_fault(self.fault, self._set_soc(frame), self._rng)
            elif command in daly.READ_COMMANDS:
                self.requests += 1
                for reply in self.replies()[command]:
                    out += apply_fault(self.fault, reply, self._rng)
        return bytes(out)

    def _set_soc(self, frame: bytes) -> bytes:
        self.writes += 1
        try:
            percent, when = daly.parse_set_soc(frame)
        except ProtocolError:
            return daly.build_frame(daly.BMS_ADDRESS, daly.SET_SOC, b"\x00")
        if self.takes_writes:
            self.soc_offset = percent - self.pack.pack_soc
            self.clock = when
        return daly.build_frame(daly.BMS_ADDRESS, daly.SET_SOC, bytes([int(self.takes_writes)]))

    @property
    def soc(self) -> float:
        """The SoC the BMS reports: the pack's, whole percent, until 0x21 set it."""
        if self.soc_offset is None:
            return round(self.pack.pack_soc)
        return round(min(100.0, max(0.0, self.pack.pack_soc + self.soc_offset)), 1)

    def replies(self) -> dict[int, list[bytes]]:
        sample = self.pack.sample()
        sample.switches = dict(self.switches)
        sample.soc = self.soc
        return daly.encode_replies(sample, cell_frames=self.cell_frames, failures=self.failures,
                                   fault_code=self.fault_code)


def daly_ble_module(index: int, *, cells: int = 16, seed: int = 1, protocol: str = "classic") -> UartBridgePeripheral:
    """Simulated Daly BLE module number ``index`` on a fresh pack: the classic one relaying ``A5``
    frames (MAC A5:DA:17:00:00:<index + 1>), or with ``protocol="modbus"`` the newer one answering
    ``D2 03`` reads (MAC D2:DA:17:00:00:<index + 1>). Both advertise as "DL-<MAC>" with service FFF0."""
    if protocol not in ("classic", "modbus"):
        raise ValueError(f"unknown Daly BLE protocol {protocol!r}; choices: classic, modbus")
    pack = SimPack(cells=cells, seed=seed)
    if protocol == "modbus":
        device: SimDevice = DalyModbusSimulator(pack, seed=seed)
        address = f"D2:DA:17:00:00:{index + 1:02X}"
    else:
        device = DalySimulator(pack, seed=seed)
        address = f"A5:DA:17:00:00:{index + 1:02X}"
    return UartBridgePeripheral(
        device,
        address=address,
        name="DL-" + address.replace(":", ""),
        service_uuid=daly.BLE_SERVICE_UUID,
        notify_uuid=daly.BLE_NOTIFY_UUID,
        write_uuid=daly.BLE_WRITE_UUID,
        seed=seed,
    )
