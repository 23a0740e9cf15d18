"""JK PB series (the "inverter BMS") over RS485: Modbus RTU frames, the trigger protocol, its records.

Every pack sits at the address of its DIP switches (1-15 as a slave; 0 makes it the bus master).
A host asks for a record with an FC16 write of 0x0000 to a trigger register (0x161C device info,
0x161E settings, 0x1620 cell info); the pack answers with the 300-byte JK record (``jk02``; its
cell info is the JK02_32S layout), on some firmware a 0x00 pad byte, the FC16 ack that names the
pack, and another pad. The record itself carries no address: the ack that follows it does
(``Attribution``). A master pack broadcasts its own records, each followed by an ack-shaped frame
from address 0.

Plain Modbus works too: FC3 reads and FC16 writes of registers numbered block base + byte offset,
data big-endian, 32-bit values high word first; the charge, discharge and balancer switches are
the UINT32 settings 0x1070, 0x1074 and 0x1078. CRC-16/MODBUS closes each frame, low byte first.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import NamedTuple

from ..model import DeviceInfo, Sample
from . import jk02
from .crc import crc16
from .errors import ProtocolError
from .framing import HeaderBuffer

FC_READ = 0x03
FC_WRITE = 0x10
EXCEPTION_FLAG = 0x80

MASTER_ADDRESS = 0
SLAVE_ADDRESSES = range(1, 16)

# Trigger register → the record type it makes the pack send.
TRIGGERS: dict[int, int] = {0x161C: jk02.TYPE_DEVICE_INFO, 0x161E: jk02.TYPE_SETTINGS, 0x1620: jk02.TYPE_CELL_INFO}
TRIGGER_REGISTER: dict[int, int] = {kind: register for register, kind in TRIGGERS.items()}

REG_CHARGE, REG_DISCHARGE, REG_BALANCE = 0x1070, 0x1074, 0x1078
CONTROL_REGISTERS = (REG_CHARGE, REG_DISCHARGE, REG_BALANCE)

TRIGGER_LEN = 11  # address, FC16, register, count 1, byte count 2, value 0x0000, CRC
ACK_LEN = 8  # address, FC16, register, count, CRC
EXCEPTION_LEN = 5  # address, function | 0x80, code, CRC

EXCEPTION_CODES = {1: "illegal function", 2: "illegal register address", 3: "illegal data value", 4: "CRC error"}

# Settings record offsets: the official register offset + 6. Names of the fields jk02 also reads
# are jk02's; units as jk02's (V, A, Ah, s, °C).
SETTINGS: dict[str, jk02.Field] = {
    "smart_sleep_voltage": jk02.Field(6, "<I", 3),
    "cell_uvp": jk02.Field(10, "<I", 3),
    "cell_uvp_recovery": jk02.Field(14, "<I", 3),
    "cell_ovp": jk02.Field(18, "<I", 3),
    "cell_ovp_recovery": jk02.Field(22, "<I", 3),
    "balance_trigger_voltage": jk02.Field(26, "<I", 3),
    "soc_100_voltage": jk02.Field(30, "<I", 3),
    "soc_0_voltage": jk02.Field(34, "<I", 3),
    "cell_request_charge_voltage": jk02.Field(38, "<I", 3),
    "cell_request_float_voltage": jk02.Field(42, "<I", 3),
    "power_off_voltage": jk02.Field(46, "<I", 3),
    "max_charge_current": jk02.Field(50, "<I", 3),
    "charge_ocp_delay": jk02.Field(54, "<I"),
    "charge_ocp_recovery": jk02.Field(58, "<I"),
    "max_discharge_current": jk02.Field(62, "<I", 3),
    "discharge_ocp_delay": jk02.Field(66, "<I"),
    "discharge_ocp_recovery": jk02.Field(70, "<I"),
    "scp_recovery": jk02.Field(74, "<I"),
    "max_balance_current": jk02.Field(78, "<I", 3),
    "charge_otp": jk02.Field(82, "<i", 1),
    "charge_otp_recovery": jk02.Field(86, "<i", 1),
    "discharge_otp": jk02.Field(90, "<i", 1),
    "discharge_otp_recovery": jk02.Field(94, "<i", 1),
    "charge_utp": jk02.Field(98, "<i", 1),
    "charge_utp_recovery": jk02.Field(102, "<i", 1),
    "mosfet_otp": jk02.Field(106, "<i", 1),
    "mosfet_otp_recovery": jk02.Field(110, "<i", 1),
    "cell_count": jk02.Field(114, "<I"),
    "charge_switch": jk02.Field(118, "<I"),
    "discharge_switch": jk02.Field(122, "<I"),
    "balancer_switch": jk02.Field(126, "<I"),
    "nominal_capacity": jk02.Field(130, "<I", 3),
    "scp_delay": jk02.Field(134, "<I", 6),
    "balance_start_voltage": jk02.Field(138, "<I", 3),
    "device_address": jk02.Field(270, "<I"),
}


def _sealed(body: bytes) -> bytes:
    return body + struct.pack("<H", crc16(body))


def _crc_ok(frame: bytes | bytearray) -> bool:
    return len(frame) >= 4 and crc16(frame[:-2]) == struct.unpack_from("<H", frame, len(frame) - 2)[0]


def _check_address(address: int) -> None:
    if not 0 <= address <= SLAVE_ADDRESSES[-1]:
        raise ValueError(f"PB address {address} is not 0-15 (the pack's DIP switches)")


# --- What a host sends ----------------------------------------------------------------------------


def build_write(address: int, register: int, data: bytes) -> bytes:
    """FC16: write ``data`` (big-endian register words) from ``register`` on."""
    _check_address(address)
    if not data or len(data) % 2 or len(data) > 246:
        raise ValueError(f"an FC16 write carries 2 to 246 bytes in whole registers, not {len(data)}")
    return _sealed(struct.pack(">BBHHB", address, FC_WRITE, register, len(data) // 2, len(data)) + data)


def build_write_u32(address: int, register: int, value: int) -> bytes:
    """FC16: one UINT32 setting (two registers, high word first), e.g. a control switch."""
    return build_write(address, register, struct.pack(">I", value))


def build_trigger(address: int, kind: int) -> bytes:
    """The request that makes the pack at ``address`` send its record of type ``kind``."""
    register = TRIGGER_REGISTER.get(kind)
    if register is None:
        raise ValueError(f"no trigger for record type 0x{kind:02X}")
    return build_write(address, register, b"\x00\x00")


def build_read(address: int, register: int, count: int) -> bytes:
    """FC3: read ``count`` registers from ``register``."""
    _check_address(address)
    if not 1 <= count <= 125:
        raise ValueError(f"an FC3 read asks for 1 to 125 registers, not {count}")
    return _sealed(struct.pack(">BBHH", address, FC_READ, register, count))


# --- What a pack answers (built by the simulator) -------------------------------------------------


def build_ack(address: int, register: int, count: int = 1) -> bytes:
    """The FC16 ack: address, function, register and count of the write it confirms."""
    return _sealed(struct.pack(">BBHH", address, FC_WRITE, register, count))


def build_read_reply(address: int, data: bytes) -> bytes:
    """The FC3 reply: address, function, byte count, the registers' bytes."""
    return _sealed(struct.pack(">BBB", address, FC_READ, len(data)) + data)


