"""Daly Smart BMS, classic protocol (UART/RS485, and the same frames relayed by its classic
Bluetooth LE module: service FFF0, notifications on FFF1, writes to FFF2).

Every frame is 13 bytes: ``A5``, address (0x40 from a host on UART/RS485, 0x80 from a BLE dongle,
0x01 in the BMS's replies), command, length 0x08, 8 data bytes, and the sum of the 12 bytes
before it, mod 256. One command asks for one group of values; the cell voltages (0x95) and the
temperatures (0x96) come back as several frames, numbered from 1 in data byte 0. Big-endian.

0x21 sets the BMS's SoC, with its real-time clock: year - 2000, month, day, hour, minute, second,
then SoC in 0.1 %; the BMS answers 0x21 with data byte 0 = 1 when it took it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..model import ALARM_WARNING, Sample
from .alarm_bits import HIGHEST_CELL, LOWEST_CELL, AlarmBit, BitTable, Decoded, cells_text
from .errors import ProtocolError
from .framing import HeaderBuffer

HEADER = b"\xa5"
FRAME_LENGTH = 13
DATA_LENGTH = 8
HOST_ADDRESS = 0x40
BLE_HOST_ADDRESS = 0x80
BMS_ADDRESS = 0x01

BLE_SERVICE_UUID = "0000fff0-0000-1000-8000-00805f9b34fb"
BLE_NOTIFY_UUID = "0000fff1-0000-1000-8000-00805f9b34fb"
BLE_WRITE_UUID = "0000fff2-0000-1000-8000-00805f9b34fb"

PACK = 0x90  # pack voltage, current, SoC
CELL_EXTREMES = 0x91  # highest and lowest cell, with their numbers
TEMP_EXTREMES = 0x92  # highest and lowest temperature, with their sensors
MOS = 0x93  # charge state, MOS switches, remaining capacity
STATUS = 0x94  # cell and sensor counts, charger and load, I/O, cycles
CELLS = 0x95  # three cells per frame
TEMPERATURES = 0x96  # seven sensors per frame
BALANCE = 0x97  # one bit per cell
FAILURES = 0x98  # alarm bits and a fault code
SET_SOC = 0x21  # the SoC and the clock
READ_COMMANDS = (PACK, CELL_EXTREMES, TEMP_EXTREMES, MOS, STATUS, CELLS, TEMPERATURES, BALANCE, FAILURES)

# The MOS switches: data byte 0 is 1 to switch on, 0 to switch off; 0x93 reads them back.
SWITCH_COMMANDS = {"charge": 0xDA, "discharge": 0xD9}

CELLS_PER_FRAME = 3
TEMPERATURES_PER_FRAME = 7
# Daly's protocol has slots for 48 cells and 16 temperature sensors.
MAX_CELLS = 48
MAX_TEMPERATURES = 16
CURRENT_OFFSET = 30000  # 0.1 A units; above it the pack charges
TEMPERATURE_OFFSET = 40


def build_frame(address: int, command: int, data: bytes = b"") -> bytes:
    """A 13-byte frame; ``data`` is padded with zeros to its 8 bytes."""
    if len(data) > DATA_LENGTH:
        raise ValueError(f"{len(data)} data bytes; a Daly frame holds {DATA_LENGTH}")
    body = bytes([HEADER[0], address, command, DATA_LENGTH]) + data.ljust(DATA_LENGTH, b"\x00")
    return body + bytes([sum(body) & 0xFF])


def build_request(command: int, *, address: int = HOST_ADDRESS) -> bytes:
    """The read request for ``command`` (one of READ_COMMANDS)."""
    return build_frame(address, command)


def build_switch(which: str, on: bool, *, address: int = HOST_ADDRESS) -> bytes:
    """The frame that switches ``which`` (a key of SWITCH_COMMANDS) on or off."""
    return build_frame(address, SWITCH_COMMANDS[which], bytes([int(on)]))


def build_set_soc(percent: float, now: datetime, *, address: int = HOST_ADDRESS) -> bytes:
    """The frame that sets the BMS's SoC to ``percent`` and its clock to ``now``."""
    if not (math.isfinite(percent) and 0 <= percent <= 100):
        raise ValueError(f"SoC of {percent} %: it must be 0-100")
    if not 2000 <= now.year <= 2255:
        raise ValueError(f"year {now.year}: the BMS's clock holds 2000-2255")
    clock = bytes([now.year - 2000, now.month, now.day, now.hour, now.minute, now.second])
    return build_frame(address, SET_SOC, clock + round(percent * 10).to_bytes(2, "big"))


