"""Seplos v2 BMS on RS485: the ASCII "0x20" protocol, telemetry (0x42), telealarm (0x44) and the
device name (0x51).

A frame is ASCII: ``~``, then hex digits for VER, ADR, CID1 (0x46, a lithium BMS), CID2 (the
command; in a reply the return code RTN), LENGTH (4 digits: a checksum nibble over the 12-bit
count of INFO digits, then that count), INFO, CHKSUM (4 digits: the 16-bit two's complement of the
sum of every character between ``~`` and it), then CR. A reply does not say which command it
answers: the caller knows what it asked, and ``decode_info`` tells the kinds apart by their layout.

The binary form of the Bluetooth modules (``BinaryAssembler``) is decoded for captures only.
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from ..model import ALARM_WARNING, DeviceInfo, Sample
from . import pylon_ascii
from .alarm_bits import HIGHEST_CELL, LOWEST_CELL, AlarmBit, BitTable, Decoded, cells_text
from .errors import ProtocolError
from .framing import HeaderBuffer

SOI = pylon_ascii.SOI
EOI = pylon_ascii.EOI
VERSION = 0x20
CID1_BMS = 0x46
CMD_TELEMETRY = 0x42
CMD_ALARMS = 0x44
CMD_DEVICE_NAME = 0x51

# The return codes of the protocol, for a reply that refuses a request.
RETURN_CODES = {
    0x01: "protocol version not supported",
    0x02: "checksum error",
    0x03: "length checksum error",
    0x04: "command not supported",
    0x05: "command format error",
    0x06: "invalid data",
}


def build_frame(cid2: int, info: bytes = b"", *, address: int = 0) -> bytes:
    """A frame carrying ``info`` (bytes, sent as hex digits): a request, or with ``cid2`` the
    return code, a reply."""
    return pylon_ascii.build(VERSION, address, CID1_BMS, cid2, info)


def build_request(command: int, *, address: int = 0) -> bytes:
    """The request for ``command``; its INFO is the pack's address, as Seplos's own tools send it."""
    return build_frame(command, bytes([address]), address=address)


TELEMETRY_REQUEST = build_request(CMD_TELEMETRY)
ALARMS_REQUEST = build_request(CMD_ALARMS)
# The device name request carries no INFO.
DEVICE_NAME_REQUEST = build_frame(CMD_DEVICE_NAME)

Frame = pylon_ascii.Frame


def parse_frame(frame: bytes) -> Frame:
    """The fields of one whole frame (as ``SeplosAssembler.next_frame`` returns it)."""
    parsed = pylon_ascii.parse(frame, "Seplos")
    if parsed.version != VERSION:
        raise ProtocolError(f"Seplos frame of protocol version 0x{parsed.version:02X}, not 0x20")
    return parsed


class SeplosAssembler(pylon_ascii.AsciiAssembler):
    """Reassembles Seplos frames from a byte stream; resyncs on ``~`` after garbage. A reply of 16
    cells is 150 INFO digits: a longer claim than ``max_info`` is noise."""

    family = "Seplos"

    def check(self, frame: bytes) -> None:
        parse_frame(frame)


def reply_info(frame: bytes, *, address: int = 0) -> bytes:
    """The INFO of a reply from the pack at ``address``; a refusal or another pack's reply is an error."""
    parsed = parse_frame(frame)
    if parsed.address != address:
        raise ProtocolError(f"reply from address {parsed.address}, not {address}")
    if parsed.cid1 != CID1_BMS:
        raise ProtocolError(f"reply of device type 0x{parsed.cid1:02X}, not a Seplos BMS (0x46)")
    if parsed.cid2:
        reason = RETURN_CODES.get(parsed.cid2, "unknown return code")
        raise ProtocolError(f"the BMS refused the request: 0x{parsed.cid2:02X} {reason}")
    return parsed.info


def _celsius(raw: int) -> float:
    return round((raw - 2731) / 10, 1)


def _u16(info: bytes, at: int) -> int:
    if at + 2 > len(info):
        raise ProtocolError("telemetry INFO ends inside a field")
    return struct.unpack_from(">H", info, at)[0]


