"""JK BMS "NW" serial protocol (UART-TTL / RS485): framing, the read-all request, the TLV status.

Frame: ``4E 57``, length (u16 BE, counts itself up to the end of the checksum), terminal id (4),
command, source, transport, data, record number (4), end mark ``0x68``, checksum (4: two zero bytes
then the 16-bit sum of every byte before it, big-endian).
"""

from __future__ import annotations

import re
import struct

from ..model import ALARM_WARNING, BmsSettings, DeviceInfo, Sample
from .alarm_bits import HIGHEST_CELL, LOWEST_CELL, AlarmBit, BitTable, Decoded, cells_text
from .errors import ProtocolError
from .framing import HeaderBuffer

HEADER = b"\x4e\x57"
END_MARK = 0x68
CMD_WRITE = 0x02
CMD_READ_ALL = 0x06
SOURCE_HOST = 0x03
SOURCE_BMS = 0x00
# Fixed part around the data: start(2) length(2) terminal(4) cmd src transport(3) record(4) end(1) checksum(4).
_OVERHEAD = 20
# The longest read-all reply (24 cells, every register) is under 300 bytes; anything claiming
# more than this is noise that happens to start with 4E 57.
MAX_FRAME = 1024


def _checksum(data: bytes) -> bytes:
    return struct.pack(">I", sum(data) & 0xFFFF)


def build_frame(
    command: int, data: bytes, *, source: int, terminal_id: int = 0, transport: int = 0, record: int = 0
) -> bytes:
    length = len(data) + _OVERHEAD - 2
    body = (
        HEADER
        + struct.pack(">HIBBB", length, terminal_id, command, source, transport)
        + data
        + struct.pack(">IB", record, END_MARK)
    )
    return body + _checksum(body)


READ_ALL_REQUEST = build_frame(CMD_READ_ALL, b"\x00", source=SOURCE_HOST)

# The charge and discharge MOS switches are one-byte registers the host writes (0 off, 1 on) and
# the read-all reply carries back. The active balance switch (0x9D) is written the same way, but
# BMSes of firmware 11 are reported to ignore the write, so it is not offered.
SWITCH_REGISTERS = {"charge": 0xAB, "discharge": 0xAC}
# Where a read-all reply carries the switches, the balancer's included.
_SWITCH_STATES = {**SWITCH_REGISTERS, "balance": 0x9D}
_TRANSPORT_UPLOAD = 0x02


def build_write(register: int, value: int) -> bytes:
    """A write of one one-byte register, as JK's tools send it (transmission type 2); the BMS takes
    it without the parameter password."""
    if WIDTHS.get(register) != 1:
        raise ValueError(f"register 0x{register:02X} is not a one-byte register")
    return build_frame(CMD_WRITE, bytes([register, value]), source=SOURCE_HOST, transport=_TRANSPORT_UPLOAD)


def build_switch(which: str, on: bool) -> bytes:
    """The frame that switches ``which`` (a key of SWITCH_REGISTERS) on or off."""
    return build_write(SWITCH_REGISTERS[which], int(on))


class NwAssembler(HeaderBuffer):
    """Reassembles NW frames from a byte stream; resyncs on the header after garbage."""

    def __init__(self) -> None:
        super().__init__(HEADER)

    def next_frame(self) -> bytes | None:
        if not self.at_header() or len(self.buf) < 4:
            return None
        total = 2 + struct.unpack_from(">H", self.buf, 2)[0]
        if not _OVERHEAD <= total <= MAX_FRAME:
            self.skip(2)
            raise ProtocolError(f"impossible NW frame length {total}")
        if len(self.buf) < total:
            return None
        frame = bytes(self.buf[:total])
        if frame[-5] != END_MARK or frame[-4:] != _checksum(frame[:-4]):
            self.skip(2)
            raise ProtocolError("NW frame with a bad checksum or end mark")
        del self.buf[:total]
        return frame


def _temp(raw: int) -> float:
    # JK encodes temperatures below zero as 100 + |t|.
    return float(100 - raw) if raw > 100 else float(raw)


def _text(raw: bytes) -> str | None:
    text = raw.split(b"\x00", 1)[0].decode("ascii", "replace").strip()
    return text or None


