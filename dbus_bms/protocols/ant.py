"""ANT BMS, the protocol of its 2021 and later boards (UART/RS485 and BLE alike): framing, the
status and device-info requests, the status and device-info replies.

Frame: ``7E A1``, function, address (u16 LE), length, data, CRC-16/MODBUS (LE) over every byte
from the second to the end of the data, ``AA 55``. A host reads with functions 0x01 (status) and
0x02 (device info); the BMS answers with the function's 0x10 bit set. In a read request the length
byte is how much the host asks for and no data follows. Values are little-endian.
"""

from __future__ import annotations

import struct

from ..model import ALARM_ALARM, ALARM_WARNING, DeviceInfo, Sample
from .alarm_bits import AlarmBit, BitTable, Decoded
from .crc import crc16
from .errors import ProtocolError
from .framing import HeaderBuffer

# The BLE module bridges the UART on one characteristic, notified and written. Its advertisement
# carries manufacturer data starting 88 A0 followed by its MAC (the id itself varies; 0x2313 on the
# 2021+ boards recorded), and the default name ANT-BLE... (ANT@BLE... on some).
BLE_SERVICE_UUID = "0000ffe0-0000-1000-8000-00805f9b34fb"
BLE_CHAR_UUID = "0000ffe1-0000-1000-8000-00805f9b34fb"
BLE_MANUFACTURER_ID = 0x2313
BLE_DATA_PREFIX = b"\x88\xa0"

HEADER = b"\x7e\xa1"
TAIL = b"\xaa\x55"
FUNC_STATUS = 0x01
FUNC_DEVICE_INFO = 0x02
REPLY = 0x10
DEVICE_INFO_ADDRESS = 0x026C
# The lengths the BMS's own app asks for.
_STATUS_LENGTH = 0xBE
_DEVICE_INFO_LENGTH = 0x20
# A device-info reply carries more bytes between its checksum and its end mark than its length byte
# counts (six in every capture); the checksum covers what the length byte counts.
MAX_TRAILER = 16
# A sensor the board has no probe on reads -40 °C.
_NO_PROBE = -40


def build_frame(function: int, address: int, data: bytes = b"", *, length: int | None = None) -> bytes:
    """A frame; ``length`` overrides the length byte (a read request's asked-for size)."""
    body = HEADER + struct.pack("<BHB", function, address, len(data) if length is None else length) + data
    return body + struct.pack("<H", crc16(body[1:])) + TAIL


STATUS_REQUEST = build_frame(FUNC_STATUS, 0x0000, length=_STATUS_LENGTH)
DEVICE_INFO_REQUEST = build_frame(FUNC_DEVICE_INFO, DEVICE_INFO_ADDRESS, length=_DEVICE_INFO_LENGTH)


class AntAssembler(HeaderBuffer):
    """Reassembles ANT replies from a byte stream; resyncs on the header after garbage."""

    def __init__(self) -> None:
        super().__init__(HEADER)

    def next_frame(self) -> bytes | None:
        if not self.at_header() or len(self.buf) < 6:
            return None
        end = 6 + self.buf[5]
        if len(self.buf) < end + 4:
            return None
        if self.buf[end : end + 2] != struct.pack("<H", crc16(self.buf[1:end])):
            self.skip(2)
            raise ProtocolError("ANT frame with a bad checksum")
        tail = self.buf.find(TAIL, end + 2, end + 4 + MAX_TRAILER)
        if tail < 0:
            if len(self.buf) < end + 4 + MAX_TRAILER:
                return None
            self.skip(2)
            raise ProtocolError("ANT frame without its end mark")
        frame = bytes(self.buf[: tail + 2])
        del self.buf[: tail + 2]
        return frame


def _status_table(what: str, texts: dict[int, tuple[str, str | None, int]]) -> BitTable:
    """A MOSFET or balancer status code as a table of one bit per code: codes 0 (off) and 1 (on)
    are the switch's state, every other one a reason."""
    bits = {code: AlarmBit(f"{what}: {text}", alarm, level) for code, (text, alarm, level) in texts.items()}
    return BitTable(32, bits, states=0b11, unknown=f"{what}: unknown status")


