"""The JK 300-byte record (``55 AA EB 90``) that JK BLE and the PB series over RS485 both send.

Record types: 0x01 settings, 0x02 cell info, 0x03 device info, 0x05 logbook. Integers are
little-endian; byte 299 is the sum of bytes 0..298 mod 256. Three cell-info layouts share this
framing, named as the codec's ``layout`` argument:

* ``32s`` (JK02_32S, firmware 11 and later, the PB series): 32 cell slots.
* ``24s`` (JK02_24S, older JK02 firmware): 24 cell slots, so the cell-summary fields sit 16 bytes
  and everything after the cell resistances 32 bytes earlier than in 32s; its table is derived
  from the 32s one by that rule (``_shift_to_24s``).
* ``jk04`` (hardware and firmware 3.x): float32 cells, declared in ``jk04``.

Settings and device info are laid out alike in 24s and 32s; decoding and encoding are one set of
functions driven by each layout's tables.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, replace
from typing import Any

from ..model import ALARM_WARNING, BmsSettings, DeviceInfo, Sample
from .alarm_bits import BALANCE_WIRES, HIGHEST_CELL, LOWEST_CELL, AlarmBit, BitTable, Decoded, cells_text
from .errors import ProtocolError
from .framing import HeaderBuffer

HEADER = b"\x55\xaa\xeb\x90"
RECORD_LEN = 300
COMMAND_HEADER = b"\xaa\x55\x90\xeb"
COMMAND_LEN = 20
CMD_CELL_INFO = 0x96
CMD_DEVICE_INFO = 0x97
TYPE_SETTINGS, TYPE_CELL_INFO, TYPE_DEVICE_INFO = 0x01, 0x02, 0x03

LAYOUTS = ("24s", "32s", "jk04")

# Over BLE, JK's module carries commands and records on one characteristic of service FFE0 and
# advertises this manufacturer id (with its MAC as the data).
SERVICE_UUID = "0000ffe0-0000-1000-8000-00805f9b34fb"
CHAR_UUID = "0000ffe1-0000-1000-8000-00805f9b34fb"
MANUFACTURER_ID = 0x0B65

# A temperature input with no sensor plugged in reads -2000 (×0.1 °C).
ABSENT_TEMPERATURE = -200.0


def build_command(command: int, value: int = 0, length: int = 0) -> bytes:
    """A 20-byte request: header, command, length, value (u32 LE), padding, sum8."""
    body = COMMAND_HEADER + bytes([command, length]) + struct.pack("<I", value)
    body += bytes(COMMAND_LEN - 1 - len(body))
    return body + bytes([checksum(body)])


# The switches are settings the host writes with a command frame whose command byte is the
# setting's register and whose value is 1 (on) or 0 (off); they read back in the settings record
# (charge_switch, discharge_switch, balancer_switch). JK02 (24s and 32s alike) takes all three, 4
# bytes wide; a JK04 board only its balancer's, at another register and 1 byte wide: no public
# source knows a FET switch of JK04.
SWITCH_REGISTERS = {"charge": 0x1D, "discharge": 0x1E, "balance": 0x1F}
JK04_SWITCH_REGISTERS = {"balance": 0x6C}


def switch_registers(layout: str) -> dict[str, int]:
    """What a BMS of ``layout`` can be switched at: switch name → register."""
    _layout_tables(layout)
    return JK04_SWITCH_REGISTERS if layout == "jk04" else SWITCH_REGISTERS


def build_switch(which: str, on: bool, layout: str = "32s") -> bytes:
    """The 20-byte command that switches ``which`` (a key of ``switch_registers(layout)``) on or off."""
    return build_command(switch_registers(layout)[which], int(on), 1 if layout == "jk04" else 4)


def checksum(data: bytes) -> int:
    """The sum-of-bytes mod 256 that closes records and commands."""
    return sum(data) & 0xFF


def _blank_record(kind: int, counter: int = 0) -> bytearray:
    """A zero-filled record of type ``kind``, to be filled in and closed with ``_seal``."""
    record = bytearray(RECORD_LEN)
    record[:6] = HEADER + bytes([kind, counter & 0xFF])
    return record


def _seal(record: bytearray) -> bytes:
    record[-1] = checksum(record[:-1])
    return bytes(record)


class _SummedFrames(HeaderBuffer):
    """Fixed-length frames that open with ``header`` and close with the sum8 of the rest."""

    def __init__(self, header: bytes, length: int, what: str) -> None:
        super().__init__(header)
        self.length = length
        self.what = what

    def next_frame(self) -> bytes | None:
        if not self.at_header() or len(self.buf) < self.length:
            return None
        frame = bytes(self.buf[: self.length])
        if frame[-1] != checksum(frame[:-1]):
            # Only the header is dropped: a frame cut short holds the start of the next one.
            self.skip(len(self.header))
            raise ProtocolError(f"{self.what} with a bad checksum")
        del self.buf[: self.length]
        return frame


class RecordAssembler(_SummedFrames):
    """Reassembles 300-byte records from notifications or a serial stream.

    Anything before a record header is dropped and counted: ``AT\\r\\n`` from the BLE module, the
    20-byte write acknowledgements (``AA 55 90 EB C8 ...``), Modbus acks of the PB series.
    """

    def __init__(self) -> None:
        super().__init__(HEADER, RECORD_LEN, "JK record")


class CommandAssembler(_SummedFrames):
    """The 20-byte requests (``AA 55 90 EB <cmd> ... sum8``) as a BMS receives them, resynced on
    their header: what a simulated JK reads."""

    def __init__(self) -> None:
        super().__init__(COMMAND_HEADER, COMMAND_LEN, "JK request")


@dataclass(frozen=True, slots=True)
class Field:
    """One value in a record: offset, struct format and decimals (raw 52971, 3 decimals → 52.971).

    A float field (JK04) holds the value itself; its decimals only round it.
    """

    offset: int
    fmt: str
    decimals: int = 0

    @property
    def _is_float(self) -> bool:
        return self.fmt.endswith("f")

    def read(self, record: bytes) -> float:
        raw = struct.unpack_from(self.fmt, record, self.offset)[0]
        return round(raw if self._is_float else raw / 10**self.decimals, self.decimals)

    def write(self, record: bytearray, value: float) -> None:
        raw = value if self._is_float else round(value * 10**self.decimals)
        struct.pack_into(self.fmt, record, self.offset, raw)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a layout keeps its values: one field per cell slot, then named cell-info and settings
    fields. Names are shared by all layouts; a value a layout does not send has no entry."""

    cells: tuple[Field, ...]
    cell_info: dict[str, Field]
    settings: dict[str, Field]