@dataclass(frozen=True, slots=True)
class Telemetry:
    """What a 0x42 reply carries, in Victron's units and sign (charging positive, as Seplos sends it)."""

    cells: list[float]
    cell_temperatures: list[float]
    ambient_temperature: float | None
    mosfet_temperature: float | None
    current: float
    voltage: float
    capacity_remaining: float
    capacity_full: float
    soc: float
    rated_capacity: float
    cycles: int | None
    soh: float | None


def _telemetry(info: bytes) -> Telemetry | None:
    """The 0x42 layout: flag, command group, cell count, cells (mV), sensor count, sensors (0.1 K;
    the cells', then ambient, then power stage), current (10 mA, signed), voltage (10 mV),
    remaining (10 mAh), a count of custom fields, full capacity (10 mAh), SoC (0.1 %), rated
    capacity (10 mAh), then in later firmware cycles, SoH (0.1 %), port voltage, reserved words.
    None when ``info`` does not have that layout."""
    if len(info) < 4:
        return None
    n = info[2]
    at = 3 + 2 * n
    if at >= len(info):
        return None
    cells = [_u16(info, 3 + 2 * i) / 1000 for i in range(n)]
    sensors = info[at]
    temps = [_celsius(_u16(info, at + 1 + 2 * i)) for i in range(sensors)]
    at += 1 + 2 * sensors
    if at + 13 > len(info):
        return None
    signed_current = struct.unpack_from(">h", info, at)[0]
    ambient = mosfet = None
    if len(temps) >= 3:
        *temps, ambient, mosfet = temps
    tail = len(info) - (at + 13)
    return Telemetry(
        cells=cells,
        cell_temperatures=temps,
        ambient_temperature=ambient,
        mosfet_temperature=mosfet,
        current=signed_current / 100,
        voltage=_u16(info, at + 2) / 100,
        capacity_remaining=_u16(info, at + 4) / 100,
        capacity_full=_u16(info, at + 7) / 100,
        soc=_u16(info, at + 9) / 10,
        rated_capacity=_u16(info, at + 11) / 100,
        cycles=_u16(info, at + 13) if tail >= 2 else None,
        soh=_u16(info, at + 15) / 10 if tail >= 4 else None,
    )


