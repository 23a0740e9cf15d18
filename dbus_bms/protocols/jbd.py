"""JBD (Xiaoxiang, Overkill Solar) "DD ... 77" protocol, on the BMS's UART/RS485 port and through
its Bluetooth LE module, which bridges that UART (service FF00: notifications on FF01, writes to FF02).

Request: ``DD``, ``A5`` (read) or ``5A`` (write), register, length, data, checksum, ``77``.
Reply: ``DD``, register, status (0 ok, 0x80 refused), length, data, checksum, ``77``. In both the
checksum is 0x10000 minus the sum of the bytes from the third up to the end of the data, as a
big-endian u16. All values are big-endian.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from ..model import DeviceInfo, Sample
from .alarm_bits import HIGHEST_CELL, LOWEST_CELL, AlarmBit, BitTable, Decoded, cells_text
from .errors import ProtocolError
from .framing import HeaderBuffer, LengthByteBuffer

START = 0xDD
END = 0x77
READ = 0xA5
WRITE = 0x5A
STATUS_OK = 0x00
STATUS_REFUSED = 0x80

REG_BASIC = 0x03
REG_CELLS = 0x04
REG_HARDWARE = 0x05
REG_ERROR_COUNTS = 0xAA
# EEPROM and FET control are writable only in "factory mode": entered by writing 0x5678 to register
# 0x00, left by writing 0x0000 to register 0x01 (0x2828 there would also store the EEPROM).
REG_ENTER_FACTORY = 0x00
REG_EXIT_FACTORY = 0x01
REG_FET_CONTROL = 0xE1
FACTORY_KEY = 0x5678

BLE_SERVICE_UUID = "0000ff00-0000-1000-8000-00805f9b34fb"
BLE_NOTIFY_UUID = "0000ff01-0000-1000-8000-00805f9b34fb"
BLE_WRITE_UUID = "0000ff02-0000-1000-8000-00805f9b34fb"
# Some modules (DH04 and alike) bridge the UART on FFF1 (notify) and FFF2 (write) instead.
BLE_DH04_SERVICE_UUID = "0000fff0-0000-1000-8000-00805f9b34fb"
BLE_DH04_NOTIFY_UUID = "0000fff1-0000-1000-8000-00805f9b34fb"
BLE_DH04_WRITE_UUID = "0000fff2-0000-1000-8000-00805f9b34fb"

# A BLE module that has a password answers nothing on a new link until it was sent one in a frame of
# its own: ``FF AA``, command 0x15, length, the password as ASCII, then the sum of the bytes from the
# command to the end of the password, mod 256. It answers ``FF AA 15 01 <status> <sum>``, status 0
# when it took the password.
UNLOCK_HEADER = b"\xff\xaa"
CMD_PASSWORD = 0x15

# Start, register or command, status or register, length; checksum (2) and end after the data.
_OVERHEAD = 7


def checksum(body: bytes) -> bytes:
    """The checksum of ``body``: the bytes from the third up to the end of the data."""
    return struct.pack(">H", (0x10000 - sum(body)) & 0xFFFF)


def _frame(second: int, third: int, data: bytes) -> bytes:
    if len(data) > 255:
        raise ValueError(f"{len(data)} data bytes do not fit a JBD frame")
    body = bytes([third, len(data)]) + data
    return bytes([START, second]) + body + checksum(body) + bytes([END])


def build_read(register: int) -> bytes:
    return _frame(READ, register, b"")


def build_write(register: int, value: int) -> bytes:
    """A write of one 16-bit register."""
    return _frame(WRITE, register, struct.pack(">H", value))


READ_BASIC = build_read(REG_BASIC)
READ_CELLS = build_read(REG_CELLS)
READ_HARDWARE = build_read(REG_HARDWARE)
ENTER_FACTORY = build_write(REG_ENTER_FACTORY, FACTORY_KEY)
EXIT_FACTORY = build_write(REG_EXIT_FACTORY, 0x0000)

# Register 0xE1 holds what the host forbids: bit 0 the charge FET, bit 1 the discharge FET.
FORBID_CHARGE, FORBID_DISCHARGE = 0x1, 0x2
SWITCHES = ("charge", "discharge")


def build_fet_control(*, charge: bool, discharge: bool) -> bytes:
    """The 0xE1 write that lets the charge and discharge FETs close (True) or holds them open."""
    forbidden = (0 if charge else FORBID_CHARGE) | (0 if discharge else FORBID_DISCHARGE)
    return build_write(REG_FET_CONTROL, forbidden)


def build_reply(register: int, data: bytes, status: int = STATUS_OK) -> bytes:
    """The BMS side: a reply to ``register`` carrying ``data``."""
    return _frame(register, status, data)


class JbdAssembler(LengthByteBuffer):
    """Cuts requests and replies out of a byte stream.

    The start byte is a single 0xDD, common in data: a later frame may win (``LengthByteBuffer``).
    """

    def __init__(self) -> None:
        super().__init__(bytes([START]))

    overhead = _OVERHEAD
    broken = "JBD frame with a bad checksum or end byte"

    def sealed(self, frame: bytes) -> bool:
        return frame[-1] == END and frame[-3:-1] == checksum(frame[2:-3])


def _unlock_frame(command: int, data: bytes) -> bytes:
    body = bytes([command, len(data)]) + data
    return UNLOCK_HEADER + body + bytes([sum(body) & 0xFF])


def build_unlock(password: str) -> bytes:
    """The frame that gives a BLE module its password."""
    data = password.encode("ascii")
    if not 0 < len(data) <= 255:
        raise ValueError("a JBD password is 1 to 255 ASCII characters")
    return _unlock_frame(CMD_PASSWORD, data)


def build_unlock_reply(accepted: bool) -> bytes:
    """The module side: its answer to a password frame."""
    return _unlock_frame(CMD_PASSWORD, bytes([0x00 if accepted else 0x01]))


class UnlockAssembler(HeaderBuffer):
    """Cuts ``FF AA`` password frames (the host's and the module's) out of a byte stream."""

    def __init__(self) -> None:
        super().__init__(UNLOCK_HEADER)

    def next_frame(self) -> bytes | None:
        if not self.at_header() or len(self.buf) < 4:
            return None
        total = 5 + self.buf[3]
        if len(self.buf) < total:
            return None
        frame = bytes(self.buf[:total])
        if frame[-1] != sum(frame[2:-1]) & 0xFF:
            self.skip(1)
            raise ProtocolError("JBD password frame with a bad checksum")
        del self.buf[:total]
        return frame


def password_of(frame: bytes) -> str:
    """The password a host's password frame carries; ProtocolError for any other frame."""
    if frame[:2] != UNLOCK_HEADER or len(frame) < 5 or frame[2] != CMD_PASSWORD:
        raise ProtocolError("not a JBD password frame")
    return frame[4:-1].decode("ascii", "replace")