def _read_fields(table: dict[str, Field], record: bytes) -> dict[str, float]:
    return {name: field.read(record) for name, field in table.items()}


_CELL_INFO_32S: dict[str, Field] = {
    "cells_enabled": Field(70, "<I"),  # bitmask of the cell slots in use
    "delta_cell_voltage": Field(76, "<H", 3),  # as the BMS last measured it; the cells may be newer
    # The BMS's own pick of the highest and lowest cell (0-based): the pair its balancer works on.
    "max_cell": Field(78, "B"),
    "min_cell": Field(79, "B"),
    "mosfet_temperature": Field(144, "<h", 1),
    "wire_resistance_alarms": Field(146, "<I"),  # bit n: the balance wire of cell n + 1
    "voltage": Field(150, "<I", 3),
    "current": Field(158, "<i", 3),
    "temperature_1": Field(162, "<h", 1),
    "temperature_2": Field(164, "<h", 1),
    "errors": Field(166, "<I"),  # the bits of ERRORS
    "balance_current": Field(170, "<h", 3),
    "balance_action": Field(172, "B"),  # 0 off, 1 charging balancer, 2 discharging balancer
    "soc": Field(173, "B"),
    "capacity_remaining": Field(174, "<I", 3),
    "capacity_full": Field(178, "<I", 3),
    "cycles": Field(182, "<I"),
    "cycle_capacity": Field(186, "<I", 3),
    "soh": Field(190, "B"),
    "runtime": Field(194, "<I"),
    "charge_switch": Field(198, "B"),
    "discharge_switch": Field(199, "B"),
    "heating": Field(215, "B"),
}

# The 24s fields JK02_32S moved rather than shifted: the MOSFET temperature went to a spare slot,
# and the 16 error bits grew to 32 over where 24s keeps the temperature.
_MOVED_IN_32S = {"mosfet_temperature": Field(134, "<h", 1), "errors": Field(136, "<H")}