def parse_set_soc(frame: bytes) -> tuple[float, datetime]:
    """A 0x21 frame's SoC and clock (the BMS side of ``build_set_soc``)."""
    d = _data(frame, SET_SOC)
    try:
        when = datetime(2000 + d[0], d[1], d[2], d[3], d[4], d[5])
    except ValueError as exc:
        raise ProtocolError(f"Daly SoC frame with a bad clock: {exc}") from None
    percent = _u16(d, 6) / 10
    if percent > 100:
        raise ProtocolError(f"Daly SoC frame asks for {percent} %")
    return percent, when


def set_soc_taken(frame: bytes) -> bool:
    """Whether the BMS's answer to 0x21 says it took the SoC."""
    return _data(frame, SET_SOC)[0] == 1


class DalyAssembler(HeaderBuffer):
    """Cuts 13-byte frames out of a byte stream; resyncs on the next ``A5`` after garbage."""

    def __init__(self) -> None:
        super().__init__(HEADER)

    def next_frame(self) -> bytes | None:
        if not self.at_header() or len(self.buf) < FRAME_LENGTH:
            return None
        frame = bytes(self.buf[:FRAME_LENGTH])
        if frame[3] != DATA_LENGTH or frame[-1] != sum(frame[:-1]) & 0xFF:
            self.skip(1)  # A5 is a common data byte: the real frame may start inside this one
            raise ProtocolError("Daly frame with a bad length byte or checksum")
        del self.buf[:FRAME_LENGTH]
        return frame


def is_reply(frame: bytes) -> bool:
    """Whether ``frame`` came from a BMS, not from a host asking."""
    return frame[1] not in (HOST_ADDRESS, BLE_HOST_ADDRESS)


def command_of(frame: bytes) -> int:
    return frame[2]


def frame_number(frame: bytes) -> int:
    """Data byte 0: which of a multi-frame reply's frames this is (1-based)."""
    return frame[4]


def frames_needed(command: int, count: int) -> int:
    """How many frames of ``command`` carry ``count`` cells or sensors (1 for single-frame commands)."""
    if command == CELLS:
        return math.ceil(count / CELLS_PER_FRAME)
    if command == TEMPERATURES:
        return math.ceil(count / TEMPERATURES_PER_FRAME)
    return 1


# 0x98: bytes 0-6 are alarm bits (byte 0 bit 0 is bit 0 here), byte 7 a fault code. Daly raises
# most conditions at two levels: level 1 is its warning, level 2 its protection.
def _levels(first: int, text: str, alarm: str | None, place: str | None = None) -> dict[int, AlarmBit]:
    return {
        first: AlarmBit(f"{text}, level 1", alarm, ALARM_WARNING, place),
        first + 1: AlarmBit(f"{text}, level 2", alarm, place=place),
    }