def unlock_accepted(frame: bytes) -> bool:
    """Whether the module's answer to a password frame says it took the password."""
    if frame[:2] != UNLOCK_HEADER or len(frame) != 6 or frame[2] != CMD_PASSWORD:
        raise ProtocolError("not the answer to a JBD password frame")
    return frame[4] == 0x00


def reply_data(frame: bytes, register: int) -> bytes:
    """The data of a reply to ``register``; ProtocolError when it is another frame or a refusal."""
    if len(frame) < _OVERHEAD or frame[0] != START or frame[-1] != END or len(frame) != _OVERHEAD + frame[3]:
        raise ProtocolError("not a JBD frame")
    if frame[1] != register:
        raise ProtocolError(f"a reply to register 0x{frame[1]:02X}, not 0x{register:02X}")
    if frame[2] != STATUS_OK:
        raise ProtocolError(f"the BMS refused register 0x{register:02X} (status 0x{frame[2]:02X})")
    return frame[4:-3]


# The protection word of the basic info (offset 16), as JBD's protocol names its bits. Each is a
# protection the BMS acts on by opening a FET, so an alarm; the software lock is the host's own
# 0xE1 write holding a FET open, which control reports, so it raises none. Bits 13-15 are reserved.
PROTECTIONS = BitTable(16, {
    0: AlarmBit("cell over-voltage protection", "HighCellVoltage", place=HIGHEST_CELL),
    1: AlarmBit("cell under-voltage protection", "LowCellVoltage", place=LOWEST_CELL),
    2: AlarmBit("pack over-voltage protection", "HighVoltage"),
    3: AlarmBit("pack under-voltage protection", "LowVoltage"),
    4: AlarmBit("charge over-temperature protection", "HighChargeTemperature"),
    5: AlarmBit("charge under-temperature protection", "LowChargeTemperature"),
    6: AlarmBit("discharge over-temperature protection", "HighTemperature"),
    7: AlarmBit("discharge under-temperature protection", "LowTemperature"),
    8: AlarmBit("charge over-current protection", "HighChargeCurrent"),
    9: AlarmBit("discharge over-current protection", "HighDischargeCurrent"),
    10: AlarmBit("short-circuit protection", "HighDischargeCurrent"),
    11: AlarmBit("front-end IC error", "InternalFailure"),
    12: AlarmBit("FET software lock"),
}, unknown="unknown protection bit")
SOFTWARE_LOCK = 1 << 12