_W = ALARM_WARNING
# Two event bytes that Seplos's v2 and v3 protocols define alike, bit for bit.
VOLTAGE_EVENTS = BitTable(8, {
    0: AlarmBit("cell high voltage alarm", "HighCellVoltage", _W, HIGHEST_CELL),
    1: AlarmBit("cell over-voltage protection", "HighCellVoltage", place=HIGHEST_CELL),
    2: AlarmBit("cell low voltage alarm", "LowCellVoltage", _W, LOWEST_CELL),
    3: AlarmBit("cell under-voltage protection", "LowCellVoltage", place=LOWEST_CELL),
    4: AlarmBit("pack high voltage alarm", "HighVoltage", _W),
    5: AlarmBit("pack over-voltage protection", "HighVoltage"),
    6: AlarmBit("pack low voltage alarm", "LowVoltage", _W),
    7: AlarmBit("pack under-voltage protection", "LowVoltage"),
})
CELL_TEMPERATURE_EVENTS = BitTable(8, {
    0: AlarmBit("charge high temperature alarm", "HighChargeTemperature", _W),
    1: AlarmBit("charge over-temperature protection", "HighChargeTemperature"),
    2: AlarmBit("charge low temperature alarm", "LowChargeTemperature", _W),
    3: AlarmBit("charge under-temperature protection", "LowChargeTemperature"),
    4: AlarmBit("discharge high temperature alarm", "HighTemperature", _W),
    5: AlarmBit("discharge over-temperature protection", "HighTemperature"),
    6: AlarmBit("discharge low temperature alarm", "LowTemperature", _W),
    7: AlarmBit("discharge under-temperature protection", "LowTemperature"),
})
# The alarm events of a 0x44 reply, as Seplos's protocol (v2.0) names their bits: an "alarm" is a
# warning, a "protection" the BMS acting, an alarm. Bits the protocol calls internal are states.
EVENTS = (
    BitTable(8, {
        0: AlarmBit("voltage sensor fault", "InternalFailure"),
        1: AlarmBit("temperature sensor fault", "InternalFailure"),
        2: AlarmBit("current sensor fault", "InternalFailure"),
        3: AlarmBit("key switch fault", "InternalFailure"),
        4: AlarmBit("cell voltage dropout fault", "InternalFailure"),
        5: AlarmBit("charge switch fault", "InternalFailure"),
        6: AlarmBit("discharge switch fault", "InternalFailure"),
        7: AlarmBit("current limit switch fault", "InternalFailure"),
    }),
    VOLTAGE_EVENTS,
    CELL_TEMPERATURE_EVENTS,
    BitTable(8, {
        0: AlarmBit("ambient high temperature alarm", "HighTemperature", _W),
        1: AlarmBit("ambient over-temperature protection", "HighTemperature"),
        2: AlarmBit("ambient low temperature alarm", "LowTemperature", _W),
        3: AlarmBit("ambient under-temperature protection", "LowTemperature"),
        4: AlarmBit("power stage over-temperature protection", "HighInternalTemperature"),
        5: AlarmBit("power stage high temperature alarm", "HighInternalTemperature", _W),
        6: AlarmBit("cell heating at low temperature"),
    }, unknown="reserved alarm bit"),
    BitTable(8, {
        0: AlarmBit("charge over-current alarm", "HighChargeCurrent", _W),
        1: AlarmBit("charge over-current protection", "HighChargeCurrent"),
        2: AlarmBit("discharge over-current alarm", "HighDischargeCurrent", _W),
        3: AlarmBit("discharge over-current protection", "HighDischargeCurrent"),
        4: AlarmBit("transient over-current protection", "HighCurrent"),
        5: AlarmBit("output short-circuit protection", "HighCurrent"),
        6: AlarmBit("transient over-current lockout", "HighCurrent"),
        7: AlarmBit("output short-circuit lockout", "HighCurrent"),
    }),
    BitTable(8, {
        0: AlarmBit("charge high voltage protection", "HighVoltage"),
        1: AlarmBit("waiting for intermittent recharge"),
        2: AlarmBit("remaining capacity alarm", "LowSoc", _W),
        3: AlarmBit("remaining capacity protection", "LowSoc"),
        4: AlarmBit("charging forbidden: cell voltage too low", "LowCellVoltage"),
        5: AlarmBit("output reverse polarity protection", "InternalFailure"),
        6: AlarmBit("output connection fault", "InternalFailure"),
    }, states=0x80),
    BitTable(8, {
        4: AlarmBit("waiting for automatic charging"),
        5: AlarmBit("waiting for manual charging"),
    }, states=0xCF),
    BitTable(8, {
        0: AlarmBit("EEPROM storage fault", "InternalFailure"),
        1: AlarmBit("real-time clock error", "InternalFailure", _W),
        2: AlarmBit("voltage calibration not done", "InternalFailure", _W),
        3: AlarmBit("current calibration not done", "InternalFailure", _W),
        4: AlarmBit("zero point calibration not done", "InternalFailure", _W),
    }, states=0xE0),
)
# Where each event byte lies among the custom fields of a 0x44 reply.
EVENT_AT = (0, 1, 2, 3, 4, 5, 12, 13)
SWITCHES_AT, BALANCE_AT, SYSTEM_AT, DISCONNECTED_AT = 6, 7, 9, 10
# The on-off state byte: the FETs, the current limiter and the heater are states.
STATE_DISCHARGE, STATE_CHARGE = 0x01, 0x02
# Cells 1-16 whose voltage wire the BMS finds open, one bit each (two bytes, cells 1-8 first).
DISCONNECTED = BitTable(16, {i: AlarmBit(f"cell {i + 1} wire disconnected", "InternalFailure") for i in range(16)})
# The custom fields the layout above needs.
_CUSTOM_FIELDS = 14
# The state a 0x44 reply gives per cell and per sensor, and for current and pack voltage.
_STATE_TEXT = {0x01: "below its lower limit", 0x02: "above its upper limit", 0xF0: "faulty"}


@dataclass(frozen=True, slots=True)
class Alarms:
    """What a 0x44 reply carries."""

    found: Decoded
    charge_enabled: bool
    discharge_enabled: bool
    # The balancing bits of cells 1-16.
    balance: int