# Register id → width in bytes of its value. The read-all reply lists registers in this order;
# every id must be known because the width is not on the wire.
WIDTHS: dict[int, int] = {
    0x80: 2, 0x81: 2, 0x82: 2, 0x83: 2, 0x84: 2, 0x85: 1, 0x86: 1, 0x87: 2, 0x89: 4, 0x8A: 2,
    0x8B: 2, 0x8C: 2, 0x8E: 2, 0x8F: 2, 0x90: 2, 0x91: 2, 0x92: 2, 0x93: 2, 0x94: 2, 0x95: 2,
    0x96: 2, 0x97: 2, 0x98: 2, 0x99: 2, 0x9A: 2, 0x9B: 2, 0x9C: 2, 0x9D: 1, 0x9E: 2, 0x9F: 2,
    0xA0: 2, 0xA1: 2, 0xA2: 2, 0xA3: 2, 0xA4: 2, 0xA5: 2, 0xA6: 2, 0xA7: 2, 0xA8: 2, 0xA9: 1,
    0xAA: 4, 0xAB: 1, 0xAC: 1, 0xAD: 2, 0xAE: 1, 0xAF: 1, 0xB0: 2, 0xB1: 1, 0xB2: 10, 0xB3: 1,
    0xB4: 8, 0xB5: 4, 0xB6: 4, 0xB7: 15, 0xB8: 1, 0xB9: 4, 0xBA: 24, 0xBB: 1, 0xBC: 1, 0xBD: 1,
    0xBE: 1, 0xBF: 1, 0xC0: 1,
}

# 0x8B, the battery warning message, as JK's NW protocol (V2.4) names its bits: each an alarm but
# the low-capacity notice, which it calls "only warning". Bits 14 and 15 are reserved.
WARNINGS = BitTable(16, {
    0: AlarmBit("low capacity", "LowSoc", ALARM_WARNING),
    1: AlarmBit("MOSFET over-temperature alarm", "HighInternalTemperature"),
    2: AlarmBit("pack over-voltage alarm", "HighVoltage"),
    3: AlarmBit("pack under-voltage alarm", "LowVoltage"),
    4: AlarmBit("battery over-temperature alarm", "HighTemperature"),
    5: AlarmBit("charge over-current alarm", "HighChargeCurrent"),
    6: AlarmBit("discharge over-current alarm", "HighDischargeCurrent"),
    7: AlarmBit("cell voltage difference alarm", "CellImbalance"),
    8: AlarmBit("battery box over-temperature alarm", "HighTemperature"),
    9: AlarmBit("battery under-temperature alarm", "LowTemperature"),
    10: AlarmBit("cell over-voltage alarm", "HighCellVoltage", place=HIGHEST_CELL),
    11: AlarmBit("cell under-voltage alarm", "LowCellVoltage", place=LOWEST_CELL),
    12: AlarmBit("protection 309_A", "InternalFailure"),
    13: AlarmBit("protection 309_B", "InternalFailure"),
})

# 0x8C status bits: the charge and discharge switches and the balancer are states (charge_enabled,
# discharge_enabled, balancing). JK's protocol says bit 3 is 1 while the battery is connected and
# 0 when it dropped off, but captures of connected packs read it 0 and the one with it set had two
# cells at 0 V and both switches off, so it is read the other way round: set, the battery dropped
# off. Being that unsure, it raises no alarm. Bits 4-15 are reserved.
STATUS_CHARGE, STATUS_DISCHARGE, STATUS_BALANCE = 0x1, 0x2, 0x4
STATUS = BitTable(16, {3: AlarmBit("battery disconnected")},
                  states=STATUS_CHARGE | STATUS_DISCHARGE | STATUS_BALANCE, unknown="unknown status bit")


def _conditions(cells: list[float], warnings: int | None, status: int | None) -> Decoded | None:
    """The alarms and conditions of 0x8B and 0x8C, naming the highest or lowest cell of the same
    reply (numbered as /Voltages/Cell<N>); None when the BMS sent neither register."""
    if warnings is None and status is None:
        return None
    places: dict[str, str] = {}
    if cells and warnings:
        places[HIGHEST_CELL] = cells_text([cells.index(max(cells)) + 1])
        places[LOWEST_CELL] = cells_text([cells.index(min(cells)) + 1])
    found = Decoded()
    for table, word in ((WARNINGS, warnings), (STATUS, status)):
        if word is not None:
            found.add(table, word, places)
    return found


# Identity. 0xB4 keeps only the first 8 characters of the owner's "user data" text, so two packs
# named "Shed bank 1" and "Shed bank 2" share it. 0xBA keeps 24: the first 12 of that text followed
# by the device name ("Input UserdaJK_B1A20S15P" in a capture of a JK whose owner changed neither).
# So 0xBA is the identity, unless it is still a factory text that every JK of a kind carries: the
# default user data with a factory model name, or the fixed id of older firmware (captures of three
# different JKs carry the same "BT3072020120000200521001").
_FACTORY_USER_DATA = "Input Userda"
_FACTORY_NAME = re.compile(r"JK[-_][A-Z0-9]+")
_FACTORY_IDS = {"BT3072020120000200521001"}