# FET status byte (offset 20): bit 0 the charge FET, bit 1 the discharge FET closed.
FET_CHARGE, FET_DISCHARGE = 0x1, 0x2
# Voltage, current, remaining, nominal, cycles, date, balance low, balance high, protections,
# version, SoC, FETs, cells, NTCs: what precedes the NTC values.
_BASIC = struct.Struct(">HhHHHHHHHBBBBB")
_KELVIN_OFFSET = 2731

# The 0xAA error counters, in the order the BMS sends them (u16 each); the 12th is not named.
ERROR_COUNTS = (
    "short_circuit", "charge_overcurrent", "discharge_overcurrent", "cell_overvoltage", "cell_undervoltage",
    "charge_overtemperature", "charge_undertemperature", "discharge_overtemperature",
    "discharge_undertemperature", "pack_overvoltage", "pack_undervoltage",
)


def _basic(data: bytes) -> dict:
    if len(data) < _BASIC.size:
        raise ProtocolError(f"basic info of {len(data)} bytes, at least {_BASIC.size} expected")
    (volts, amps, remaining, nominal, cycles, _date, bal_lo, bal_hi, protections, version, soc, fets, cells,
     ntcs) = _BASIC.unpack_from(data)
    raw_temps = data[_BASIC.size : _BASIC.size + 2 * ntcs]
    if len(raw_temps) != 2 * ntcs:
        raise ProtocolError(f"basic info announces {ntcs} temperatures but carries {len(raw_temps) // 2}")
    temps = [round((t - _KELVIN_OFFSET) / 10, 1) for (t,) in struct.iter_unpack(">H", raw_temps)]
    return dict(volts=volts, amps=amps, remaining=remaining, nominal=nominal, cycles=cycles,
                balance=bal_lo | bal_hi << 16, protections=protections, version=version, soc=soc, fets=fets,
                cells=cells, temps=temps)


def decode_cells(frame: bytes) -> list[float]:
    """The cell voltages of a 0x04 reply, in V."""
    data = reply_data(frame, REG_CELLS)
    if len(data) % 2:
        raise ProtocolError(f"cell data of {len(data)} bytes is not whole cells")
    return [mv / 1000 for (mv,) in struct.iter_unpack(">H", data)]


def decode_hardware(frame: bytes) -> DeviceInfo:
    """The name in a 0x05 reply, which JBD's tools show as the model."""
    name = reply_data(frame, REG_HARDWARE).split(b"\x00", 1)[0].decode("ascii", "replace").strip()
    return DeviceInfo(model=name or None)


def decode_error_counts(frame: bytes) -> dict[str, int]:
    """How often the BMS protected, per protection, from a 0xAA reply."""
    data = reply_data(frame, REG_ERROR_COUNTS)
    if len(data) < 2 * len(ERROR_COUNTS):
        raise ProtocolError(f"error counters of {len(data)} bytes, {2 * len(ERROR_COUNTS)} expected")
    return dict(zip(ERROR_COUNTS, struct.unpack_from(f">{len(ERROR_COUNTS)}H", data)))