FAILURE_BITS = BitTable(56, {
    **_levels(0, "cell over-voltage", "HighCellVoltage", HIGHEST_CELL),
    **_levels(2, "cell under-voltage", "LowCellVoltage", LOWEST_CELL),
    **_levels(4, "pack over-voltage", "HighVoltage"),
    **_levels(6, "pack under-voltage", "LowVoltage"),
    **_levels(8, "charge over-temperature", "HighChargeTemperature"),
    **_levels(10, "charge under-temperature", "LowChargeTemperature"),
    **_levels(12, "discharge over-temperature", "HighTemperature"),
    **_levels(14, "discharge under-temperature", "LowTemperature"),
    **_levels(16, "charge over-current", "HighChargeCurrent"),
    **_levels(18, "discharge over-current", "HighDischargeCurrent"),
    # A full pack is no fault: a notice only.
    **_levels(20, "SoC too high", None),
    **_levels(22, "SoC too low", "LowSoc"),
    **_levels(24, "cell voltage difference too high", "CellImbalance"),
    **_levels(26, "temperature difference too high", None),
    32: AlarmBit("charge MOS over-temperature", "HighInternalTemperature"),
    33: AlarmBit("discharge MOS over-temperature", "HighInternalTemperature"),
    34: AlarmBit("charge MOS temperature sensor fault", "InternalFailure"),
    35: AlarmBit("discharge MOS temperature sensor fault", "InternalFailure"),
    36: AlarmBit("charge MOS stuck closed", "InternalFailure"),
    37: AlarmBit("discharge MOS stuck closed", "InternalFailure"),
    38: AlarmBit("charge MOS open-circuit fault", "InternalFailure"),
    39: AlarmBit("discharge MOS open-circuit fault", "InternalFailure"),
    40: AlarmBit("cell voltage acquisition chip fault", "InternalFailure"),
    41: AlarmBit("cell voltage sense wire off", "InternalFailure"),
    42: AlarmBit("cell temperature sensor fault", "InternalFailure"),
    43: AlarmBit("EEPROM fault", "InternalFailure"),
    44: AlarmBit("real-time clock fault", "InternalFailure"),
    45: AlarmBit("pre-charge failed", "InternalFailure"),
    # The BMS's link to a vehicle controller, which a GX is not: a notice.
    46: AlarmBit("vehicle communication fault"),
    47: AlarmBit("internal communication fault", "InternalFailure"),
    48: AlarmBit("current sensor fault", "InternalFailure"),
    49: AlarmBit("pack voltage sensor fault", "InternalFailure"),
    50: AlarmBit("short-circuit protection", "HighDischargeCurrent"),
    51: AlarmBit("pack voltage too low to charge", "LowVoltage"),
})

CHARGE_STATES = {0: "stationary", 1: "charging", 2: "discharging"}


@dataclass(frozen=True, slots=True)
class Status:
    """0x94: what the BMS says it has."""

    cells: int
    temperature_sensors: int
    charger_connected: bool
    load_connected: bool
    io_bits: int  # bits 0-3 the digital inputs DI1-DI4, bits 4-7 the outputs DO1-DO4
    cycles: int


def parse_status(frame: bytes) -> Status:
    d = _data(frame, STATUS)
    return Status(d[0], d[1], bool(d[2]), bool(d[3]), d[4], int.from_bytes(d[5:7], "big"))


def charge_state(frame: bytes) -> str:
    """0x93 byte 0, in words ("stationary", "charging", "discharging")."""
    raw = _data(frame, MOS)[0]
    return CHARGE_STATES.get(raw, f"unknown state {raw}")


def _data(frame: bytes, command: int | None = None) -> bytes:
    if len(frame) != FRAME_LENGTH or frame[:1] != HEADER or frame[3] != DATA_LENGTH:
        raise ProtocolError("not a Daly frame")
    if frame[-1] != sum(frame[:-1]) & 0xFF:
        raise ProtocolError("Daly frame with a bad checksum")
    if command is not None and frame[2] != command:
        raise ProtocolError(f"Daly frame of command 0x{frame[2]:02X}, not 0x{command:02X}")
    return frame[4:12]


def _u16(d: bytes, at: int) -> int:
    return int.from_bytes(d[at : at + 2], "big")


def _numbered(frames: list[bytes], per_frame: int, width: int, count: int | None) -> list[int] | None:
    """The values of a multi-frame reply in slot order, ``count`` of them (when the BMS told it in
    0x94), else up to the last slot that is not zero."""
    if not frames:
        return None
    slots: dict[int, bytes] = {}
    for frame in frames:
        number = frame[4]
        if not 1 <= number <= MAX_CELLS:
            raise ProtocolError(f"Daly frame number {number} out of range")
        slots[number] = frame[5 : 5 + per_frame * width]
    if count is None:
        values = _in_order(slots, per_frame, width)
        while values and values[-1] == 0:
            values.pop()
        return values
    needed = math.ceil(count / per_frame)
    return _in_order({n: v for n, v in slots.items() if n <= needed}, per_frame, width, needed)[:count]


