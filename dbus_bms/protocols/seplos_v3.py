"""Seplos v3 (the 10E boards and later) on RS485: Modbus RTU at 19200 baud, CRC-16/MODBUS.

Each pack answers at its own address (0-15; a pack at 0 is the parallel master, which polls the
others over the same bus when it has any). A pack's data lie in blocks read whole: PIA (FC 0x04
from 0x1000: voltage, current, capacities, SoC, SoH, cycles), PIB (FC 0x04 from 0x1100: 16 cell
voltages, 4 cell sensors, ambient and power temperatures), PIC (FC 0x01, 144 coils from 0x1200:
per-cell alarm and balancing bits, then one byte per event table), SPA (FC 0x04 from 0x1300:
the protection settings) and VIA (FC 0x04 from 0x1700: maker, model, firmware and serial). The
master also answers for the whole system: EIA, EIB, EIC (0x2000, 0x2100, 0x2200) and the inverter
protocol (PCT, 0x1800). Registers are big-endian, 32-bit EIA values low word first, temperatures
in 0.1 K above absolute zero.

Boards of 300 A and 400 A send the PIA current in 0.1 A, boards of 200 A and less in 0.01 A: the
frames do not say which, the owner does (``CURRENT_UNITS``, the config's ``protocol``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..model import ALARM_WARNING, BmsSettings, DeviceInfo, Sample
from .alarm_bits import HIGHEST_CELL, LOWEST_CELL, AlarmBit, BitTable, Decoded, cells_text
from .crc import crc16
from .errors import ProtocolError
from .framing import HeaderBuffer
from .seplos import CELL_TEMPERATURE_EVENTS, VOLTAGE_EVENTS

# The unit of PIA's current by the board's rating, as the config's ``protocol`` names it.
CURRENT_UNITS = {"200a": 0.01, "400a": 0.1}
DEFAULT_BOARD = "200a"

FC_COILS = 0x01
FC_INPUTS = 0x04
EXCEPTION_FLAG = 0x80
ADDRESSES = range(0, 16)

EXCEPTION_CODES = {
    0x01: "illegal function", 0x02: "illegal data address", 0x03: "illegal data value",
    0x04: "slave device failure", 0x06: "slave device busy", 0x07: "slave device busy",
}


@dataclass(frozen=True, slots=True)
class Block:
    """A block read whole: its function, first register (or coil) and count."""

    name: str
    function: int
    register: int
    count: int

    @property
    def byte_count(self) -> int:
        """The data bytes of the reply: two per register, one per eight coils."""
        return 2 * self.count if self.function == FC_INPUTS else (self.count + 7) // 8


PIA = Block("PIA", FC_INPUTS, 0x1000, 0x11)
PIB = Block("PIB", FC_INPUTS, 0x1100, 0x1A)
PIC = Block("PIC", FC_COILS, 0x1200, 0x90)
SPA = Block("SPA", FC_INPUTS, 0x1300, 0x6A)
VIA = Block("VIA", FC_INPUTS, 0x1700, 0x24)
PCT = Block("PCT", FC_INPUTS, 0x1800, 0x24)
EIA = Block("EIA", FC_INPUTS, 0x2000, 0x1A)
EIB = Block("EIB", FC_INPUTS, 0x2100, 0x16)
EIC = Block("EIC", FC_COILS, 0x2200, 0x50)
BLOCKS = (PIA, PIB, PIC, SPA, VIA, PCT, EIA, EIB, EIC)
# Requests are 8 bytes: address, function, register, count, CRC.
REQUEST_LEN = 8
EXCEPTION_LEN = 5


def _sealed(body: bytes) -> bytes:
    return body + struct.pack("<H", crc16(body))


def _crc_ok(frame: bytes | bytearray) -> bool:
    return len(frame) >= 4 and crc16(frame[:-2]) == struct.unpack_from("<H", frame, len(frame) - 2)[0]


def _check_address(address: int) -> None:
    if address not in ADDRESSES:
        raise ValueError(f"Seplos v3 address {address} is not 0-15")


def build_read(address: int, block: Block) -> bytes:
    """The request for ``block`` of the pack at ``address``."""
    _check_address(address)
    return _sealed(struct.pack(">BBHH", address, block.function, block.register, block.count))


def build_reply(address: int, block: Block, data: bytes) -> bytes:
    """A pack's answer carrying ``data`` (for simulators and tests)."""
    if len(data) != block.byte_count:
        raise ValueError(f"{block.name} carries {block.byte_count} bytes, not {len(data)}")
    return _sealed(struct.pack(">BBB", address, block.function, len(data)) + data)