def build_exception(address: int, function: int, code: int) -> bytes:
    """The reply to a request a pack understood but refuses: function | 0x80 and a code."""
    return _sealed(bytes([address, function | EXCEPTION_FLAG, code]))


# --- What the wire carries, as events -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """A trigger write: a host's or the master pack's poll of ``address`` (or an adapter's echo)."""

    address: int
    register: int

    @property
    def kind(self) -> int:
        return TRIGGERS[self.register]


@dataclass(frozen=True, slots=True)
class Record:
    """A 300-byte record with a good checksum; who sent it, the ack that follows says."""

    kind: int
    record: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    """An FC16 ack (or a master pack's ack-shaped frame after its own record)."""

    address: int
    register: int
    count: int = 1


@dataclass(frozen=True, slots=True)
class Write:
    """An FC16 write of anything but a trigger (a control switch, a setting)."""

    address: int
    register: int
    data: bytes

    @property
    def value(self) -> int:
        """The data as one big-endian number (a UINT32 setting's value)."""
        return int.from_bytes(self.data, "big")


@dataclass(frozen=True, slots=True)
class Read:
    """An FC3 read request."""

    address: int
    register: int
    count: int


@dataclass(frozen=True, slots=True)
class ReadReply:
    """An FC3 reply; which registers it holds, only the request says."""

    address: int
    data: bytes

    def uint32(self, offset: int = 0) -> int:
        """The UINT32 at byte ``offset`` of the data (high word first)."""
        if offset < 0 or offset + 4 > len(self.data):
            raise ProtocolError(f"FC3 reply of {len(self.data)} bytes has no UINT32 at byte {offset}")
        return struct.unpack_from(">I", self.data, offset)[0]