_W, _A = ALARM_WARNING, ALARM_ALARM
# The reasons the BMS gives for a MOSFET it holds off, as ANT names them. Reaching a cell or pack
# limit is the BMS doing its job (a warning); a fault of the BMS or the pack is an alarm.
CHARGE_STATUS = _status_table("charge MOSFET", {
    2: ("overcharge protection", "HighCellVoltage", _W),
    3: ("over-current protection", "HighChargeCurrent", _A),
    4: ("battery full", None, _W),
    5: ("pack over-voltage", "HighVoltage", _W),
    6: ("battery over-temperature", "HighChargeTemperature", _A),
    7: ("MOSFET over-temperature", "HighInternalTemperature", _A),
    8: ("abnormal current", "InternalFailure", _A),
    9: ("balance wire disconnected", "InternalFailure", _A),
    10: ("board over-temperature", "HighInternalTemperature", _A),
    12: ("failed to open", "InternalFailure", _A),
    13: ("discharge MOSFET fault", "InternalFailure", _A),
    14: ("waiting", None, _W),
    15: ("switched off by hand", None, _W),
    16: ("second-level over-voltage", "HighCellVoltage", _A),
    17: ("low-temperature protection", "LowChargeTemperature", _A),
    18: ("cell voltage difference too high", "CellImbalance", _A),
    20: ("self-test failed", "InternalFailure", _A),
})
DISCHARGE_STATUS = _status_table("discharge MOSFET", {
    2: ("over-discharge protection", "LowCellVoltage", _W),
    3: ("over-current protection", "HighDischargeCurrent", _A),
    4: ("second-level over-current", "HighDischargeCurrent", _A),
    5: ("pack under-voltage", "LowVoltage", _W),
    6: ("battery over-temperature", "HighTemperature", _A),
    7: ("MOSFET over-temperature", "HighInternalTemperature", _A),
    8: ("abnormal current", "InternalFailure", _A),
    9: ("balance wire disconnected", "InternalFailure", _A),
    10: ("board over-temperature", "HighInternalTemperature", _A),
    11: ("charge MOSFET on", None, _W),
    12: ("short-circuit protection", "HighDischargeCurrent", _A),
    13: ("discharge MOSFET fault", "InternalFailure", _A),
    14: ("failed to open", "InternalFailure", _A),
    15: ("switched off by hand", None, _W),
    16: ("second-level under-voltage", "LowCellVoltage", _A),
    17: ("low-temperature protection", "LowTemperature", _A),
    18: ("cell voltage difference too high", "CellImbalance", _A),
    19: ("self-test failed", "InternalFailure", _A),
})
# Balancer code 0 is off; 1, 2 and 4 are the ways it balances; 3 and 10 are why it stopped.
BALANCER_STATUS = BitTable(32, {
    1: AlarmBit("balancer: over the balance limit"),
    2: AlarmBit("balancer: balancing on a charge difference"),
    3: AlarmBit("balancer: over-temperature", "HighInternalTemperature", ALARM_WARNING),
    4: AlarmBit("balancer: automatic balancing"),
    10: AlarmBit("balancer: board over-temperature", "HighInternalTemperature", ALARM_WARNING),
}, states=0b1, unknown="balancer: unknown status")
BALANCING_CODES = frozenset({1, 2, 4})
# The 64-bit protection and warning words: ANT documents none of their bits, so each set bit is
# named by its number and raises no alarm (the MOSFET status says what the BMS did about it).
PROTECTION_BITS = BitTable(64, {}, unknown="protection bit")
WARNING_BITS = BitTable(64, {}, unknown="warning bit")


def conditions(charge: int, discharge: int, balancer: int, protection: int = 0, warning: int = 0) -> Decoded:
    """The alarms and conditions of the three status codes and the two bit words."""
    found = Decoded()
    for table, code in ((CHARGE_STATUS, charge), (DISCHARGE_STATUS, discharge), (BALANCER_STATUS, balancer)):
        if code >= table.width:
            found.conditions.append(f"{table.unknown} {code}")
        else:
            found.add(table, 1 << code)
    found.add(PROTECTION_BITS, protection)
    found.add(WARNING_BITS, warning)
    return found


# The fixed part of a status reply's data: 4 counts, 3 bit words, then (after the cells and the
# temperatures) the pack values up to the lifetime counters.
_HEAD_SIZE = 28
_PACK = struct.Struct("<HhHHBBBxIIIiII6H5H4I")
_STATUS_DATA_MIN = _HEAD_SIZE + 4 + _PACK.size


def _temps(data: bytes, start: int, count: int) -> list[float]:
    return [float(t) for t in struct.unpack_from(f"<{count}h", data, start)]


def decode_status(frame: bytes) -> Sample:
    """The Sample in a status reply (function 0x11)."""
    if len(frame) < 10 or frame[:2] != HEADER or frame[2] != FUNC_STATUS | REPLY:
        raise ProtocolError("not an ANT status reply")
    data = frame[6 : 6 + frame[5]]
    if len(data) < _STATUS_DATA_MIN:
        raise ProtocolError(f"ANT status data of {len(data)} bytes is too short")
    n_temps, n_cells = data[2], data[3]
    if not 0 < n_cells <= 32 or n_temps > 8:
        raise ProtocolError(f"ANT status with {n_cells} cells and {n_temps} sensors")
    if len(data) < _STATUS_DATA_MIN + 2 * (n_cells + n_temps):
        raise ProtocolError(f"ANT status data of {len(data)} bytes is short for {n_cells} cells")
    protection, warning, _undocumented = struct.unpack_from("<QQQ", data, 4)
    cells = [mv / 1000 for mv in struct.unpack_from(f"<{n_cells}H", data, _HEAD_SIZE)]
    at = _HEAD_SIZE + 2 * n_cells
    sensors = [t for t in _temps(data, at, n_temps) if t != _NO_PROBE]
    mosfet, _balancer_temp = _temps(data, at + 2 * n_temps, 2)
    # Two other public decoders read the first MOSFET code as the charge one. The one capture that
    # tells the two apart is of a full pack at 3.54 V a cell, whose first code is 1 and second 2:
    # "over-discharge protection" there is impossible, "overcharge protection" is what a full pack
    # shows, and the capture's source reads it so. The first code is the discharge MOSFET's.
    (voltage, current, soc, soh, discharge, charge, balancer, full, remaining, _cycled, power, _runtime,
     balancing_cells, *_rest) = _PACK.unpack_from(data, at + 2 * n_temps + 4)
    found = conditions(charge, discharge, balancer, protection, warning)
    return Sample(
        voltage=voltage / 100,
        current=current / 10,  # the BMS counts charge current positive, as Victron does
        power=float(power),
        soc=float(soc),
        soh=float(soh),
        capacity_full=round(full / 1e6, 3) if full else None,
        capacity_remaining=round(remaining / 1e6, 3),
        cell_voltages=cells,
        cell_balancing=[bool(balancing_cells >> i & 1) for i in range(n_cells)],
        temperatures=sensors or None,
        mosfet_temperature=mosfet,
        charge_enabled=charge == 1,
        discharge_enabled=discharge == 1,
        balancing=balancer in BALANCING_CODES,
        alarms=found.alarms,
        conditions=tuple(found.conditions),
    )