def decode(frames: Iterable[bytes]) -> Sample:
    """The Sample of one poll's replies: a basic info (0x03), with or without the cell voltages
    (0x04) and the hardware name (0x05); frames of other registers are ignored."""
    basic = cells = info = None
    for frame in frames:
        if len(frame) < _OVERHEAD:
            raise ProtocolError("not a JBD frame")
        if frame[1] == REG_BASIC:
            basic = _basic(reply_data(frame, REG_BASIC))
        elif frame[1] == REG_CELLS:
            cells = decode_cells(frame)
        elif frame[1] == REG_HARDWARE:
            info = decode_hardware(frame)
    if basic is None:
        raise ProtocolError("no JBD basic info (register 0x03) among the replies")
    count = len(cells) if cells else basic["cells"]
    places: dict[str, str] = {}
    if cells:
        places[HIGHEST_CELL] = cells_text([cells.index(max(cells)) + 1])
        places[LOWEST_CELL] = cells_text([cells.index(min(cells)) + 1])
    found = Decoded()
    found.add(PROTECTIONS, basic["protections"], places)
    fets, locked = basic["fets"], bool(basic["protections"] & SOFTWARE_LOCK)
    version = basic["version"]
    device = DeviceInfo(sw_version=f"{version >> 4}.{version & 0xF}").merged(info)
    return Sample(
        voltage=basic["volts"] / 100,
        current=basic["amps"] / 100,
        soc=float(basic["soc"]),
        capacity_remaining=basic["remaining"] / 100,
        capacity_full=basic["nominal"] / 100 or None,
        cycles=basic["cycles"],
        cell_voltages=cells or None,
        cell_balancing=[bool(basic["balance"] >> i & 1) for i in range(count)] or None,
        temperatures=basic["temps"] or None,
        charge_enabled=bool(fets & FET_CHARGE),
        discharge_enabled=bool(fets & FET_DISCHARGE),
        balancing=bool(basic["balance"]),
        alarms=found.alarms,
        conditions=tuple(found.conditions),
        device=device,
        # A FET the host locked is open while the lock holds; without a lock, both switches are on
        # and a FET that is open is held so by a protection.
        switches={"charge": not locked or bool(fets & FET_CHARGE),
                  "discharge": not locked or bool(fets & FET_DISCHARGE)},
    )


def encode_basic(sample: Sample, *, protections: int | None = None, fets: int | None = None) -> bytes:
    """The BMS side: a basic-info reply carrying ``sample``; ``protections`` and ``fets`` override
    the words derived from its alarms and FET states."""
    temps = sample.temperatures or []
    cells = sample.cell_voltages or []
    balance = sum(1 << i for i, on in enumerate(sample.cell_balancing or []) if on)
    if protections is None:
        protections = PROTECTIONS.encode(sample.alarms)
    if fets is None:
        fets = (FET_CHARGE if sample.charge_enabled else 0) | (FET_DISCHARGE if sample.discharge_enabled else 0)
    version = 0x80
    if sample.device and sample.device.sw_version:
        major, _, minor = sample.device.sw_version.partition(".")
        version = (int(major) & 0xF) << 4 | (int(minor or 0) & 0xF)
    data = _BASIC.pack(
        round((sample.voltage or 0) * 100), round((sample.current or 0) * 100),
        round((sample.capacity_remaining or 0) * 100), round((sample.capacity_full or 0) * 100),
        sample.cycles or 0, 0x2C7C, balance & 0xFFFF, balance >> 16, protections, version,
        round(sample.soc or 0), fets, len(cells), len(temps),
    ) + b"".join(struct.pack(">H", round(t * 10) + _KELVIN_OFFSET) for t in temps)
    return build_reply(REG_BASIC, data)


def encode_cells(cells: list[float]) -> bytes:
    return build_reply(REG_CELLS, b"".join(struct.pack(">H", round(v * 1000)) for v in cells))


def encode_hardware(name: str) -> bytes:
    return build_reply(REG_HARDWARE, name.encode("ascii", "replace"))