def _shift_to_24s(table: dict[str, Field]) -> dict[str, Field]:
    """24s has 8 fewer cell voltages before the cell summary (16 bytes) and 8 fewer voltages and
    resistances before the fields from offset 144 on (32 bytes)."""
    return {
        name: _MOVED_IN_32S.get(name) or replace(f, offset=f.offset - (16 if f.offset < 144 else 32))
        for name, f in table.items()
    }


_SETTINGS_JK02: dict[str, Field] = {
    "cell_uvp": Field(10, "<I", 3),
    "cell_uvp_recovery": Field(14, "<I", 3),
    "cell_ovp": Field(18, "<I", 3),
    "cell_ovp_recovery": Field(22, "<I", 3),
    "balance_trigger_voltage": Field(26, "<I", 3),
    "max_charge_current": Field(50, "<I", 3),
    "max_discharge_current": Field(62, "<I", 3),
    "charge_max_temperature": Field(82, "<i", 1),
    "discharge_max_temperature": Field(90, "<i", 1),
    "charge_min_temperature": Field(98, "<i", 1),
    "cell_count": Field(114, "<I"),
    "charge_switch": Field(118, "<I"),
    "discharge_switch": Field(122, "<I"),
    "balancer_switch": Field(126, "<I"),
    "nominal_capacity": Field(130, "<I", 3),
    "balance_start_voltage": Field(138, "<I", 3),
}


def _mv_cells(slots: int) -> tuple[Field, ...]:
    return tuple(Field(6 + 2 * i, "<H", 3) for i in range(slots))


_JK02_LAYOUTS = {
    "32s": Layout(_mv_cells(32), _CELL_INFO_32S, _SETTINGS_JK02),
    "24s": Layout(_mv_cells(24), _shift_to_24s(_CELL_INFO_32S), _SETTINGS_JK02),
}


def _layout_tables(name: str) -> Layout:
    """The tables of layout ``name`` (one of ``LAYOUTS``)."""
    if name == "jk04":
        # jk04 is built from this module's pieces, so it can only be imported once this one is.
        from . import jk04

        return jk04.LAYOUT
    try:
        return _JK02_LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown JK record layout {name!r}; known: {', '.join(LAYOUTS)}") from None


def _major(version: str | None) -> int | None:
    match = re.match(r"\s*[vV]?(\d+)", version or "")
    return int(match.group(1)) if match else None


def layout_for_firmware(sw_version: str | None, hw_version: str | None) -> str:
    """The cell-info layout a JK with this device info sends.

    Firmware 11 and later send JK02_32S, the boards with hardware and firmware 2.x/3.x JK04, older
    JK02 firmware (reported for 8.x to 10.x) and any other version JK02_24S. The software version
    decides; the hardware version (whose major number follows it) stands in when there is none.
    Without either: JK02_32S, the layout of every current JK. The JK-B5A24S balancer (hw 8.x,
    sw 8.0.3M) sends JK04 but has the versions of JK02_24S boards (hw 8.x, sw 8.1.2H), so it needs
    its layout configured.
    """
    major = _major(sw_version)
    if major is None:
        major = _major(hw_version)
    if major is None or major >= 11:
        return "32s"
    if 2 <= major <= 3:
        return "jk04"
    return "24s"