def _alarms(info: bytes) -> Alarms | None:
    """The 0x44 layout: flag, command group, cell count, a state per cell, sensor count, a state
    per sensor, current state, voltage state, the count of custom fields, the custom fields (see
    EVENT_AT and the *_AT offsets). None when ``info`` does not have that layout."""
    if len(info) < 4:
        return None
    n = info[2]
    at = 3 + n
    if at >= len(info):
        return None
    cell_states = info[3:at]
    sensors = info[at]
    sensor_states = info[at + 1 : at + 1 + sensors]
    at += 1 + sensors
    if at + 3 > len(info):
        return None
    current_state, voltage_state, count = info[at], info[at + 1], info[at + 2]
    custom = info[at + 3 :]
    if len(custom) != count or count < _CUSTOM_FIELDS:
        return None
    found = Decoded()
    places = {
        HIGHEST_CELL: _flagged(cell_states, 0x02),
        LOWEST_CELL: _flagged(cell_states, 0x01),
    }
    for table, offset in zip(EVENTS, EVENT_AT):
        found.add(table, custom[offset], {k: v for k, v in places.items() if v})
    found.add(DISCONNECTED, custom[DISCONNECTED_AT] | custom[DISCONNECTED_AT + 1] << 8)
    for state, text in _STATE_TEXT.items():
        if _flagged(cell_states, state):
            found.conditions.append(f"cell voltage {text}, {_flagged(cell_states, state)}")
        sensors_flagged = [str(i + 1) for i, s in enumerate(sensor_states) if s == state]
        if sensors_flagged:
            found.conditions.append(f"temperature {text}, sensor {', '.join(sensors_flagged)}")
    for what, state in (("current", current_state), ("pack voltage", voltage_state)):
        if state in _STATE_TEXT:
            found.conditions.append(f"{what} {_STATE_TEXT[state]}")
    return Alarms(
        found=found,
        charge_enabled=bool(custom[SWITCHES_AT] & STATE_CHARGE),
        discharge_enabled=bool(custom[SWITCHES_AT] & STATE_DISCHARGE),
        balance=custom[BALANCE_AT] | custom[BALANCE_AT + 1] << 8,
    )


def _flagged(states: bytes, state: int) -> str:
    numbers = [i + 1 for i, s in enumerate(states) if s == state]
    return cells_text(numbers) if numbers else ""


@dataclass(frozen=True, slots=True)
class DeviceName:
    """A 0x51 reply: the model name, the firmware version, and a text the BMS reports beside them
    (the CAN protocol it is set to, on the packs seen)."""

    model: str | None
    sw_version: str
    extra: str | None


def _device_name(info: bytes) -> DeviceName | None:
    if len(info) != 32 or not all(0x20 <= b < 0x7F for b in info[:10] + info[12:]):
        return None
    return DeviceName(_text(info[:10]), f"{info[10]}.{info[11]}", _text(info[12:]))


def _text(raw: bytes) -> str | None:
    return raw.decode("ascii").strip() or None


def decode_info(info: bytes) -> Telemetry | Alarms | DeviceName:
    """The content of a reply's INFO, whichever of the three kinds it is."""
    found = _alarms(info) or _device_name(info) or _telemetry(info)
    if found is None:
        raise ProtocolError(f"Seplos reply INFO of {len(info)} bytes fits no known layout")
    return found


def decode(telemetry: bytes, alarms: bytes | None = None, name: bytes | None = None) -> Sample:
    """The Sample of one poll from the INFO of its replies: telemetry (0x42), and when given the
    alarms (0x44) and the device name (0x51)."""
    t = _telemetry(telemetry)
    if t is None:
        raise ProtocolError("the telemetry reply does not have the 0x42 layout")
    a = _alarms(alarms) if alarms is not None else None
    if alarms is not None and a is None:
        raise ProtocolError("the alarm reply does not have the 0x44 layout")
    d = _device_name(name) if name is not None else None
    return Sample(
        voltage=t.voltage,
        current=t.current,
        soc=t.soc,
        soh=t.soh,
        capacity_remaining=t.capacity_remaining,
        capacity_full=t.capacity_full or None,
        cycles=t.cycles,
        cell_voltages=t.cells or None,
        cell_balancing=[bool(a.balance >> i & 1) for i in range(min(len(t.cells), 16))] if a is not None else None,
        temperatures=t.cell_temperatures or None,
        mosfet_temperature=t.mosfet_temperature,
        charge_enabled=a.charge_enabled if a is not None else None,
        discharge_enabled=a.discharge_enabled if a is not None else None,
        balancing=bool(a.balance) if a is not None else None,
        alarms=a.found.alarms if a is not None else {},
        conditions=tuple(a.found.conditions) if a is not None else None,
        device=DeviceInfo(model=d.model, sw_version=d.sw_version) if d is not None else None,
    )


