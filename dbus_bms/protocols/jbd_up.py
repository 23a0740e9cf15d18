"""JBD UP series (UP16S and its kin) on RS485: packs daisy-chained on one bus, each at its own
address (1-15), 9600 baud.

A frame is the pack's address, a function (0x78 read, 0x79 write), the first and the last
register of the range, the data's length (2 bytes), the data, and CRC-16/MODBUS (low byte
first); all fields big-endian. A read request carries no data. The pack status (registers
0x1000-0x10A0) holds, by byte offset: the pack voltage (0, 10 mV), the current (4, 32 bits, 10 mA
above an offset of 300000), SoC (8, 0.01 %), the remaining and the nominal capacity (10, 12, 10 mAh),
the MOSFET and ambient temperatures (16, 18; 0.1 °C above -50 °C), the operation state (20), SoH
(22, %), the protection and the alarm words (24, 28; 32 bits), the switches (32), the cycles (36),
the extremes and average of the cells (38-47), then the cell count (66), the cells (mV), the
count of temperature sensors, their values, 6 more bytes, and the model (30 ASCII bytes).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..model import ALARM_WARNING, DeviceInfo, Sample
from .alarm_bits import AlarmBit, BitTable, Decoded
from .crc import crc16
from .errors import ProtocolError
from .framing import HeaderBuffer

FC_READ = 0x78
ADDRESSES = range(1, 16)
STATUS_FIRST, STATUS_LAST = 0x1000, 0x10A0
HEAD = 8
# The longest frame: a status of 32 cells and 8 sensors is under 200 bytes of data.
MAX_DATA = 512
CURRENT_OFFSET = 300000
# Where the cell count lies in the status, with the cells after it.
CELLS_AT = 66
SWITCH_DISCHARGE, SWITCH_CHARGE = 0x01, 0x02
_MODEL_GAP, MODEL_LEN = 6, 30


def _sealed(body: bytes) -> bytes:
    return body + struct.pack("<H", crc16(body))


def _crc_ok(frame: bytes | bytearray) -> bool:
    return len(frame) > 2 and crc16(frame[:-2]) == struct.unpack_from("<H", frame, len(frame) - 2)[0]


def build_frame(address: int, function: int, first: int, last: int, data: bytes = b"") -> bytes:
    if address not in ADDRESSES:
        raise ValueError(f"JBD UP address {address} is not 1-15")
    return _sealed(struct.pack(">BBHHH", address, function, first, last, len(data)) + data)


def build_status_request(address: int) -> bytes:
    """The read of the pack status of the pack at ``address``."""
    return build_frame(address, FC_READ, STATUS_FIRST, STATUS_LAST)


@dataclass(frozen=True, slots=True)
class Frame:
    address: int
    function: int
    first: int
    last: int
    data: bytes


def parse_frame(frame: bytes) -> Frame:
    if len(frame) < HEAD + 2 or not _crc_ok(frame):
        raise ProtocolError(f"not a JBD UP frame with a good CRC: {frame[:16].hex(' ')}")
    address, function, first, last, length = struct.unpack_from(">BBHHH", frame)
    if len(frame) != HEAD + length + 2:
        raise ProtocolError("JBD UP frame whose length field does not match it")
    return Frame(address, function, first, last, bytes(frame[HEAD:-2]))


class UpAssembler(HeaderBuffer):
    """Cuts JBD UP frames out of a byte stream: a frame starts with an address of 1-15 and a read
    or write function; one whose CRC fails raises ProtocolError once and the stream resyncs on the
    next byte. Noise is dropped and counted."""

    def __init__(self) -> None:
        super().__init__(b"")

    def next_frame(self) -> bytes | None:
        buf = self.buf
        while buf:
            if buf[0] not in ADDRESSES or (len(buf) > 1 and buf[1] not in (FC_READ, FC_READ + 1)):
                self.skip(1)
                continue
            if len(buf) < HEAD:
                return None
            length = struct.unpack_from(">H", buf, 6)[0]
            if length > MAX_DATA:
                self.skip(1)
                continue
            n = HEAD + length + 2
            if len(buf) < n:
                return None
            frame = bytes(buf[:n])
            if not _crc_ok(frame):
                self.skip(1)
                raise ProtocolError("JBD UP frame with a bad CRC")
            del buf[:n]
            return frame
        return None


_W = ALARM_WARNING
# The protection word: the pack acting (level 2).
PROTECTIONS = BitTable(32, {
    0: AlarmBit("cell over-voltage protection", "HighCellVoltage"),
    1: AlarmBit("cell under-voltage protection", "LowCellVoltage"),
    2: AlarmBit("pack over-voltage protection", "HighVoltage"),
    3: AlarmBit("pack under-voltage protection", "LowVoltage"),
    4: AlarmBit("charge over-current protection, level 1", "HighChargeCurrent"),
    5: AlarmBit("charge over-current protection, level 2", "HighChargeCurrent"),
    6: AlarmBit("discharge over-current protection, level 1", "HighDischargeCurrent"),
    7: AlarmBit("discharge over-current protection, level 2", "HighDischargeCurrent"),
    8: AlarmBit("charge over-temperature protection", "HighChargeTemperature"),
    9: AlarmBit("charge under-temperature protection", "LowChargeTemperature"),
    10: AlarmBit("discharge over-temperature protection", "HighTemperature"),
    11: AlarmBit("discharge under-temperature protection", "LowTemperature"),
    12: AlarmBit("MOSFET over-temperature protection", "HighInternalTemperature"),
    13: AlarmBit("ambient over-temperature protection", "HighTemperature"),
    14: AlarmBit("ambient under-temperature protection", "LowTemperature"),
    15: AlarmBit("cell voltage difference protection", "CellImbalance"),
    16: AlarmBit("temperature difference protection"),
    17: AlarmBit("low SoC protection", "LowSoc"),
    18: AlarmBit("short-circuit protection", "HighCurrent"),
    19: AlarmBit("cell offline", "InternalFailure"),
    20: AlarmBit("temperature sensor lost", "InternalFailure"),
    21: AlarmBit("charge MOSFET fault", "InternalFailure"),
    22: AlarmBit("discharge MOSFET fault", "InternalFailure"),
    23: AlarmBit("current limiter fault", "InternalFailure"),
    24: AlarmBit("aerosol (fire suppression) fault", "InternalFailure"),
    25: AlarmBit("charging stopped: full"),
    26: AlarmBit("analog front end not answering", "InternalFailure"),
})
# The alarm word: a limit reached before the pack acts (level 1).
ALARMS = BitTable(32, {
    0: AlarmBit("cell high voltage alarm", "HighCellVoltage", _W),
    1: AlarmBit("cell low voltage alarm", "LowCellVoltage", _W),
    2: AlarmBit("pack high voltage alarm", "HighVoltage", _W),
    3: AlarmBit("pack low voltage alarm", "LowVoltage", _W),
    4: AlarmBit("charge over-current alarm", "HighChargeCurrent", _W),
    5: AlarmBit("discharge over-current alarm", "HighDischargeCurrent", _W),
    6: AlarmBit("charge high temperature alarm", "HighChargeTemperature", _W),
    7: AlarmBit("charge low temperature alarm", "LowChargeTemperature", _W),
    8: AlarmBit("discharge high temperature alarm", "HighTemperature", _W),
    9: AlarmBit("discharge low temperature alarm", "LowTemperature", _W),
    10: AlarmBit("MOSFET high temperature alarm", "HighInternalTemperature", _W),
    11: AlarmBit("ambient high temperature alarm", "HighTemperature", _W),
    12: AlarmBit("ambient low temperature alarm", "LowTemperature", _W),
    13: AlarmBit("cell voltage difference alarm", "CellImbalance", _W),
    14: AlarmBit("temperature difference alarm"),
    15: AlarmBit("low SoC alarm", "LowSoc", _W),
    16: AlarmBit("EEPROM fault", "InternalFailure", _W),
    17: AlarmBit("real-time clock fault", "InternalFailure", _W),
})
# The switch word: discharge, charge, pre-charge, heater, fan; states.
SWITCHES = BitTable(16, {}, states=0x1F, unknown="unknown switch bit")


def _celsius(raw: int) -> float:
    return round((raw - 500) / 10, 1)


@dataclass(frozen=True, slots=True)
class Status:
    """The pack status in Victron's units and sign (charging positive)."""

    voltage: float
    current: float
    soc: float
    capacity_remaining: float
    capacity_full: float
    mosfet_temperature: float
    ambient_temperature: float
    soh: float
    cycles: int
    cells: list[float]
    temperatures: list[float]
    found: Decoded
    charge_enabled: bool
    discharge_enabled: bool
    model: str | None


