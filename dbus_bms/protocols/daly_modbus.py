"""Daly Smart BMS, the Modbus-style protocol of its newer Bluetooth LE modules (the same GATT as the
classic module: service FFF0, notifications on FFF1, writes to FFF2).

Requests: ``D2 03 <start u16> <count u16> <crc>`` reads holding registers, ``D2 06 <register u16>
<value u16> <crc>`` writes one; the CRC is CRC-16/MODBUS over the bytes before it, little-endian.
Replies: ``D2 03 <byte count> <registers, big-endian> <crc>``, a write echoed whole, or ``D2 83|86
<code> <crc>`` when the BMS refuses.

Registers read here:
- 0x0000-0x003D, the status block: 32 cell voltages (mV), 8 temperatures (°C + 40), pack voltage
  (0.1 V), current (0.1 A, 30000 = none, above it the pack charges), SoC (0.1 %), remaining
  capacity (0.1 Ah), cell and sensor counts, cycles, the balancer, charge and discharge MOS, and
  four alarm registers. The alarm registers carry the classic protocol's 0x98 bytes, two per
  register, the lower-numbered byte in the low half: every alarm frame on record matches that.
- 0x003E-0x0046, the MOS block: the MOSFET temperature (°C + 40) in its fifth register.
- 0x00A9-0x00C8, the version block: software version (32 bytes of text), hardware version (32).
Writes: 0x00A5 the charge MOS, 0x00A6 the discharge MOS (1 on, 0 off), as Daly's own app sends them.

Some modules answer the status block with 80 registers instead of 62; the first 62 are the same.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from ..model import DeviceInfo, Sample
from . import daly
from .alarm_bits import Decoded
from .crc import crc16
from .errors import ProtocolError
from .framing import HeaderBuffer

ADDRESS = 0xD2
READ = 0x03
WRITE = 0x06
ERROR = 0x80  # set on the function code of a refusal

CURRENT_OFFSET = 30000
TEMPERATURE_OFFSET = 40
CELL_SLOTS = 32
TEMPERATURE_SLOTS = 8


@dataclass(frozen=True)
class Block:
    """A run of holding registers read with one request."""

    start: int
    count: int

    @property
    def byte_count(self) -> int:
        return 2 * self.count


STATUS = Block(0x0000, 0x3E)
MOS_BLOCK = Block(0x003E, 9)
VERSION = Block(0x00A9, 0x20)

SWITCH_REGISTERS = {"charge": 0x00A5, "discharge": 0x00A6}

# Register numbers in the status block.
_TEMPS = 32
_VOLTAGE, _CURRENT, _SOC = 40, 41, 42
_REMAINING, _CELL_COUNT, _SENSOR_COUNT, _CYCLES = 48, 49, 50, 51
_BALANCER, _CHARGE_MOS, _DISCHARGE_MOS = 52, 53, 54
_ALARMS = 58  # four registers
# In the MOS block.
_MOSFET_TEMPERATURE = 4
# The alarm registers' bits above the classic table's 56 are its fault code byte.
_ALARM_BITS = 56

_FRAME_OVERHEAD = 5  # address, function, byte count, CRC
_ECHO_LENGTH = 8


def _sealed(body: bytes) -> bytes:
    return body + struct.pack("<H", crc16(body))


def _crc_ok(frame: bytes | bytearray) -> bool:
    return crc16(frame[:-2]) == struct.unpack_from("<H", frame, len(frame) - 2)[0]


def build_read(block: Block, *, address: int = ADDRESS) -> bytes:
    """The request that reads ``block``."""
    return _sealed(struct.pack(">BBHH", address, READ, block.start, block.count))


def build_write(register: int, value: int, *, address: int = ADDRESS) -> bytes:
    """The request that writes ``value`` to one register."""
    if not (0 <= register <= 0xFFFF and 0 <= value <= 0xFFFF):
        raise ValueError(f"register 0x{register:X} = {value}: both must fit 16 bits")
    return _sealed(struct.pack(">BBHH", address, WRITE, register, value))


def build_switch(which: str, on: bool, *, address: int = ADDRESS) -> bytes:
    """The write that switches ``which`` (a key of SWITCH_REGISTERS) on or off."""
    return build_write(SWITCH_REGISTERS[which], int(on), address=address)


class ModbusAssembler(HeaderBuffer):
    """Cuts frames of ``address`` out of a byte stream: replies (``requests`` False) or, for a
    simulated BMS, requests; resyncs on the next address byte after a frame that does not check."""

    def __init__(self, *, address: int = ADDRESS, requests: bool = False) -> None:
        super().__init__(bytes([address]))
        self.requests = requests

    def next_frame(self) -> bytes | None:
        if not self.at_header() or len(self.buf) < 3:
            return None
        function = self.buf[1]
        if function in (READ, WRITE) and (self.requests or function == WRITE):
            size = _ECHO_LENGTH
        elif function == READ:
            size = _FRAME_OVERHEAD + self.buf[2]
        elif function in (READ | ERROR, WRITE | ERROR) and not self.requests:
            size = _FRAME_OVERHEAD
        else:
            self.skip(1)
            raise ProtocolError(f"Daly Modbus frame with function 0x{function:02X}")
        if len(self.buf) < size:
            return None
        frame = bytes(self.buf[:size])
        if not _crc_ok(frame):
            self.skip(1)  # the address byte is common data: the real frame may start inside this one
            raise ProtocolError("Daly Modbus frame with a bad CRC")
        del self.buf[:size]
        return frame


def is_read_reply(frame: bytes, block: Block) -> bool:
    """Whether ``frame`` is a reply that can be ``block``'s: a read of that many registers (a
    status block may come longer)."""
    if frame[1] != READ:
        return False
    return frame[2] >= block.byte_count if block == STATUS else frame[2] == block.byte_count


def refusal(frame: bytes) -> int | None:
    """The exception code of a refusal, None for any other frame."""
    return frame[2] if frame[1] & ERROR else None


def registers(frame: bytes, block: Block) -> list[int]:
    """The registers a read reply for ``block`` carries."""
    if len(frame) < _FRAME_OVERHEAD or frame[1] != READ or len(frame) != _FRAME_OVERHEAD + frame[2]:
        raise ProtocolError("not a Daly Modbus read reply")
    if not _crc_ok(frame):
        raise ProtocolError("Daly Modbus frame with a bad CRC")
    if not is_read_reply(frame, block):
        raise ProtocolError(f"Daly Modbus reply of {frame[2]} bytes for a read of {block.count} registers")
    return list(struct.unpack_from(f">{frame[2] // 2}H", frame, 3))


def decode_status(frame: bytes) -> Sample:
    """The status block (0x0000-0x003D) as a Sample."""
    regs = registers(frame, STATUS)
    cells, sensors = regs[_CELL_COUNT], regs[_SENSOR_COUNT]
    if not 1 <= cells <= CELL_SLOTS or sensors > TEMPERATURE_SLOTS:
        raise ProtocolError(f"Daly status claims {cells} cells and {sensors} sensors")
    soc = regs[_SOC] / 10
    if soc > 100:
        raise ProtocolError(f"Daly SoC of {soc} %")
    sample = Sample(
        voltage=regs[_VOLTAGE] / 10,
        current=(regs[_CURRENT] - CURRENT_OFFSET) / 10,
        soc=soc,
        capacity_remaining=regs[_REMAINING] / 10,
        cycles=regs[_CYCLES],
        cell_voltages=[mv / 1000 for mv in regs[:cells]],
        temperatures=[float(t - TEMPERATURE_OFFSET) for t in regs[_TEMPS : _TEMPS + sensors]] or None,
        balancing=bool(regs[_BALANCER]),
        charge_enabled=bool(regs[_CHARGE_MOS]),
        discharge_enabled=bool(regs[_DISCHARGE_MOS]),
    )
    sample.switches = {"charge": bool(sample.charge_enabled), "discharge": bool(sample.discharge_enabled)}
    words = regs[_ALARMS : _ALARMS + 4]
    bits = sum(word << 16 * i for i, word in enumerate(words))
    found = Decoded()
    found.add(daly.FAILURE_BITS, bits & ((1 << _ALARM_BITS) - 1), daly.places(None, sample))
    fault_code = bits >> _ALARM_BITS
    if fault_code:
        found.conditions.append(f"fault code {fault_code}")
    sample.alarms = found.alarms
    sample.conditions = tuple(found.conditions)
    return sample


def mosfet_temperature(frame: bytes) -> float:
    """The MOS block's MOSFET temperature, °C."""
    return float(registers(frame, MOS_BLOCK)[_MOSFET_TEMPERATURE] - TEMPERATURE_OFFSET)