# The error bits (little-endian: 32 at offset 166 in 32s, the first 16 at 136 in 24s), named as
# JK's Modbus protocol for the PB series (V1.1) names bits 0-23; 24-28 as public decoders of JK
# captures name them. A protection that tripped is an alarm; a wiring notice a warning; the GPS and password
# notices raise none. Bit 4, the cell OVP, is named "battery is fully charged" by some decoders: a
# JK charged without DVCC reaches it at every full charge, but with charge control holding the
# cells under their limit, a cell that reached the BMS's own OVP is an alarm.
ERRORS = BitTable(32, {
    0: AlarmBit("balance wire resistance too high", "InternalFailure", ALARM_WARNING, BALANCE_WIRES),
    1: AlarmBit("MOSFET over-temperature protection", "HighInternalTemperature"),
    2: AlarmBit("cell count differs from the setting", "InternalFailure"),
    3: AlarmBit("current sensor fault", "InternalFailure"),
    4: AlarmBit("cell over-voltage protection", "HighCellVoltage", place=HIGHEST_CELL),
    5: AlarmBit("pack over-voltage protection", "HighVoltage"),
    6: AlarmBit("charge over-current protection", "HighChargeCurrent"),
    7: AlarmBit("charge short-circuit protection", "HighChargeCurrent"),
    8: AlarmBit("charge over-temperature protection", "HighChargeTemperature"),
    9: AlarmBit("charge under-temperature protection", "LowChargeTemperature"),
    10: AlarmBit("internal communication fault", "InternalFailure"),
    11: AlarmBit("cell under-voltage protection", "LowCellVoltage", place=LOWEST_CELL),
    12: AlarmBit("pack under-voltage protection", "LowVoltage"),
    13: AlarmBit("discharge over-current protection", "HighDischargeCurrent"),
    14: AlarmBit("discharge short-circuit protection", "HighDischargeCurrent"),
    15: AlarmBit("discharge over-temperature protection", "HighTemperature"),
    16: AlarmBit("charge MOSFET fault", "InternalFailure"),
    17: AlarmBit("discharge MOSFET fault", "InternalFailure"),
    18: AlarmBit("GPS module disconnected"),
    19: AlarmBit("password should be changed"),
    20: AlarmBit("discharge switch-on failed", "InternalFailure"),
    21: AlarmBit("battery over-temperature", "HighTemperature"),
    22: AlarmBit("temperature sensor fault", "InternalFailure"),
    23: AlarmBit("parallel current limiter fault", "InternalFailure"),
    24: AlarmBit("short-circuit protection release failed", "HighDischargeCurrent"),
    25: AlarmBit("discharge over-current protection (level 2)", "HighDischargeCurrent"),
    26: AlarmBit("discharge over-current protection (level 3)", "HighDischargeCurrent"),
    27: AlarmBit("discharge under-temperature protection", "LowTemperature"),
    28: AlarmBit("locked remotely over GPS"),
})
_ERRORS_BY_WIDTH = {16: ERRORS.first(16), 32: ERRORS}


def _error_table(tables: Layout) -> BitTable | None:
    """The error bits a layout has room for; None for a layout without them (JK04)."""
    field = tables.cell_info.get("errors")
    return _ERRORS_BY_WIDTH[8 * struct.calcsize(field.fmt)] if field is not None else None


def _error_conditions(values: dict[str, float], table: BitTable | None) -> Decoded | None:
    """The error bits' alarms and conditions, naming the BMS's highest or lowest cell (its own
    pick, in the record) and the cells whose balance wire it flags; None without error bits."""
    if table is None:
        return None
    found = Decoded()
    errors = int(values["errors"])
    if not errors:
        return found
    places = {HIGHEST_CELL: cells_text([int(values["max_cell"]) + 1]),
              LOWEST_CELL: cells_text([int(values["min_cell"]) + 1])}
    wires = int(values.get("wire_resistance_alarms", 0))
    if wires:
        places[BALANCE_WIRES] = cells_text([i + 1 for i in range(32) if wires >> i & 1])
    found.add(table, errors, places)
    return found


def _check(record: bytes, kind: int, what: str) -> None:
    if len(record) != RECORD_LEN or record[:4] != HEADER or record[4] != kind:
        raise ProtocolError(f"not a JK {what} record")


def _opt(values: dict[str, float], name: str, kind: type) -> Any:
    value = values.get(name)
    return None if value is None else kind(value)


def _temperature(values: dict[str, float], name: str) -> float | None:
    value = values.get(name)
    return None if value is None or value == ABSENT_TEMPERATURE else value


def cell_info_fields(record: bytes, layout: str = "32s") -> dict[str, float]:
    """Every named cell-info field of a record in units (V, A, Ah, °C, %, s), also those a Sample
    does not carry (runtime, balance current, cycle capacity); raw current sign (> 0 charging)."""
    _check(record, TYPE_CELL_INFO, "cell-info")
    return _read_fields(_layout_tables(layout).cell_info, record)