def decode_device_info(frame: bytes) -> DeviceInfo:
    """The model and firmware in a device-info reply (function 0x12 at 0x026C)."""
    if len(frame) < 10 or frame[:2] != HEADER or frame[2] != FUNC_DEVICE_INFO | REPLY:
        raise ProtocolError("not an ANT device-info reply")
    data = frame[6 : 6 + frame[5]]
    if len(data) < 32:
        raise ProtocolError(f"ANT device info of {len(data)} bytes is too short")
    return DeviceInfo(model=_text(data[:16]), sw_version=_text(data[16:32]))


def is_device_info(frame: bytes) -> bool:
    return frame[2] == FUNC_DEVICE_INFO | REPLY and struct.unpack_from("<H", frame, 3)[0] == DEVICE_INFO_ADDRESS


def _text(raw: bytes) -> str | None:
    return raw.split(b"\x00", 1)[0].decode("ascii", "replace").strip() or None


def encode_status(sample: Sample, *, charge: int | None = None, discharge: int | None = None,
                  balancer: int | None = None) -> bytes:
    """The BMS side: a status reply carrying ``sample`` (for simulators and round-trip tests); the
    status codes default to on, on and off-or-balancing from the sample's FETs and balancer."""
    cells = sample.cell_voltages or []
    temps = sample.temperatures or []
    cell_mv = [round(v * 1000) for v in cells]
    flags = sample.cell_balancing or []
    charge = (1 if sample.charge_enabled else 0) if charge is None else charge
    discharge = (1 if sample.discharge_enabled else 0) if discharge is None else discharge
    balancer = (4 if sample.balancing else 0) if balancer is None else balancer
    current = sample.current or 0.0
    state = 2 if current > 0.5 else 3 if current < -0.5 else 1
    top, low = max(cell_mv, default=0), min(cell_mv, default=0)
    data = bytearray(struct.pack("<BBBB", 0x05, state, len(temps), len(cells)))
    data += struct.pack("<QQQ", 0, 0, 0)
    data += struct.pack(f"<{len(cells)}H", *cell_mv)
    data += struct.pack(f"<{len(temps)}h", *(round(t) for t in temps))
    data += struct.pack("<hh", round(sample.mosfet_temperature or 0), round(sample.mosfet_temperature or 0))
    data += _PACK.pack(
        round((sample.voltage or 0) * 100), round(current * 10), round(sample.soc or 0), round(sample.soh or 100),
        discharge, charge, balancer, round((sample.capacity_full or 0) * 1e6),
        round((sample.capacity_remaining or 0) * 1e6), 0, round(sample.power or 0), 0,
        sum(1 << i for i, on in enumerate(flags) if on),
        top, cell_mv.index(top) + 1 if cells else 0, low, cell_mv.index(low) + 1 if cells else 0, top - low,
        round(sum(cell_mv) / len(cell_mv)) if cells else 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0,
    )
    return build_frame(FUNC_STATUS | REPLY, 0x0000, bytes(data))


def encode_device_info(info: DeviceInfo) -> bytes:
    """The BMS side: a device-info reply."""
    def field(text: str | None) -> bytes:
        return (text or "").encode("ascii", "replace")[:16].ljust(16, b"\x00")

    return build_frame(FUNC_DEVICE_INFO | REPLY, DEVICE_INFO_ADDRESS, field(info.model) + field(info.sw_version))


def decode_replies(frames: list[bytes]) -> Sample:
    """One poll's replies (a status reply, and any device-info reply) as one Sample."""
    sample: Sample | None = None
    info = DeviceInfo()
    for frame in frames:
        if frame[2] == FUNC_STATUS | REPLY:
            sample = decode_status(frame)
        elif is_device_info(frame):
            info = info.merged(decode_device_info(frame))
    if sample is None:
        if info == DeviceInfo():
            raise ProtocolError("no ANT status or device-info reply in the bytes given")
        sample = Sample()
    if info != DeviceInfo():
        sample.device = info
    return sample