@dataclass(frozen=True, slots=True)
class ExceptionReply:
    """A pack refused a request: the function it refused and why."""

    address: int
    function: int
    code: int

    @property
    def reason(self) -> str:
        return EXCEPTION_CODES.get(self.code, f"exception code {self.code}")


Event = Request | Record | Ack | Write | Read | ReadReply | ExceptionReply


def parse_frame(frame: bytes) -> Event:
    """One complete Modbus frame (CRC included) as its event; ProtocolError if it is none."""
    if len(frame) < EXCEPTION_LEN or not _crc_ok(frame):
        raise ProtocolError(f"not a Modbus frame with a good CRC: {frame.hex(' ')}")
    address, function = frame[0], frame[1]
    n = len(frame)
    if function & EXCEPTION_FLAG and n == EXCEPTION_LEN:
        return ExceptionReply(address, function & ~EXCEPTION_FLAG, frame[2])
    if function == FC_WRITE and n == ACK_LEN:
        _, _, register, count = struct.unpack_from(">BBHH", frame)
        return Ack(address, register, count)
    if function == FC_WRITE and n > 9 and frame[6] == n - 9 == 2 * struct.unpack_from(">H", frame, 4)[0]:
        register = struct.unpack_from(">H", frame, 2)[0]
        data = bytes(frame[7:-2])
        if register in TRIGGERS and data == b"\x00\x00":
            return Request(address, register)
        return Write(address, register, data)
    if function == FC_READ and frame[2] == n - 5 and frame[2] and frame[2] % 2 == 0:
        return ReadReply(address, bytes(frame[3:-2]))
    if function == FC_READ and n == 8:
        _, _, register, count = struct.unpack_from(">BBHH", frame)
        return Read(address, register, count)
    raise ProtocolError(f"not a PB Modbus frame: {frame.hex(' ')}")


def parse_reply(frame: bytes) -> Ack | ReadReply | ExceptionReply:
    """A pack's answer to a plain Modbus request: the FC16 ack, the FC3 data or the refusal."""
    event = parse_frame(frame)
    if not isinstance(event, Ack | ReadReply | ExceptionReply):
        raise ProtocolError(f"a request where a reply was expected: {frame.hex(' ')}")
    return event


# Where something may start: the record header, or a PB address followed by a function code.
# A master never answers FC3, and address 0 is the broadcast address that no slave answers from.
_START = re.compile(rb"\x55\xaa\xeb\x90|[\x01-\x0f][\x03\x10\x83\x90]|\x00\x10", re.DOTALL)


def _lengths(buf: bytearray) -> tuple[list[int], int]:
    """(the lengths a Modbus frame at the start of ``buf`` could have, bytes needed to know more)."""
    function = buf[1]
    if function & EXCEPTION_FLAG:
        return [EXCEPTION_LEN], 0
    if function == FC_WRITE:
        if len(buf) < 7:
            return [], 7
        count, byte_count = struct.unpack_from(">HB", buf, 4)
        # An ack, or a write whose byte count matches its register count.
        return [ACK_LEN] + ([9 + byte_count] if byte_count and byte_count == 2 * count else []), 0
    if len(buf) < 3:
        return [], 3
    # A request, or a reply whose byte count is whole registers.
    return [8] + ([5 + buf[2]] if buf[2] and buf[2] % 2 == 0 else []), 0