def decode_cell_info(record: bytes, layout: str = "32s") -> Sample:
    tables = _layout_tables(layout)
    values = cell_info_fields(record, layout)
    mask = int(values["cells_enabled"])
    cells = [f.read(record) for i, f in enumerate(tables.cells) if mask >> i & 1]
    balancing = values["balance_action"] != 0
    balancing_cells = {int(values["max_cell"]), int(values["min_cell"])} if balancing else set()
    errors = _error_conditions(values, _error_table(tables))
    temperatures = [t for t in (_temperature(values, f"temperature_{n}") for n in (1, 2)) if t is not None]
    return Sample(
        # JK04 sends no pack voltage; its cells in series add up to it.
        voltage=values.get("voltage", round(sum(cells), 3)),
        current=values.get("current"),
        soc=values.get("soc"),
        soh=values.get("soh"),
        capacity_remaining=values.get("capacity_remaining"),
        capacity_full=values.get("capacity_full"),
        cycles=_opt(values, "cycles", int),
        cell_voltages=cells or None,
        cell_balancing=[i in balancing_cells for i in range(len(cells))] or None,
        temperatures=temperatures or None,
        mosfet_temperature=_temperature(values, "mosfet_temperature"),
        charge_enabled=_opt(values, "charge_switch", bool),
        discharge_enabled=_opt(values, "discharge_switch", bool),
        balancing=balancing,
        alarms=errors.alarms if errors else {},
        conditions=tuple(errors.conditions) if errors else None,
    )


def _text(record: bytes, offset: int, length: int) -> str | None:
    text = record[offset : offset + length].split(b"\x00", 1)[0].decode("ascii", "replace").strip()
    return text or None


# DeviceInfo field → (offset, length); the same in every layout.
_DEVICE_TEXT = {"model": (6, 16), "hw_version": (22, 8), "sw_version": (30, 8), "serial": (86, 11)}


def decode_device_info(record: bytes) -> DeviceInfo:
    _check(record, TYPE_DEVICE_INFO, "device-info")
    return DeviceInfo(**{name: _text(record, offset, length) for name, (offset, length) in _DEVICE_TEXT.items()})


@dataclass(slots=True)
class JkSettings:
    """The protection and balancer settings of record 0x01; None where a layout has no such field."""

    cell_count: int | None = None
    cell_ovp: float | None = None  # V
    cell_ovp_recovery: float | None = None  # V
    cell_uvp: float | None = None  # V
    cell_uvp_recovery: float | None = None  # V
    max_charge_current: float | None = None  # A
    max_discharge_current: float | None = None  # A
    balance_trigger_voltage: float | None = None  # V, the cell difference that starts balancing
    balance_start_voltage: float | None = None  # V, the cell voltage from which balancing may run
    charge_switch: bool | None = None
    discharge_switch: bool | None = None
    balancer_switch: bool | None = None
    nominal_capacity: float | None = None  # Ah
    charge_max_temperature: float | None = None  # °C, charge over-temperature protection
    discharge_max_temperature: float | None = None  # °C
    charge_min_temperature: float | None = None  # °C, charge under-temperature protection

    def switches(self) -> dict[str, bool]:
        """The switches the settings carry, in ``Sample.switches`` terms."""
        states = {"charge": self.charge_switch, "discharge": self.discharge_switch, "balance": self.balancer_switch}
        return {which: on for which, on in states.items() if on is not None}

    def protections(self) -> BmsSettings:
        """The settings charge control keeps inside, in the model's terms. A current limit of 0 is
        an unset field, not a BMS that forbids all current."""
        return BmsSettings(
            cell_ovp=self.cell_ovp, cell_ovp_recovery=self.cell_ovp_recovery, cell_uvp=self.cell_uvp,
            cell_uvp_recovery=self.cell_uvp_recovery, max_charge_current=self.max_charge_current or None,
            max_discharge_current=self.max_discharge_current or None,
            charge_max_temperature=self.charge_max_temperature, charge_min_temperature=self.charge_min_temperature,
            discharge_max_temperature=self.discharge_max_temperature,
            balance_start_voltage=self.balance_start_voltage, balance_trigger_voltage=self.balance_trigger_voltage,
            cell_count=self.cell_count, nominal_capacity=self.nominal_capacity,
        )


_SETTING_KIND: dict[str, type] = {
    "cell_count": int, "charge_switch": bool, "discharge_switch": bool, "balancer_switch": bool
}