def decode_version(frame: bytes) -> DeviceInfo:
    """The version block: software and hardware version."""
    registers(frame, VERSION)
    data = frame[3:-2]
    return DeviceInfo(sw_version=_text(data[:32]), hw_version=_text(data[32:64]))


def _text(raw: bytes) -> str | None:
    return raw.split(b"\x00", 1)[0].decode("ascii", "replace").strip() or None


def decode(status: bytes, mos: bytes | None = None, version: bytes | None = None) -> Sample:
    """One poll's replies: the status block, with the MOS block and the version block when read."""
    sample = decode_status(status)
    if mos is not None:
        sample.mosfet_temperature = mosfet_temperature(mos)
    if version is not None:
        sample.device = decode_version(version)
    return sample


def decode_replies(frames: Iterable[bytes]) -> Sample:
    """A poll's replies in any order, each known by its size (for captured bytes); refusals,
    echoes and reads of other registers are passed over. Only a version block: a Sample with
    just the device's versions."""
    found: dict[Block, bytes] = {}
    for frame in frames:
        if frame[1] != READ:
            continue
        block = next((b for b in (STATUS, MOS_BLOCK, VERSION) if is_read_reply(frame, b)), None)
        if block is not None:
            found[block] = frame
    if STATUS in found:
        return decode(found[STATUS], found.get(MOS_BLOCK), found.get(VERSION))
    if VERSION in found:
        return Sample(device=decode_version(found[VERSION]))
    raise ProtocolError("no Daly Modbus status block (0x0000-0x003D) or version block among the frames")