class PbStream(HeaderBuffer):
    """What a PB bus carries, as events, from chunks of any size.

    Records (sum8 checked) and Modbus frames (CRC checked) come out in wire order. Pad bytes, a
    partial echo, stale bytes and noise are skipped and counted in ``discarded_bytes``. A record
    with a bad checksum raises ProtocolError once (its header is dropped, the stream resyncs on
    what follows). A partial frame waits for the next chunk; the buffer never holds more than the
    longest frame plus one chunk.
    """

    def __init__(self) -> None:
        super().__init__(jk02.HEADER)

    def next_event(self) -> Event | None:
        while self.buf:
            start = _START.search(self.buf)
            if start is None:
                self.skip(len(self.buf) - self._tail_to_keep())
                return None
            self.skip(start.start())
            if self.buf.startswith(jk02.HEADER):
                return self._record()
            lengths, needed = _lengths(self.buf)
            if needed > len(self.buf):
                return None
            waiting = False
            for n in sorted(lengths):
                if n > len(self.buf):
                    waiting = True
                elif _crc_ok(self.buf[:n]):
                    try:
                        event = parse_frame(bytes(self.buf[:n]))
                    except ProtocolError:
                        continue
                    del self.buf[:n]
                    return event
            if waiting:
                return None
            self.skip(1)
        return None

    def _tail_to_keep(self) -> int:
        """How many last bytes may begin a frame whose next bytes are still on their way."""
        header = next((k for k in range(len(jk02.HEADER) - 1, 0, -1) if self.buf.endswith(jk02.HEADER[:k])), 0)
        return header or int(self.buf[-1] <= SLAVE_ADDRESSES[-1])

    def _record(self) -> Record | None:
        if len(self.buf) < jk02.RECORD_LEN:
            return None
        record = bytes(self.buf[: jk02.RECORD_LEN])
        if record[-1] != jk02.checksum(record[:-1]):
            self.skip(len(jk02.HEADER))
            raise ProtocolError("JK PB record with a bad checksum")
        del self.buf[: jk02.RECORD_LEN]
        return Record(record[4], record)

    def events(self) -> Iterator[Event | ProtocolError]:
        """Every event the stream holds, and in their place the error of each corrupt record."""
        while True:
            try:
                event = self.next_event()
            except ProtocolError as exc:
                yield exc
                continue
            if event is None:
                return
            yield event


# --- Who sent a record ----------------------------------------------------------------------------


class Attributed(NamedTuple):
    address: int
    kind: int
    record: bytes


class Attribution:
    """Pairs each record with the ack right after it, which names the pack that sent it.

    Fed the stream's events in order, ``feed`` returns the attributed record when its ack arrives.
    A record followed by anything else (a poll, a corrupt frame, another record, an ack of another
    register) has no sender and is dropped, counted in ``unattributed``.

    Master mode: ``expect(address, kind)`` right before a request; from then on only that pack's
    record of that kind counts, once. A record already pending is stale and dropped; another
    pack's answer, or one of another kind, is counted in ``foreign`` and not returned.
    Listening mode: never call ``expect``; every attributed record comes out, the master's own
    broadcasts as address 0.
    """

    def __init__(self) -> None:
        self.unattributed = 0
        self.foreign = 0
        self._pending: Record | None = None
        self._expected: tuple[int, int] | None = None

    def expect(self, address: int, kind: int) -> None:
        self._drop()
        self._expected = (address, kind)

    def feed(self, item: Event | ProtocolError) -> Attributed | None:
        if isinstance(item, Record):
            self._drop()
            self._pending = item
            return None
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        if not isinstance(item, Ack) or item.register != TRIGGER_REGISTER.get(pending.kind):
            self.unattributed += 1
            return None
        found = Attributed(item.address, pending.kind, pending.record)
        if self._expected is not None:
            if (found.address, found.kind) != self._expected:
                self.foreign += 1
                return None
            self._expected = None
        return found

    def _drop(self) -> None:
        if self._pending is not None:
            self.unattributed += 1
            self._pending = None


# --- Records → values -----------------------------------------------------------------------------


@dataclass(slots=True)
class PbSettings(jk02.JkSettings):
    """The settings record of a PB: jk02's settings and the pack's RS485 address (DIP switches)."""

    device_address: int | None = None


def settings_fields(record: bytes) -> dict[str, float]:
    """Every field of ``SETTINGS`` in a settings record, in units."""
    if len(record) != jk02.RECORD_LEN or record[:4] != jk02.HEADER or record[4] != jk02.TYPE_SETTINGS:
        raise ProtocolError("not a JK settings record")
    return {name: field.read(record) for name, field in SETTINGS.items()}


def decode_settings(record: bytes) -> PbSettings:
    base = asdict(jk02.decode_settings(record, "32s"))
    return PbSettings(**base, device_address=int(SETTINGS["device_address"].read(record)))


def encode_settings(settings: PbSettings) -> bytes:
    """A settings record with jk02's fields and the device address (the simulator's)."""
    record = bytearray(jk02.encode_settings(settings, "32s"))
    if settings.device_address is not None:
        SETTINGS["device_address"].write(record, settings.device_address)
    record[-1] = jk02.checksum(record[:-1])
    return bytes(record)


def decode_record(record: bytes) -> Sample | PbSettings | DeviceInfo | None:
    """Cell info → Sample (JK02_32S), settings → PbSettings, device info → DeviceInfo with the
    factory serial (offset 86; offset 46 is the name the owner gave the pack), others → None."""
    kind = record[4] if len(record) > 4 else None
    if kind == jk02.TYPE_SETTINGS:
        return decode_settings(record)
    return jk02.decode(record, "32s")