def _identity(raw: bytes | None) -> tuple[str | None, str | None]:
    """(serial, model) from 0xBA: a factory text names the model and identifies nothing."""
    text = _text(raw) if raw is not None else None
    if not text or text in _FACTORY_IDS:
        return None, None
    name = text.removeprefix(_FACTORY_USER_DATA)
    if name != text and _FACTORY_NAME.fullmatch(name):
        return None, name
    return text, None


# The protection settings in a read-all reply (JK's NW protocol V2.4): cell voltages in mV, currents
# in A, the high temperatures in °C, the low ones signed 16-bit °C (no offset, unlike 0x80-0x82).
_MV = {"cell_ovp": 0x90, "cell_ovp_recovery": 0x91, "cell_uvp": 0x93, "cell_uvp_recovery": 0x94,
       "balance_start_voltage": 0x9B, "balance_trigger_voltage": 0x9C}
_AMPS = {"max_discharge_current": 0x97, "max_charge_current": 0x99}
_DEGREES = {"charge_max_temperature": 0xA3, "discharge_max_temperature": 0xA4}
_SIGNED_DEGREES = {"charge_min_temperature": 0xA5, "discharge_min_temperature": 0xA7}


def _protections(regs: dict[int, bytes]) -> BmsSettings | None:
    """The BMS's settings in a reply; None when it carries none of them."""
    if not any(rid in regs for rid in (*_MV.values(), *_AMPS.values())):
        return None

    def u(rid: int) -> int | None:
        raw = regs.get(rid)
        return int.from_bytes(raw, "big") if raw is not None else None

    def signed(rid: int) -> int | None:
        raw = regs.get(rid)
        return int.from_bytes(raw, "big", signed=True) if raw is not None else None

    values: dict[str, float | int | None] = {}
    for name, rid in _MV.items():
        raw = u(rid)
        values[name] = raw / 1000 if raw is not None else None
    for name, rid in _AMPS.items():
        values[name] = float(u(rid)) if u(rid) else None  # 0 A is an unset field, not a BMS that forbids all current
    for name, rid in _DEGREES.items():
        values[name] = float(u(rid)) if rid in regs else None
    for name, rid in _SIGNED_DEGREES.items():
        values[name] = float(signed(rid)) if rid in regs else None
    values["cell_count"] = u(0xA9)
    capacity = u(0xAA)
    values["nominal_capacity"] = float(capacity) if capacity else None
    return BmsSettings(**values)


def _registers(data: bytes) -> tuple[list[float], dict[int, bytes]]:
    """The cell list and every register's raw value, from a read-all reply's data."""
    if len(data) < 2 or data[0] != 0x79:
        raise ProtocolError("read-all data does not start with the cell block (0x79)")
    n = data[1]
    cells_raw = data[2 : 2 + n]
    if len(cells_raw) != n or n % 3:
        raise ProtocolError(f"cell block of {n} bytes is truncated or not whole cells")
    cells = [struct.unpack_from(">H", cells_raw, i + 1)[0] / 1000 for i in range(0, n, 3)]
    regs: dict[int, bytes] = {}
    i = 2 + n
    while i < len(data):
        rid = data[i]
        width = WIDTHS.get(rid)
        if width is None:
            raise ProtocolError(f"unknown register 0x{rid:02X} at offset {i}")
        value = data[i + 1 : i + 1 + width]
        if len(value) != width:
            raise ProtocolError(f"register 0x{rid:02X} truncated")
        regs[rid] = value
        i += 1 + width
    return cells, regs


def _current(raw: int, protocol_version: int) -> float:
    if protocol_version == 1:
        # Bit 15 set means charging; the low 15 bits are the magnitude in 10 mA.
        magnitude = (raw & 0x7FFF) / 100
        return magnitude if raw & 0x8000 or not magnitude else -magnitude
    # Earlier firmware: 10 mA units around an offset of 10000, charging above it.
    return (raw - 10000) / 100