def _in_order(slots: dict[int, bytes], per_frame: int, width: int, last: int | None = None) -> list[int]:
    last = max(slots, default=0) if last is None else last
    missing = [n for n in range(1, last + 1) if n not in slots]
    if missing:
        raise ProtocolError(f"Daly reply lacks its frame {missing[0]} of {last}")
    return [int.from_bytes(slots[n][i : i + width], "big") for n in range(1, last + 1)
            for i in range(0, per_frame * width, width)]


def decode(frames: Iterable[bytes]) -> Sample:
    """One poll's replies (any order, any subset of READ_COMMANDS) as one Sample; a value whose
    command is missing is None. Raises ProtocolError on a corrupt frame or a reply that
    contradicts itself."""
    by_command: dict[int, list[bytes]] = {}
    for frame in frames:
        _data(frame)
        by_command.setdefault(frame[2], []).append(frame)
    if not any(c in by_command for c in READ_COMMANDS):
        raise ProtocolError("no Daly reply among the frames")

    def last(command: int) -> bytes | None:
        found = by_command.get(command)
        return found[-1][4:12] if found else None

    status = parse_status(by_command[STATUS][-1]) if STATUS in by_command else None
    if status is not None and not (1 <= status.cells <= MAX_CELLS and status.temperature_sensors <= MAX_TEMPERATURES):
        raise ProtocolError(f"Daly status claims {status.cells} cells and {status.temperature_sensors} sensors")

    sample = Sample()
    pack = last(PACK)
    if pack is not None:
        sample.voltage = _u16(pack, 0) / 10
        sample.current = (_u16(pack, 4) - CURRENT_OFFSET) / 10
        sample.soc = _u16(pack, 6) / 10
        if sample.soc > 100:
            raise ProtocolError(f"Daly SoC of {sample.soc} %")
        sample.power = round(sample.voltage * sample.current, 3)

    mos = last(MOS)
    if mos is not None:
        sample.charge_enabled, sample.discharge_enabled = bool(mos[1]), bool(mos[2])
        sample.switches = {"charge": sample.charge_enabled, "discharge": sample.discharge_enabled}
        sample.capacity_remaining = int.from_bytes(mos[4:8], "big") / 1000
    if status is not None:
        sample.cycles = status.cycles

    cells = _numbered(by_command.get(CELLS, []), CELLS_PER_FRAME, 2, status.cells if status else None)
    if cells:
        sample.cell_voltages = [mv / 1000 for mv in cells]
    temps = _numbered(by_command.get(TEMPERATURES, []), TEMPERATURES_PER_FRAME, 1,
                      status.temperature_sensors if status else None)
    if temps:
        sample.temperatures = [float(t - TEMPERATURE_OFFSET) for t in temps]

    balance = last(BALANCE)
    if balance is not None:
        bits = int.from_bytes(balance[:6], "little")
        count = status.cells if status else len(sample.cell_voltages or ())
        sample.cell_balancing = [bool(bits >> i & 1) for i in range(count)] or None
        sample.balancing = bits != 0

    failures = last(FAILURES)
    if failures is not None:
        found = Decoded()
        found.add(FAILURE_BITS, int.from_bytes(failures[:7], "little"), places(last(CELL_EXTREMES), sample))
        if failures[7]:
            found.conditions.append(f"fault code {failures[7]}")
        sample.alarms = found.alarms
        sample.conditions = tuple(found.conditions)
    return sample


def places(extremes: bytes | None, sample: Sample) -> dict[str, str]:
    """Which cell is highest and lowest: as 0x91 numbers them, else from the cell voltages."""
    if extremes is not None and extremes[2] and extremes[5]:
        return {HIGHEST_CELL: cells_text([extremes[2]]), LOWEST_CELL: cells_text([extremes[5]])}
    cells = sample.cell_voltages
    if not cells:
        return {}
    return {HIGHEST_CELL: cells_text([cells.index(max(cells)) + 1]),
            LOWEST_CELL: cells_text([cells.index(min(cells)) + 1])}


def cell_extremes(frame: bytes) -> tuple[float, int, float, int]:
    """0x91: (highest cell V, its number, lowest cell V, its number)."""
    d = _data(frame, CELL_EXTREMES)
    return _u16(d, 0) / 1000, d[2], _u16(d, 3) / 1000, d[5]