def build_exception(address: int, function: int, code: int) -> bytes:
    return _sealed(bytes([address, function | EXCEPTION_FLAG, code]))


@dataclass(frozen=True, slots=True)
class Request:
    address: int
    function: int
    register: int
    count: int

    @property
    def block(self) -> Block | None:
        return next((b for b in BLOCKS if (b.function, b.register, b.count) == (self.function, self.register, self.count)), None)


def parse_request(frame: bytes) -> Request:
    """A read request (as ``RequestAssembler`` cuts it)."""
    if len(frame) != REQUEST_LEN or not _crc_ok(frame) or frame[1] not in (FC_COILS, FC_INPUTS):
        raise ProtocolError(f"not a Seplos v3 read request: {frame.hex(' ')}")
    return Request(*struct.unpack_from(">BBHH", frame))


class RequestAssembler(HeaderBuffer):
    """Cuts read requests out of what a bus carries (a simulated pack's side); anything else is
    dropped and counted."""

    def __init__(self) -> None:
        super().__init__(b"")

    def next_frame(self) -> bytes | None:
        while len(self.buf) >= REQUEST_LEN:
            frame = bytes(self.buf[:REQUEST_LEN])
            if frame[0] in ADDRESSES and frame[1] in (FC_COILS, FC_INPUTS) and _crc_ok(frame):
                del self.buf[:REQUEST_LEN]
                return frame
            self.skip(1)
        return None


class ReplyAssembler(HeaderBuffer):
    """Cuts the one reply a request expects (from ``address``, to a read of ``block``) out of a
    byte stream: its data, or the pack's refusal. Echoed requests, other packs' replies, stale
    bytes and noise are dropped and counted in ``discarded_bytes``; a frame of the expected shape
    with a bad CRC raises ProtocolError once, and the stream resyncs on what follows it."""

    def __init__(self, address: int, block: Block) -> None:
        super().__init__(b"")
        self.address = address
        self.block = block
        self._reply = bytes([address, block.function, block.byte_count])
        self._refusal = bytes([address, block.function | EXCEPTION_FLAG])
        # An adapter's echo of the request can begin as the reply does (PIC's does).
        self._echo = build_read(address, block)

    def next_frame(self) -> bytes | None:
        buf = self.buf
        while buf:
            reply, refusal = buf.find(self._reply), buf.find(self._refusal)
            starts = [i for i in (reply, refusal) if i >= 0]
            if not starts:
                # A start split across two reads: keep its first bytes.
                keep = 2 if buf[-2:] == self._reply[:2] else 1 if buf[-1] == self.address else 0
                self.skip(len(buf) - keep)
                return None
            self.skip(min(starts))
            if buf.startswith(self._echo):
                self.skip(len(self._echo))
                continue
            if self._echo.startswith(buf):
                return None
            n = len(self._reply) + self.block.byte_count + 2 if buf.startswith(self._reply) else EXCEPTION_LEN
            if len(buf) < n:
                return None
            frame = bytes(buf[:n])
            if not _crc_ok(frame):
                self.skip(1)
                raise ProtocolError(f"Seplos v3 {self.block.name} reply with a bad CRC")
            del buf[:n]
            return frame
        return None


def reply_data(frame: bytes, block: Block) -> bytes:
    """The data of a whole reply to a read of ``block``; a refusal is a ProtocolError that says why."""
    if len(frame) < EXCEPTION_LEN or not _crc_ok(frame):
        raise ProtocolError(f"not a Modbus reply with a good CRC: {frame.hex(' ')}")
    if frame[1] == block.function | EXCEPTION_FLAG:
        reason = EXCEPTION_CODES.get(frame[2], f"exception code {frame[2]}")
        raise ProtocolError(f"pack {frame[0]} refused the {block.name} read: {reason}")
    if frame[1] != block.function or frame[2] != block.byte_count or len(frame) != block.byte_count + 5:
        raise ProtocolError(f"not a reply to a {block.name} read: {frame.hex(' ')}")
    return frame[3:-2]


