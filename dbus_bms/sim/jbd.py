"""A JBD BMS answering its "DD ... 77" protocol, driven by a simulated pack.

It answers the basic info (0x03), the cell voltages (0x04) and the hardware name (0x05). Writes are
taken as JBD firmware takes them: 0x5678 to register 0x00 enters factory mode, 0x0000 (or 0x2828)
to 0x01 leaves it, and the FET control register 0xE1 is written only in factory mode; outside it
the BMS refuses with status 0x80 and changes nothing. A FET the host forbids opens, and the
protection word shows the software lock while any is forbidden.

Behind a BLE module (``JbdBleModule``) with a ``password``, the BMS answers nothing on a link until
the link was given that password in the module's own ``FF AA 15`` frame; a wrong one is refused.
"""

from __future__ import annotations

import random
import struct

from ..model import DeviceInfo
from ..protocols import jbd
from ..protocols.framing import good_frames
from .ble_bridge import UartBridgePeripheral
from .faults import Fault, apply_fault
from .pack import SimPack

_EXIT_VALUES = (0x0000, 0x2828)


class JbdSimulator:
    """Feed it what the host wrote; it returns the bytes a JBD would send back."""

    def __init__(self, pack: SimPack | None = None, *, name: str = "JBD-SP16S020-SIM", seed: int = 7) -> None:
        self.pack = pack or SimPack()
        self.name = name
        self.sw_version = "8.0"
        self.fault = Fault.NONE
        self.factory_mode = False
        # What register 0xE1 holds: jbd.FORBID_CHARGE | jbd.FORBID_DISCHARGE bits.
        self.forbidden = 0
        # Protection bits the BMS raises besides the software lock (a test sets them).
        self.protections = 0
        self.requests = 0
        # Write frames received; with ``takes_writes`` False the FET control is acknowledged but
        # changes nothing, as firmware that ignores it.
        self.writes = 0
        self.takes_writes = True
        self.refused_writes = 0
        # A BLE module's password (None: it has none) and whether this link was given it.
        self.password: str | None = None
        self.unlocked = False
        self.unlock_attempts = 0
        self._rng = random.Random(seed)
        self._rx = jbd.JbdAssembler()
        self._unlock_rx = jbd.UnlockAssembler()

    def handle(self, data: bytes) -> bytes:
        if data.startswith(jbd.UNLOCK_HEADER):
            return self._unlock(data)
        if self.password is not None and not self.unlocked:
            return b""
        self._rx.feed(data)
        out = bytearray()
        for frame in good_frames(self._rx):  # a real BMS ignores a request it cannot read
            if frame[1] == jbd.READ:
                self.requests += 1
                reply = self._read(frame[2])
                if reply:
                    out += self._faulty(reply)
            elif frame[1] == jbd.WRITE:
                self.writes += 1
                out += self._faulty(self._write(frame[2], frame[4:-3]))
        return bytes(out)

    def _unlock(self, data: bytes) -> bytes:
        self._unlock_rx.feed(data)
        out = bytearray()
        for frame in good_frames(self._unlock_rx):
            if frame[2] != jbd.CMD_PASSWORD:
                continue
            self.unlock_attempts += 1
            # What a module without a password answers is not recorded: it is taken to accept any.
            accepted = self.password is None or jbd.password_of(frame) == self.password
            self.unlocked = self.unlocked or accepted
            out += self._faulty(jbd.build_unlock_reply(accepted))
        return bytes(out)

    def _faulty(self, reply: bytes) -> bytes:
        # A write's reply is too short for the shared damage, which spares a frame's first and last
        # four bytes: its checksum takes the flipped bit instead.
        if self.fault is Fault.BAD_CHECKSUM and len(reply) <= 8:
            return reply[:-2] + bytes([reply[-2] ^ 0x10]) + reply[-1:]
        return apply_fault(self.fault, reply, self._rng)

    def _read(self, register: int) -> bytes:
        if register == jbd.REG_BASIC:
            return self.basic_info()
        if register == jbd.REG_CELLS:
            return jbd.encode_cells(self.pack.cell_voltages())
        if register == jbd.REG_HARDWARE:
            return jbd.encode_hardware(self.name)
        return b""

    def _write(self, register: int, data: bytes) -> bytes:
        value = struct.unpack(">H", data)[0] if len(data) == 2 else None
        if register == jbd.REG_ENTER_FACTORY and value == jbd.FACTORY_KEY:
            self.factory_mode = True
        elif register == jbd.REG_EXIT_FACTORY and value in _EXIT_VALUES:
            self.factory_mode = False
        elif register == jbd.REG_FET_CONTROL and value is not None and value <= 3 and self.factory_mode:
            if self.takes_writes:
                self.forbidden = value
        else:
            self.refused_writes += 1
            return jbd.build_reply(register, b"", jbd.STATUS_REFUSED)
        return jbd.build_reply(register, b"")

    def basic_info(self) -> bytes:
        sample = self.pack.sample()
        fets = (0 if self.forbidden & jbd.FORBID_CHARGE else jbd.FET_CHARGE) | (
            0 if self.forbidden & jbd.FORBID_DISCHARGE else jbd.FET_DISCHARGE
        )
        protections = self.protections | (jbd.SOFTWARE_LOCK if self.forbidden else 0)
        sample.device = DeviceInfo(sw_version=self.sw_version)
        return jbd.encode_basic(sample, protections=protections, fets=fets)