def decode(frame: bytes) -> Sample:
    """The Sample in a read-all reply frame (as returned by NwAssembler.next_frame)."""
    if len(frame) < _OVERHEAD + 2 or frame[:2] != HEADER:
        raise ProtocolError("not an NW frame")
    cells, regs = _registers(frame[11:-9])

    def u(rid: int) -> int | None:
        raw = regs.get(rid)
        return int.from_bytes(raw, "big") if raw is not None else None

    version = u(0xC0) or 0
    status = u(0x8C)
    found = _conditions(cells, u(0x8B), status)
    temps = [_temp(u(r)) for r in (0x81, 0x82) if r in regs]
    soc = u(0x85)
    full = u(0xAA)
    serial, model = _identity(regs.get(0xBA))
    return Sample(
        voltage=u(0x83) / 100 if 0x83 in regs else None,
        current=_current(u(0x84), version) if 0x84 in regs else None,
        soc=float(soc) if soc is not None else None,
        capacity_full=float(full) if full else None,
        # The NW protocol has no remaining-capacity register; JK's app shows SoC × capacity.
        capacity_remaining=round(soc * full / 100, 3) if soc is not None and full else None,
        cycles=u(0x87),
        cell_voltages=cells or None,
        temperatures=temps or None,
        mosfet_temperature=_temp(u(0x80)) if 0x80 in regs else None,
        charge_enabled=bool(status & STATUS_CHARGE) if status is not None else None,
        discharge_enabled=bool(status & STATUS_DISCHARGE) if status is not None else None,
        balancing=bool(status & STATUS_BALANCE) if status is not None else None,
        alarms=found.alarms if found else {},
        conditions=tuple(found.conditions) if found else None,
        device=DeviceInfo(model=model, sw_version=_text(regs[0xB7]) if 0xB7 in regs else None, serial=serial),
        bms_settings=_protections(regs),
        switches={which: regs[rid] != b"\x00" for which, rid in _SWITCH_STATES.items() if rid in regs},
    )


def _temp_raw(t: float) -> int:
    return int(round(100 - t)) if t < 0 else int(round(t))


def _fixed_text(text: str | None, width: int) -> bytes:
    return (text or "").encode("ascii", "replace")[:width].ljust(width, b"\x00")


def encode_status(sample: Sample, *, protocol_version: int = 1) -> bytes:
    """The BMS side: a read-all reply carrying ``sample`` (for simulators and round-trip tests)."""
    cells = sample.cell_voltages or []
    block = b"".join(struct.pack(">BH", i + 1, round(v * 1000)) for i, v in enumerate(cells))
    out = bytearray(b"\x79" + bytes([len(block)]) + block)

    def reg(rid: int, value: int | bytes) -> None:
        out.append(rid)
        out.extend(value if isinstance(value, bytes) else value.to_bytes(WIDTHS[rid], "big"))

    temps = sample.temperatures or []
    if sample.mosfet_temperature is not None:
        reg(0x80, _temp_raw(sample.mosfet_temperature))
    for rid, t in zip((0x81, 0x82), temps):
        reg(rid, _temp_raw(t))
    if sample.voltage is not None:
        reg(0x83, round(sample.voltage * 100))
    if sample.current is not None:
        amps = round(abs(sample.current) * 100)
        if protocol_version == 1:
            reg(0x84, min(amps, 0x7FFF) | (0x8000 if sample.current > 0 else 0))
        else:
            reg(0x84, 10000 + round(sample.current * 100))
    if sample.soc is not None:
        reg(0x85, round(sample.soc))
    reg(0x86, len(temps))
    if sample.cycles is not None:
        reg(0x87, sample.cycles)
    reg(0x8A, len(cells))
    reg(0x8B, WARNINGS.encode(sample.alarms))
    status = (
        (STATUS_CHARGE if sample.charge_enabled else 0)
        | (STATUS_DISCHARGE if sample.discharge_enabled else 0)
        | (STATUS_BALANCE if sample.balancing else 0)
    )
    reg(0x8C, status)
    settings = sample.bms_settings
    if settings is not None:
        for name, rid in _MV.items():
            if getattr(settings, name) is not None:
                reg(rid, round(getattr(settings, name) * 1000))
        for name, rid in {**_AMPS, **_DEGREES}.items():
            if getattr(settings, name) is not None:
                reg(rid, round(getattr(settings, name)))
        for name, rid in _SIGNED_DEGREES.items():
            if getattr(settings, name) is not None:
                reg(rid, round(getattr(settings, name)).to_bytes(2, "big", signed=True))
        if settings.cell_count is not None:
            reg(0xA9, settings.cell_count)
    if "balance" in sample.switches:
        reg(0x9D, int(sample.switches["balance"]))
    if sample.capacity_full is not None:
        reg(0xAA, round(sample.capacity_full))
    for which in SWITCH_REGISTERS:
        if which in sample.switches:
            reg(SWITCH_REGISTERS[which], int(sample.switches[which]))
    device = sample.device or DeviceInfo()
    identity = device.serial or _FACTORY_USER_DATA + (device.model or "")
    reg(0xB4, _fixed_text(identity, 8))
    reg(0xB7, _fixed_text(device.sw_version, 15))
    reg(0xBA, _fixed_text(identity, 24))
    reg(0xC0, protocol_version)
    return build_frame(CMD_READ_ALL, bytes(out), source=SOURCE_BMS, transport=1)