def decode_settings(record: bytes, layout: str = "32s") -> JkSettings:
    _check(record, TYPE_SETTINGS, "settings")
    values = _read_fields(_layout_tables(layout).settings, record)
    return JkSettings(**{name: _SETTING_KIND.get(name, float)(value) for name, value in values.items()})


def decode(record: bytes, layout: str = "32s") -> Sample | DeviceInfo | JkSettings | None:
    """Cell info → Sample, device info → DeviceInfo, settings → JkSettings, other types → None."""
    if len(record) != RECORD_LEN or record[:4] != HEADER:
        raise ProtocolError("not a JK record")
    kind = record[4]
    if kind == TYPE_CELL_INFO:
        return decode_cell_info(record, layout)
    if kind == TYPE_DEVICE_INFO:
        return decode_device_info(record)
    if kind == TYPE_SETTINGS:
        return decode_settings(record, layout)
    return None


def _balance_pair(sample: Sample) -> tuple[int, int]:
    """(highest, lowest) cell index for the record: among the cells the sample marks as balancing
    if it marks any, else among all."""
    cells = sample.cell_voltages or []
    marked = [i for i, on in enumerate(sample.cell_balancing or []) if on and i < len(cells)]
    by_voltage = sorted(marked or range(len(cells)), key=cells.__getitem__)
    return (by_voltage[-1], by_voltage[0]) if by_voltage else (0, 0)


def _fill(record: bytearray, table: dict[str, Field], values: dict[str, float | None]) -> None:
    for name, field in table.items():
        value = values.get(name)
        if value is not None:
            field.write(record, value)


def encode_cell_info(sample: Sample, layout: str, counter: int = 0) -> bytes:
    """A cell-info record that decodes back to ``sample``, as far as the layout carries it.

    The record marks at most two balancing cells (the balancer's highest and lowest); values the
    sample lacks go out as 0, temperatures as "no sensor".
    """
    tables = _layout_tables(layout)
    cells = sample.cell_voltages or []
    if len(cells) > len(tables.cells):
        raise ValueError(f"{len(cells)} cells do not fit the {len(tables.cells)} slots of layout {layout!r}")
    record = _blank_record(TYPE_CELL_INFO, counter)
    for field, volts in zip(tables.cells, cells):
        field.write(record, volts)
    temperatures = list(sample.temperatures or [])[:2]
    temperatures += [ABSENT_TEMPERATURE] * (2 - len(temperatures))
    highest, lowest = _balance_pair(sample)
    error_table = _error_table(tables)
    values: dict[str, float | None] = {
        "cells_enabled": (1 << len(cells)) - 1,
        "max_cell": highest,
        "min_cell": lowest,
        "mosfet_temperature": ABSENT_TEMPERATURE if sample.mosfet_temperature is None else sample.mosfet_temperature,
        "voltage": sample.voltage,
        "current": sample.current,
        "temperature_1": temperatures[0],
        "temperature_2": temperatures[1],
        "errors": error_table.encode(sample.alarms) if error_table else None,
        "balance_action": 1 if sample.balancing else 0,
        "soc": sample.soc,
        "capacity_remaining": sample.capacity_remaining,
        "capacity_full": sample.capacity_full,
        "cycles": sample.cycles,
        "soh": sample.soh,
        "charge_switch": sample.charge_enabled,
        "discharge_switch": sample.discharge_enabled,
    }
    _fill(record, tables.cell_info, values)
    return _seal(record)


def encode_device_info(info: DeviceInfo, layout: str) -> bytes:
    """A device-info record; all layouts share its format, the name is checked all the same."""
    _layout_tables(layout)
    record = _blank_record(TYPE_DEVICE_INFO)
    for name, (offset, length) in _DEVICE_TEXT.items():
        text = (getattr(info, name) or "").encode("ascii")
        if len(text) > length:
            raise ValueError(f"device info {name} {text!r} is longer than its {length} bytes")
        record[offset : offset + len(text)] = text
    return _seal(record)


def encode_settings(s: JkSettings, layout: str) -> bytes:
    """A settings record with the values the layout has room for; unset ones go out as 0."""
    table = _layout_tables(layout).settings
    record = _blank_record(TYPE_SETTINGS)
    _fill(record, table, {name: getattr(s, name) for name in table})
    return _seal(record)