def temperature_extremes(frame: bytes) -> tuple[float, int, float, int]:
    """0x92: (highest °C, its sensor, lowest °C, its sensor)."""
    d = _data(frame, TEMP_EXTREMES)
    return float(d[0] - TEMPERATURE_OFFSET), d[1], float(d[2] - TEMPERATURE_OFFSET), d[3]


def encode_replies(
    sample: Sample, *, cell_frames: int | None = None, failures: int = 0, fault_code: int = 0, io_bits: int = 0,
    charger_connected: bool = False, load_connected: bool = False,
) -> dict[int, list[bytes]]:
    """The BMS side: every read command's reply frames carrying ``sample`` (for simulators and
    round-trip tests). ``cell_frames`` is how many 0x95 frames the BMS sends (some send all 16 of
    their 48 cell slots, whatever the pack has); ``failures`` the 0x98 bits."""
    cells = [round(v * 1000) for v in sample.cell_voltages or ()]
    temps = [round(t) + TEMPERATURE_OFFSET for t in sample.temperatures or ()]

    def reply(command: int, data: bytes) -> bytes:
        return build_frame(BMS_ADDRESS, command, data)

    current = CURRENT_OFFSET + round((sample.current or 0.0) * 10)
    pack = (round((sample.voltage or 0.0) * 10).to_bytes(2, "big") + b"\x00\x00" + current.to_bytes(2, "big")
            + round((sample.soc or 0.0) * 10).to_bytes(2, "big"))
    high = max(range(len(cells)), key=cells.__getitem__, default=0)
    low = min(range(len(cells)), key=cells.__getitem__, default=0)
    extremes = (cells[high].to_bytes(2, "big") + bytes([high + 1]) + cells[low].to_bytes(2, "big") + bytes([low + 1])
                if cells else b"")
    hot = max(range(len(temps)), key=temps.__getitem__, default=0)
    cold = min(range(len(temps)), key=temps.__getitem__, default=0)
    temp_extremes = bytes([temps[hot], hot + 1, temps[cold], cold + 1]) if temps else b""
    state = 1 if (sample.current or 0) > 0 else 2 if (sample.current or 0) < 0 else 0
    switches = sample.switches
    mos = bytes([state, int(switches.get("charge", bool(sample.charge_enabled))),
                 int(switches.get("discharge", bool(sample.discharge_enabled))), (sample.cycles or 0) & 0xFF])
    mos += round((sample.capacity_remaining or 0.0) * 1000).to_bytes(4, "big")
    status = bytes([len(cells), len(temps), int(charger_connected), int(load_connected), io_bits])
    status += (sample.cycles or 0).to_bytes(2, "big")
    n_cell_frames = cell_frames or frames_needed(CELLS, len(cells))
    padded = cells + [0] * (n_cell_frames * CELLS_PER_FRAME - len(cells))
    cell_replies = [reply(CELLS, bytes([n + 1]) + b"".join(v.to_bytes(2, "big") for v in padded[3 * n : 3 * n + 3]))
                    for n in range(n_cell_frames)]
    temp_slots = temps + [0] * (frames_needed(TEMPERATURES, len(temps)) * TEMPERATURES_PER_FRAME - len(temps))
    temp_replies = [reply(TEMPERATURES, bytes([n + 1, *temp_slots[7 * n : 7 * n + 7]]))
                    for n in range(frames_needed(TEMPERATURES, len(temps)))]
    balance = sum(1 << i for i, on in enumerate(sample.cell_balancing or ()) if on).to_bytes(6, "little")
    return {
        PACK: [reply(PACK, pack)],
        CELL_EXTREMES: [reply(CELL_EXTREMES, extremes)],
        TEMP_EXTREMES: [reply(TEMP_EXTREMES, temp_extremes)],
        MOS: [reply(MOS, mos)],
        STATUS: [reply(STATUS, status)],
        CELLS: cell_replies,
        TEMPERATURES: temp_replies,
        BALANCE: [reply(BALANCE, balance)],
        FAILURES: [reply(FAILURES, failures.to_bytes(7, "little") + bytes([fault_code]))],
    }