def decode_status(data: bytes) -> Status:
    """The data of a pack status reply."""
    if len(data) < CELLS_AT + 2:
        raise ProtocolError(f"a pack status of {len(data)} bytes, too short for its cell count")
    volts, _, amps, soc, remaining, full = struct.unpack_from(">HHIHHH", data)
    mosfet, ambient, _state, soh = struct.unpack_from(">HHHH", data, 16)
    protections, alarms, switches = struct.unpack_from(">IIH", data, 24)
    cycles = struct.unpack_from(">H", data, 36)[0]
    n = struct.unpack_from(">H", data, CELLS_AT)[0]
    at = CELLS_AT + 2
    if not 1 <= n <= 32 or len(data) < at + 2 * n + 2:
        raise ProtocolError(f"a pack status of {n} cells in {len(data)} bytes")
    cells = [mv / 1000 for mv in struct.unpack_from(f">{n}H", data, at)]
    at += 2 * n
    sensors = struct.unpack_from(">H", data, at)[0]
    at += 2
    if sensors > 8 or len(data) < at + 2 * sensors:
        raise ProtocolError(f"a pack status of {sensors} temperature sensors in {len(data)} bytes")
    temperatures = [_celsius(t) for t in struct.unpack_from(f">{sensors}H", data, at)]
    at += 2 * sensors + _MODEL_GAP
    model = data[at : at + MODEL_LEN].split(b"\x00", 1)[0].decode("ascii", "replace").strip() or None
    found = Decoded()
    found.add(PROTECTIONS, protections)
    found.add(ALARMS, alarms)
    found.add(SWITCHES, switches)
    return Status(
        voltage=volts / 100, current=round((amps - CURRENT_OFFSET) / 100, 2), soc=soc / 100,
        capacity_remaining=remaining / 100, capacity_full=full / 100, mosfet_temperature=_celsius(mosfet),
        ambient_temperature=_celsius(ambient), soh=float(soh), cycles=cycles, cells=cells, temperatures=temperatures,
        found=found, charge_enabled=bool(switches & SWITCH_CHARGE), discharge_enabled=bool(switches & SWITCH_DISCHARGE),
        model=model,
    )