def decode_replies(frames: Iterable[bytes]) -> Sample:
    """The Sample of the frames one poll put on the line, in any order: requests (command codes
    0x40-0x8F) are passed over, a refusal is an error, the replies are told apart by layout."""
    infos: dict[type, bytes] = {}
    for frame in frames:
        parsed = parse_frame(frame)
        if 0x40 <= parsed.cid2 < 0x90:
            continue
        info = reply_info(frame, address=parsed.address)
        infos[type(decode_info(info))] = info
    if Telemetry not in infos:
        raise ProtocolError("no telemetry (0x42) reply in the bytes given")
    return decode(infos[Telemetry], infos.get(Alarms), infos.get(DeviceName))


# The binary form of the protocol that Seplos's Bluetooth modules speak: 0x7E, VER, ADR, then in a
# request CID1 and CID2, in a reply the command and RTN, INFO's length (u16 BE), INFO, a
# CRC16/XMODEM of everything between 0x7E and it (BE), 0x0D. Its pack telemetry (0x61) starts
# with the 0x42 layout; what follows it is not decoded.
BINARY_SOI = b"\x7e"
CMD_PACK_TELEMETRY = 0x61
# The longest binary reply seen is 116 bytes.
_MAX_BINARY_INFO = 512


class BinaryAssembler(HeaderBuffer):
    """Reassembles frames of the binary form; resyncs on 0x7E after garbage."""

    def __init__(self) -> None:
        super().__init__(BINARY_SOI)

    def next_frame(self) -> bytes | None:
        if not self.at_header() or len(self.buf) < 7:
            return None
        length = struct.unpack_from(">H", self.buf, 5)[0]
        if length > _MAX_BINARY_INFO:
            self.skip(1)
            raise ProtocolError(f"impossible binary Seplos length {length}")
        total = 7 + length + 3
        if len(self.buf) < total:
            return None
        frame = bytes(self.buf[:total])
        if frame[-1] != EOI or struct.unpack(">H", frame[-3:-1])[0] != binascii.crc_hqx(frame[1:-3], 0):
            self.skip(1)
            raise ProtocolError("binary Seplos frame with a bad CRC or end mark")
        del self.buf[:total]
        return frame


CMD_BINARY_NAME = 0x51
# The module's GATT: it bridges the binary form on service FF00, notifying on FF01, written on FF02.
BLE_SERVICE_UUID = "0000ff00-0000-1000-8000-00805f9b34fb"
BLE_NOTIFY_UUID = "0000ff01-0000-1000-8000-00805f9b34fb"
BLE_WRITE_UUID = "0000ff02-0000-1000-8000-00805f9b34fb"
_BINARY_REQUEST_VERSION, _BINARY_REPLY_VERSION = 0x10, 0x14


def _binary_frame(head: bytes, info: bytes) -> bytes:
    body = head + struct.pack(">H", len(info)) + info
    return BINARY_SOI + body + struct.pack(">H", binascii.crc_hqx(body, 0)) + bytes([EOI])


def build_binary_request(command: int, info: bytes = b"", *, address: int = 0) -> bytes:
    """A request of the binary form (0x61 asks with INFO 00, 0x51 with none)."""
    return _binary_frame(bytes([_BINARY_REQUEST_VERSION, address, CID1_BMS, command]), info)


def build_binary_reply(command: int, info: bytes, *, address: int = 0, rtn: int = 0) -> bytes:
    """The BMS side of the binary form (for simulators and tests)."""
    return _binary_frame(bytes([_BINARY_REPLY_VERSION, address, command, rtn]), info)


# The binary 0x51 reply's INFO: the CAN protocol's name (19 bytes), the model (11), the firmware
# version (major, minor), then 4 bytes not decoded; laid out after the one capture on record.
_BINARY_MODEL = slice(19, 30)
_BINARY_VERSION_AT = 30


def decode_binary_name(info: bytes) -> DeviceInfo:
    """The model and firmware version in a binary 0x51 reply's INFO."""
    if len(info) < _BINARY_VERSION_AT + 2 or not all(0x20 <= b < 0x7F for b in info[_BINARY_MODEL]):
        raise ProtocolError(f"a binary Seplos device name of {len(info)} bytes fits no known layout")
    return DeviceInfo(model=_text(info[_BINARY_MODEL]),
                      sw_version=f"{info[_BINARY_VERSION_AT]}.{info[_BINARY_VERSION_AT + 1]}")