# --- Values -------------------------------------------------------------------------------------


def _words(data: bytes, block: Block, *, at_least: int | None = None) -> tuple[int, ...]:
    need = 2 * (at_least if at_least is not None else block.count)
    if len(data) < need or len(data) % 2:
        raise ProtocolError(f"{block.name} data of {len(data)} bytes, not {need}")
    return struct.unpack(f">{len(data) // 2}H", data)


def _signed(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


def celsius(raw: int) -> float:
    """A temperature in 0.1 K as °C (0 °C is sent as 2731)."""
    return round((raw - 2731) / 10, 1)


@dataclass(frozen=True, slots=True)
class PackValues:
    """PIA and PIB: what a pack measures, in Victron's units and sign (charging positive)."""

    voltage: float
    current: float
    capacity_remaining: float
    capacity_full: float
    soc: float
    soh: float
    cycles: int
    cells: list[float]
    cell_temperatures: list[float]
    ambient_temperature: float
    mosfet_temperature: float


def decode_values(
    pia: bytes, pib: bytes, *, cells: int | None = None, sensors: int | None = None, current_unit: float = 0.01
) -> PackValues:
    """PIA (17 registers or more) and PIB; ``cells`` and ``sensors`` as the pack's settings give
    them, else every cell slot up to the last one with a voltage, and all four sensors;
    ``current_unit`` the board's (``CURRENT_UNITS``)."""
    a, b = _words(pia, PIA, at_least=PIA.count), _words(pib, PIB)
    slots = list(b[:16])
    if cells is None:
        cells = max((i + 1 for i, mv in enumerate(slots) if mv), default=0)
    if not 1 <= cells <= 16:
        raise ProtocolError(f"a Seplos v3 pack of {cells} cells")
    sensors = 4 if sensors is None else sensors
    if not 0 <= sensors <= 4:
        raise ProtocolError(f"a Seplos v3 pack with {sensors} cell temperature sensors")
    return PackValues(
        voltage=a[0] / 100,
        current=round(_signed(a[1]) * current_unit, 2),
        capacity_remaining=a[2] / 100,
        capacity_full=a[3] / 100,
        soc=a[5] / 10,
        soh=a[6] / 10,
        cycles=a[7],
        cells=[mv / 1000 for mv in slots[:cells]],
        cell_temperatures=[celsius(t) for t in b[16 : 16 + sensors]],
        ambient_temperature=celsius(b[24]),
        mosfet_temperature=celsius(b[25]),
    )


_W = ALARM_WARNING
# The event tables of the protocol (its appendix, tables 4.1-4.10), one byte each, in the order
# PIC carries them from its ninth byte and EIC from its first.
SYSTEM_STATE = BitTable(8, {5: AlarmBit("BMS shut down")}, states=0x1F, unknown="reserved state bit")
# The cells' voltage and temperature bytes are those of the v2 protocol.
AMBIENT_TEMPERATURE_EVENTS = BitTable(8, {
    0: AlarmBit("ambient high temperature alarm", "HighTemperature", _W),
    1: AlarmBit("ambient over-temperature protection", "HighTemperature"),
    2: AlarmBit("ambient low temperature alarm", "LowTemperature", _W),
    3: AlarmBit("ambient under-temperature protection", "LowTemperature"),
    4: AlarmBit("power stage high temperature alarm", "HighInternalTemperature", _W),
    5: AlarmBit("power stage over-temperature protection", "HighInternalTemperature"),
    6: AlarmBit("cell heating at low temperature"),
}, unknown="reserved alarm bit")
CURRENT_EVENTS_1 = BitTable(8, {
    0: AlarmBit("charge over-current alarm", "HighChargeCurrent", _W),
    1: AlarmBit("charge over-current protection", "HighChargeCurrent"),
    2: AlarmBit("charge level 2 over-current protection", "HighChargeCurrent"),
    3: AlarmBit("discharge over-current alarm", "HighDischargeCurrent", _W),
    4: AlarmBit("discharge over-current protection", "HighDischargeCurrent"),
    5: AlarmBit("discharge level 2 over-current protection", "HighDischargeCurrent"),
    6: AlarmBit("output short-circuit protection", "HighCurrent"),
}, unknown="reserved alarm bit")
CURRENT_EVENTS_2 = BitTable(8, {
    0: AlarmBit("output short-circuit lockout", "HighCurrent"),
    1: AlarmBit("reverse connection protection", "InternalFailure"),
    2: AlarmBit("charge level 2 over-current lockout", "HighChargeCurrent"),
    3: AlarmBit("discharge level 2 over-current lockout", "HighDischargeCurrent"),
}, unknown="reserved alarm bit")
CAPACITY_EVENTS = BitTable(8, {
    2: AlarmBit("low SoC alarm", "LowSoc", _W),
    3: AlarmBit("low SoC protection", "LowSoc"),
    4: AlarmBit("cell voltage difference alarm", "CellImbalance", _W),
    6: AlarmBit("gyro lockout", "InternalFailure"),
}, unknown="reserved alarm bit")
# The switches: discharge, charge, current limiter, heater; states, decoded on their own.
FET_STATE = BitTable(8, {}, states=0x0F, unknown="reserved switch bit")
FET_DISCHARGE, FET_CHARGE = 0x01, 0x02
BALANCE_EVENTS = BitTable(8, {
    1: AlarmBit("static balancing"),
    2: AlarmBit("static balancing timed out"),
    3: AlarmBit("balancing stopped by over-temperature"),
    4: AlarmBit("cell failure alarm", "InternalFailure"),
}, states=0x01, unknown="reserved alarm bit")
HARDWARE_EVENTS = BitTable(8, {
    0: AlarmBit("temperature sensor (NTC) failure", "InternalFailure"),
    1: AlarmBit("analog front end failure", "InternalFailure"),
    2: AlarmBit("charge MOSFET failure", "InternalFailure"),
    3: AlarmBit("discharge MOSFET failure", "InternalFailure"),
    4: AlarmBit("cell failure", "InternalFailure"),
    5: AlarmBit("balance wire open", "InternalFailure"),
    6: AlarmBit("button failure", "InternalFailure"),
    7: AlarmBit("aerosol (fire suppression) alarm", "InternalFailure"),
})
EVENT_TABLES = (SYSTEM_STATE, VOLTAGE_EVENTS, CELL_TEMPERATURE_EVENTS, AMBIENT_TEMPERATURE_EVENTS, CURRENT_EVENTS_1,
                CURRENT_EVENTS_2, CAPACITY_EVENTS, FET_STATE, BALANCE_EVENTS, HARDWARE_EVENTS)
FET_AT = EVENT_TABLES.index(FET_STATE)
# Where the event bytes start in PIC, after the cells' low, high, temperature and balancing bytes.
PIC_EVENTS_AT = 8


@dataclass(frozen=True, slots=True)
class Events:
    """What the event bytes of PIC or EIC say."""

    found: Decoded
    charge_enabled: bool
    discharge_enabled: bool
    # The balancing bits of cells 1-16 (PIC only).
    balancing: list[bool] | None = None


def _flagged(bits: int) -> str:
    return cells_text([i + 1 for i in range(16) if bits >> i & 1]) if bits else ""


def decode_events(events: bytes, *, low: int = 0, high: int = 0) -> Events:
    """The ten event bytes (EIC's data, or PIC's from its ninth byte); ``low`` and ``high`` are
    the cells a pack flags (bit 0 cell 1), named where the voltage events place a condition."""
    if len(events) != len(EVENT_TABLES):
        raise ProtocolError(f"{len(events)} event bytes, not {len(EVENT_TABLES)}")
    found = Decoded()
    places = {k: v for k, v in ((HIGHEST_CELL, _flagged(high)), (LOWEST_CELL, _flagged(low))) if v}
    for table, byte in zip(EVENT_TABLES, events):
        found.add(table, byte, places)
    fets = events[FET_AT]
    return Events(found, bool(fets & FET_CHARGE), bool(fets & FET_DISCHARGE))


def decode_pic(data: bytes) -> Events:
    """PIC: the cells' alarm and balancing bytes (each cells 1-8 first, low bit first), then
    the event bytes."""
    if len(data) != PIC.byte_count:
        raise ProtocolError(f"PIC data of {len(data)} bytes, not {PIC.byte_count}")
    low, high, balance = (data[i] | data[i + 1] << 8 for i in (0, 2, 6))
    events = decode_events(data[PIC_EVENTS_AT : PIC_EVENTS_AT + len(EVENT_TABLES)], low=low, high=high)
    for what, bits in (("low", data[4]), ("high", data[5])):
        if bits:
            sensors = ", ".join(str(i + 1) for i in range(8) if bits >> i & 1)
            events.found.conditions.append(f"cell temperature {what}, sensor {sensors}")
    return Events(events.found, events.charge_enabled, events.discharge_enabled, [bool(balance >> i & 1) for i in range(16)])


@dataclass(frozen=True, slots=True)
class PackSettings:
    """What SPA says that dbus-bms uses: the cell and sensor counts and the protections."""

    cells: int
    sensors: int
    protections: BmsSettings
    # What the pack asks of an inverter (V, A, A).
    request_voltage: float
    request_charge_current: float
    request_discharge_current: float


def decode_spa(data: bytes) -> PackSettings:
    """SPA from 0x1300, all 0x6A registers (or the two halves that BLE tools read, one after the other)."""
    w = _words(data, SPA)

    def reg(address: int) -> int:
        return w[address - SPA.register]

    def amps(address: int) -> float:
        return float(abs(_signed(reg(address))))

    cells, sensors = reg(0x1301), reg(0x1300)
    if not 1 <= cells <= 16 or sensors > 4:
        raise ProtocolError(f"SPA of a pack of {cells} cells and {sensors} temperature sensors")
    protections = BmsSettings(
        cell_ovp=reg(0x130D) / 1000,
        cell_ovp_recovery=reg(0x130C) / 1000,
        cell_uvp=reg(0x1311) / 1000,
        cell_uvp_recovery=reg(0x1310) / 1000,
        max_charge_current=amps(0x1317),
        max_discharge_current=amps(0x131D),
        charge_max_temperature=celsius(reg(0x1332)),
        charge_min_temperature=celsius(reg(0x1336)),
        discharge_max_temperature=celsius(reg(0x133A)),
        discharge_min_temperature=celsius(reg(0x133E)),
        balance_start_voltage=reg(0x1350) / 1000,
        balance_trigger_voltage=reg(0x1351) / 1000,
        cell_count=cells,
        nominal_capacity=reg(0x1358) / 100,
    )
    return PackSettings(cells, sensors, protections, reg(0x1365) / 100, amps(0x1366), amps(0x1367))


def _ascii(data: bytes) -> str:
    return data.split(b"\x00", 1)[0].decode("ascii", "replace").strip()


def decode_via(data: bytes) -> DeviceInfo:
    """VIA: maker (20 bytes), model (20), firmware (2 characters), the BMS's serial (30)."""
    if len(data) != VIA.byte_count:
        raise ProtocolError(f"VIA data of {len(data)} bytes, not {VIA.byte_count}")
    firmware = _ascii(data[40:42])
    return DeviceInfo(
        model=_ascii(data[20:40]) or None,
        sw_version=".".join(firmware) if firmware else None,
        serial=_ascii(data[42:72]) or None,
    )


def decode_pack(
    pia: bytes, pib: bytes, pic: bytes, settings: PackSettings | None = None, *, current_unit: float = 0.01
) -> Sample:
    """One pack's reading from its PIA, PIB and PIC data; ``current_unit`` the board's."""
    v = decode_values(pia, pib, cells=settings.cells if settings else None, sensors=settings.sensors if settings else None,
                      current_unit=current_unit)
    events = decode_pic(pic)
    balancing = (events.balancing or [])[: len(v.cells)]
    return Sample(
        voltage=v.voltage,
        current=v.current,
        soc=v.soc,
        soh=v.soh,
        capacity_remaining=v.capacity_remaining,
        capacity_full=v.capacity_full,
        cycles=v.cycles,
        cell_voltages=v.cells,
        cell_balancing=balancing,
        temperatures=v.cell_temperatures,
        mosfet_temperature=v.mosfet_temperature,
        charge_enabled=events.charge_enabled,
        discharge_enabled=events.discharge_enabled,
        balancing=any(balancing),
        alarms=dict(events.found.alarms),
        conditions=tuple(events.found.conditions),
        bms_settings=settings.protections if settings else None,
    )


# --- The master's system blocks -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class System:
    """EIA: the parallel system as its master pack sums it up."""

    voltage: float
    current: float
    capacity_remaining: float
    capacity_full: float
    rated_capacity: float
    max_discharge_current: float
    max_charge_current: float
    packs: int
    cycles: int
    soc: float
    soh: float


def decode_eia(data: bytes) -> System:
    """EIA: 32-bit values low word first, then 16-bit ones."""
    if len(data) != EIA.byte_count:
        raise ProtocolError(f"EIA data of {len(data)} bytes, not {EIA.byte_count}")
    lo_hi = [lo | hi << 16 for lo, hi in struct.iter_unpack(">HH", data[:40])]
    current = lo_hi[1] - (1 << 32) if lo_hi[1] & 0x80000000 else lo_hi[1]
    packs, cycles, soc, soh = struct.unpack_from(">HHHH", data, 44)
    return System(
        voltage=lo_hi[0] / 100, current=current / 10, capacity_remaining=lo_hi[2] / 100, capacity_full=lo_hi[3] / 100,
        rated_capacity=lo_hi[5] / 100, max_discharge_current=lo_hi[8] / 10, max_charge_current=lo_hi[9] / 10,
        packs=packs, cycles=cycles, soc=soc / 10, soh=soh / 10,
    )


@dataclass(frozen=True, slots=True)
class InverterProtocol:
    """PCT: the inverter protocol the master speaks on its CAN or RS485 inverter port."""

    selection: int
    link_rate: int
    inverter: str
    protocol: str
    version: str


def decode_pct(data: bytes) -> InverterProtocol:
    if len(data) != PCT.byte_count:
        raise ProtocolError(f"PCT data of {len(data)} bytes, not {PCT.byte_count}")
    selection, rate = struct.unpack_from(">HH", data)
    return InverterProtocol(selection, rate, _ascii(data[4:36]), _ascii(data[36:68]), _ascii(data[68:70]))


# --- The way back, for simulators and round-trip tests -------------------------------------------


def _kelvin(celsius_value: float) -> int:
    return round(celsius_value * 10) + 2731


def encode_pia(sample: Sample, *, current_unit: float = 0.01) -> bytes:
    cells = sample.cell_voltages or []
    words = [
        round((sample.voltage or 0) * 100), round((sample.current or 0) / current_unit) & 0xFFFF,
        round((sample.capacity_remaining or 0) * 100), round((sample.capacity_full or 0) * 100), 0,
        round((sample.soc or 0) * 10), round((sample.soh if sample.soh is not None else 100) * 10), sample.cycles or 0,
        round(sum(cells) / len(cells) * 1000) if cells else 0, _kelvin(max(sample.temperatures or [25.0])),
        round(max(cells, default=0) * 1000), round(min(cells, default=0) * 1000),
        _kelvin(max(sample.temperatures or [25.0])), _kelvin(min(sample.temperatures or [25.0])), 0, 0, 0,
    ]
    return struct.pack(f">{len(words)}H", *words)


def encode_pib(sample: Sample, *, ambient: float = 25.0) -> bytes:
    cells = [round(v * 1000) for v in (sample.cell_voltages or [])][:16]
    temps = [_kelvin(t) for t in (sample.temperatures or [])][:4]
    mosfet = sample.mosfet_temperature if sample.mosfet_temperature is not None else ambient
    words = cells + [0] * (16 - len(cells)) + temps + [2731] * (8 - len(temps)) + [_kelvin(ambient), _kelvin(mosfet)]
    return struct.pack(">26H", *words)


def encode_pic(sample: Sample) -> bytes:
    """PIC raising ``sample.alarms`` (the first event bit that raises each), with its FETs and balancing."""
    out = bytearray(PIC.byte_count)
    balance = sum(1 << i for i, on in enumerate((sample.cell_balancing or [])[:16]) if on)
    out[6], out[7] = balance & 0xFF, balance >> 8
    current = sample.current or 0
    out[PIC_EVENTS_AT] = 0x02 if current > 0 else 0x01 if current < 0 else 0x10
    raised: set[str] = set()
    for i, table in enumerate(EVENT_TABLES):
        byte = table.encode({k: v for k, v in sample.alarms.items() if k not in raised})
        out[PIC_EVENTS_AT + i] |= byte
        found = Decoded()
        found.add(table, byte)
        raised |= set(found.alarms)
    out[PIC_EVENTS_AT + FET_AT] = (FET_CHARGE if sample.charge_enabled else 0) | (FET_DISCHARGE if sample.discharge_enabled else 0)
    return bytes(out)


def encode_spa(settings: BmsSettings, *, sensors: int = 4, request_voltage: float = 0.0) -> bytes:
    """SPA carrying ``settings``; what it does not set is 0."""
    w = [0] * SPA.count

    def put(address: int, value: float | None, scale: float = 1.0) -> None:
        if value is not None:
            w[address - SPA.register] = round(value * scale) & 0xFFFF

    def temp(address: int, value: float | None) -> None:
        if value is not None:
            w[address - SPA.register] = _kelvin(value)

    put(0x1300, sensors)
    put(0x1301, settings.cell_count)
    put(0x130D, settings.cell_ovp, 1000)
    put(0x130C, settings.cell_ovp_recovery, 1000)
    put(0x1311, settings.cell_uvp, 1000)
    put(0x1310, settings.cell_uvp_recovery, 1000)
    put(0x1317, settings.max_charge_current)
    put(0x131D, -(settings.max_discharge_current or 0))
    temp(0x1332, settings.charge_max_temperature)
    temp(0x1336, settings.charge_min_temperature)
    temp(0x133A, settings.discharge_max_temperature)
    temp(0x133E, settings.discharge_min_temperature)
    put(0x1350, settings.balance_start_voltage, 1000)
    put(0x1351, settings.balance_trigger_voltage, 1000)
    put(0x1358, settings.nominal_capacity, 100)
    put(0x1365, request_voltage, 100)
    return struct.pack(f">{SPA.count}H", *w)


def encode_via(info: DeviceInfo, maker: str = "XZH-ElecTech Co.,Ltd") -> bytes:
    firmware = (info.sw_version or "").replace(".", "")[:2]

    def text(value: str | None, n: int) -> bytes:
        return (value or "").encode("ascii")[:n].ljust(n, b"\x00")

    return text(maker, 20) + text(info.model, 20) + text(firmware, 2) + text(info.serial, 30)


def decode_replies(frames: list[bytes]) -> Sample:
    """One pack's reading from whole replies, each told apart by its function and length: PIA
    (17 or 18 registers), PIB, PIC, and optionally SPA and VIA; requests among them are passed over."""
    found: dict[str, bytes] = {}
    for frame in frames:
        if len(frame) == REQUEST_LEN and _crc_ok(frame):
            continue
        if len(frame) < EXCEPTION_LEN or not _crc_ok(frame):
            raise ProtocolError(f"not a Modbus reply with a good CRC: {frame.hex(' ')}")
        shape = (frame[1] & ~EXCEPTION_FLAG, frame[2])
        block = next((b for b in (PIA, PIB, PIC, SPA, VIA) if (b.function, b.byte_count) == shape), None)
        if block is None and shape == (FC_INPUTS, 36):
            block = Block("PIA", FC_INPUTS, PIA.register, 18)
        if block is None:
            raise ProtocolError(f"a reply that is none of PIA, PIB, PIC, SPA, VIA: {frame.hex(' ')}")
        found[block.name] = reply_data(frame, block)
    missing = [name for name in ("PIA", "PIB", "PIC") if name not in found]
    if missing:
        raise ProtocolError(f"no {', '.join(missing)} reply in the bytes given")
    settings = decode_spa(found["SPA"]) if "SPA" in found else None
    sample = decode_pack(found["PIA"], found["PIB"], found["PIC"], settings)
    if "VIA" in found:
        sample.device = decode_via(found["VIA"])
    return sample