def status_data(frame: bytes, address: int) -> bytes:
    """The data of a whole status reply from the pack at ``address``."""
    parsed = parse_frame(frame)
    if (parsed.address, parsed.function, parsed.first, parsed.last) != (address, FC_READ, STATUS_FIRST, STATUS_LAST):
        raise ProtocolError(f"not a status reply of pack {address}: {frame[:HEAD].hex(' ')}")
    if not parsed.data:
        raise ProtocolError(f"an empty status reply from pack {address}")
    return parsed.data


def decode(data: bytes) -> Sample:
    """A pack's reading from its status data."""
    s = decode_status(data)
    return Sample(
        voltage=s.voltage, current=s.current, soc=s.soc, soh=s.soh, capacity_remaining=s.capacity_remaining,
        capacity_full=s.capacity_full, cycles=s.cycles, cell_voltages=s.cells, temperatures=s.temperatures,
        mosfet_temperature=s.mosfet_temperature, charge_enabled=s.charge_enabled, discharge_enabled=s.discharge_enabled,
        alarms=dict(s.found.alarms), conditions=tuple(s.found.conditions),
        device=DeviceInfo(model=s.model) if s.model else None,
    )


def decode_replies(frames: list[bytes]) -> Sample:
    """The reading in the first status reply among whole frames; requests are passed over."""
    for frame in frames:
        parsed = parse_frame(frame)
        if parsed.function == FC_READ and parsed.data:
            return decode(status_data(frame, parsed.address))
    raise ProtocolError("no pack status reply (0x78 from 0x1000) in the bytes given")


def encode_status(sample: Sample, *, ambient: float = 25.0, model: str = "", protections: int = 0, alarms: int = 0) -> bytes:
    """The data of a status reply carrying ``sample`` (for simulators and round-trip tests)."""
    cells = [round(v * 1000) for v in (sample.cell_voltages or [])]
    temps = [round(t * 10) + 500 for t in (sample.temperatures or [])]
    mosfet = sample.mosfet_temperature if sample.mosfet_temperature is not None else ambient
    switches = (SWITCH_CHARGE if sample.charge_enabled else 0) | (SWITCH_DISCHARGE if sample.discharge_enabled else 0)
    current = sample.current or 0.0
    state = 1 if current > 0 else 2 if current < 0 else 0
    full = round((sample.capacity_full or 0) * 100)
    out = struct.pack(">HHIHHHH", round((sample.voltage or 0) * 100), 0, round(current * 100) + CURRENT_OFFSET,
                      round((sample.soc or 0) * 100), round((sample.capacity_remaining or 0) * 100), full, full)
    out += struct.pack(">HHHHIIHHH", round(mosfet * 10) + 500, round(ambient * 10) + 500, state,
                       round(sample.soh if sample.soh is not None else 100), protections, alarms, switches, 0, sample.cycles or 0)
    hi = max(range(len(cells)), key=cells.__getitem__, default=0)
    lo = min(range(len(cells)), key=cells.__getitem__, default=0)
    out += struct.pack(">HHHHH", hi + 1, cells[hi] if cells else 0, lo + 1, cells[lo] if cells else 0,
                       round(sum(cells) / len(cells)) if cells else 0)
    out += bytes(CELLS_AT - len(out))
    out += struct.pack(f">H{len(cells)}HH{len(temps)}H", len(cells), *cells, len(temps), *temps)
    out += bytes(_MODEL_GAP) + model.encode("ascii")[:MODEL_LEN].ljust(MODEL_LEN, b"\x00")
    return out