def encode_binary_name(model: str, sw_version: str, can_protocol: str = "CAN:Victron") -> bytes:
    """The INFO of a binary 0x51 reply (for simulators and round-trip tests)."""
    major, _, minor = sw_version.partition(".")
    return (can_protocol.encode("ascii")[:19].ljust(19) + model.encode("ascii")[:11].ljust(11)
            + bytes([int(major), int(minor or 0)]) + bytes(4))


def decode_binary_replies(frames: Iterable[bytes]) -> Sample:
    """The Sample in the pack telemetry (0x61) reply among binary frames; requests (CID1 0x46
    in the fourth byte) and other replies are passed over."""
    for frame in frames:
        if len(frame) < 10 or frame[3] != CMD_PACK_TELEMETRY:
            continue
        if frame[4]:
            reason = RETURN_CODES.get(frame[4], "unknown return code")
            raise ProtocolError(f"the BMS refused the request: 0x{frame[4]:02X} {reason}")
        return decode(frame[7:-3])
    raise ProtocolError("no pack telemetry (0x61) reply in the bytes given")


def encode_telemetry(sample: Sample, *, rated_capacity: float | None = None, ambient: float = 25.0) -> bytes:
    """The INFO of a 0x42 reply carrying ``sample`` (for simulators and round-trip tests)."""
    cells = sample.cell_voltages or []
    temps = [*(sample.temperatures or []), ambient, sample.mosfet_temperature if sample.mosfet_temperature is not None else ambient]
    full = sample.capacity_full or 0.0
    out = bytearray([0x00, 0x01, len(cells)])
    out += b"".join(struct.pack(">H", round(v * 1000)) for v in cells)
    out.append(len(temps))
    out += b"".join(struct.pack(">H", round(t * 10) + 2731) for t in temps)
    out += struct.pack(">hHHBHHH", round((sample.current or 0) * 100), round((sample.voltage or 0) * 100),
                       round((sample.capacity_remaining or 0) * 100), 0x0A, round(full * 100),
                       round((sample.soc or 0) * 10), round((rated_capacity or full) * 100))
    out += struct.pack(">HHH", sample.cycles or 0, round((sample.soh if sample.soh is not None else 100) * 10),
                       round((sample.voltage or 0) * 100))
    return bytes(out + bytes(8))


def encode_alarms(sample: Sample, *, extra_fields: int = 6) -> bytes:
    """The INFO of a 0x44 reply raising ``sample.alarms`` (the first bit of the events that raises
    each), with its switches and balancing (for simulators and round-trip tests)."""
    cells = sample.cell_voltages or []
    temps = len(sample.temperatures or []) + 2
    custom = bytearray(_CUSTOM_FIELDS + extra_fields)
    for table, offset in zip(EVENTS, EVENT_AT):
        word = table.encode({k: v for k, v in sample.alarms.items() if k not in _raised(custom)})
        custom[offset] = word
    custom[SWITCHES_AT] = (STATE_CHARGE if sample.charge_enabled else 0) | (STATE_DISCHARGE if sample.discharge_enabled else 0)
    balance = sum(1 << i for i, on in enumerate((sample.cell_balancing or [])[:16]) if on)
    custom[BALANCE_AT], custom[BALANCE_AT + 1] = balance & 0xFF, balance >> 8
    custom[SYSTEM_AT] = 0x02 if (sample.current or 0) > 0 else 0x01 if (sample.current or 0) < 0 else 0x10
    return bytes([0x00, 0x01, len(cells), *bytes(len(cells)), temps, *bytes(temps), 0, 0, len(custom)]) + bytes(custom)


def _raised(custom: bytearray) -> set[str]:
    """The alarms the event bytes already raise, so that each alarm is set once."""
    found = Decoded()
    for table, offset in zip(EVENTS, EVENT_AT):
        found.add(table, custom[offset])
    return set(found.alarms)


def encode_device_name(model: str, sw_version: str, extra: str = "") -> bytes:
    """The INFO of a 0x51 reply."""
    major, _, minor = sw_version.partition(".")
    return model.encode("ascii")[:10].ljust(10) + bytes([int(major), int(minor or 0)]) + extra.encode("ascii")[:20].ljust(20)