class JbdBleModule(UartBridgePeripheral):
    """A JBD behind its BLE module, advertising as real modules do: service FF00 (the DH04 kind:
    FFF0, bridging on FFF1/FFF2) and manufacturer data that is the module's MAC, reversed. The module
    forgets the password when a link ends. Fault: ``drop_after`` N drops the link after the next N
    notifications, in the middle of a reply."""

    def __init__(self, bms: JbdSimulator, *, address: str, name: str, dh04: bool = False, seed: int = 1) -> None:
        mac = bytes.fromhex(address.replace(":", ""))[::-1]
        service, notify, write = (
            (jbd.BLE_DH04_SERVICE_UUID, jbd.BLE_DH04_NOTIFY_UUID, jbd.BLE_DH04_WRITE_UUID) if dh04
            else (jbd.BLE_SERVICE_UUID, jbd.BLE_NOTIFY_UUID, jbd.BLE_WRITE_UUID)
        )
        super().__init__(
            bms, address=address, name=name, service_uuid=service, notify_uuid=notify, write_uuid=write,
            manufacturer_data={int.from_bytes(mac[:2], "little"): mac[2:]}, seed=seed,
        )
        self.drop_after: int | None = None

    def notify(self, char_uuid: str, data: bytes) -> bool:
        sent = super().notify(char_uuid, data)
        if self.drop_after is not None:
            self.drop_after -= 1
            if self.drop_after <= 0:
                self.drop_after = None
                self.drop_connection()
        return sent

    def on_disconnect(self) -> None:
        self.bms.unlocked = False


# Names JBD modules advertise, as recorded: the default one and two hardware names.
BLE_NAMES = ("xiaoxiang BMS", "SP17S005P17S120A", "DP04S007L4S100A")


def jbd_ble_module(index: int, *, cells: int = 16, seed: int = 1, dh04: bool = False) -> JbdBleModule:
    """Simulated JBD BLE module number ``index`` (MAC A4:C1:38:00:00:<index + 1>) on a fresh pack."""
    return JbdBleModule(
        JbdSimulator(SimPack(cells=cells, seed=seed), seed=seed),
        address=f"A4:C1:38:00:00:{index + 1:02X}",
        name=BLE_NAMES[index % len(BLE_NAMES)],
        dh04=dh04,
        seed=seed,
    )