def encode_registers(
    sample: Sample, *, failures: int = 0, sw_version: str = "", hw_version: str = ""
) -> dict[int, int]:
    """The BMS side: the registers of every block read here, carrying ``sample`` (for simulators
    and round-trip tests); ``failures`` are the classic protocol's 0x98 bits."""
    cells = [round(v * 1000) for v in sample.cell_voltages or ()][:CELL_SLOTS]
    temps = [round(t) + TEMPERATURE_OFFSET for t in sample.temperatures or ()][:TEMPERATURE_SLOTS]
    regs = dict.fromkeys(range(STATUS.start, VERSION.start + VERSION.count), 0)
    regs.update(enumerate(cells))
    regs.update({_TEMPS + i: t for i, t in enumerate(temps)})
    switches = sample.switches
    regs.update({
        _VOLTAGE: round((sample.voltage or 0.0) * 10),
        _CURRENT: CURRENT_OFFSET + round((sample.current or 0.0) * 10),
        _SOC: round((sample.soc or 0.0) * 10),
        _REMAINING: round((sample.capacity_remaining or 0.0) * 10),
        _CELL_COUNT: len(cells),
        _SENSOR_COUNT: len(temps),
        _CYCLES: sample.cycles or 0,
        _BALANCER: int(bool(sample.balancing)),
        _CHARGE_MOS: int(switches.get("charge", bool(sample.charge_enabled))),
        _DISCHARGE_MOS: int(switches.get("discharge", bool(sample.discharge_enabled))),
        MOS_BLOCK.start + _MOSFET_TEMPERATURE: round(sample.mosfet_temperature or 0.0) + TEMPERATURE_OFFSET,
    })
    regs.update({_ALARMS + i: failures >> 16 * i & 0xFFFF for i in range(4)})
    text = sw_version.encode()[:32].ljust(32, b"\x00") + hw_version.encode()[:32].ljust(32, b"\x00")
    regs.update({VERSION.start + i: int.from_bytes(text[2 * i : 2 * i + 2], "big") for i in range(VERSION.count)})
    for which, register in SWITCH_REGISTERS.items():
        regs[register] = int(switches.get(which, True))
    return regs


def build_read_reply(regs: dict[int, int], start: int, count: int, *, address: int = ADDRESS) -> bytes:
    """The BMS's reply to a read of ``count`` registers from ``start`` (unknown ones read 0)."""
    values = [regs.get(start + i, 0) & 0xFFFF for i in range(count)]
    return _sealed(struct.pack(f">BBB{count}H", address, READ, 2 * count, *values))


def build_refusal(function: int, code: int, *, address: int = ADDRESS) -> bytes:
    return _sealed(bytes([address, function | ERROR, code]))
