"""The NEEY / Heltec active balancer (GW-24S4EB, EK-24S4EB, EK-B24S8E200A) over Bluetooth LE.

Requests are 20 bytes, ``AA 55 11 <function> <command> <register> 14 00``, four value bytes, six
zero bytes, the sum8 of what comes before, and ``FF``: function 01 reads, 00 writes. Replies start
``55 AA 11 01 <type> 00`` with their whole length (u16 LE) in bytes 6-7 and end with the same sum8
and ``FF``: 0x01 device info (100 bytes), 0x02 cell info (300 bytes, streamed about once a second
after one request), 0x04 settings (100 bytes on older firmware, 150 on newer). Values are float32
little-endian; the module also sends ``AT\\r\\n`` between frames.

Cell info holds 24 cell voltages, then 24 cell resistances (Ω), then the pack: total voltage at
201, the operation status at 216 (0x05: balancing). Two tails after it are known: ``v1`` (GW- and
EK-24S4EB) with the balancing current at 217 and two temperatures; ``v2`` (the EK-B models with a
current sensor) one byte later, with pack current, temperatures, capacity and SoC. Which one a
balancer sends is told by its model in the device info.

The balancer switch is register 0x0D (value 1 on, 0 off); the 100-byte settings frame reports it at
byte 21. Where the 150-byte settings frame keeps it is not known from a capture that states it, so
those frames report no switch.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..model import BmsSettings, DeviceInfo, Sample
from .errors import ProtocolError
from .framing import HeaderBuffer

SERVICE_UUID = "0000ffe0-0000-1000-8000-00805f9b34fb"
CHAR_UUID = "0000ffe1-0000-1000-8000-00805f9b34fb"

REQUEST_HEADER = b"\xaa\x55\x11"
REPLY_HEADER = b"\x55\xaa\x11"
REQUEST_LEN = 20
END = 0xFF
FUNCTION_WRITE, FUNCTION_READ = 0x00, 0x01
TYPE_DEVICE_INFO, TYPE_CELL_INFO, TYPE_SETTINGS, TYPE_WRITE = 0x01, 0x02, 0x04, 0x05
BALANCER_REGISTER = 0x0D
# The shortest frame is a write acknowledgement (20 bytes); the longest the cell info.
MIN_FRAME, MAX_FRAME = 20, 300
CELL_INFO_LEN, DEVICE_INFO_LEN = 300, 100
SETTINGS_V1_LEN = 100
SLOTS = 24
STATUS_BALANCING = 0x05
LAYOUTS = ("v1", "v2")

# Operation status (cell info byte 216) in words; every status but "Balancing" means it is not.
STATUS_TEXT = {
    0x01: "wrong cell count",
    0x02: "sense line resistance test",
    0x03: "sense line resistance too high",
    0x04: "self-test completed",
    0x05: "balancing",
    0x06: "balancing finished",
    0x07: "low voltage",
    0x08: "balancer over-temperature",
    0x09: "host fails",
    0x0A: "low battery voltage, balancing stopped",
    0x0B: "temperature too high, balancing stopped",
    0x0C: "self-test completed",
}


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def build_request(command: int, *, function: int = FUNCTION_READ, register: int = 0, value: int = 0) -> bytes:
    """A 20-byte request: read ``command`` (0x01 device info, 0x02 cell info, 0x04 settings), or write
    ``value`` to ``register`` (function 0, command 0x05)."""
    body = REQUEST_HEADER + bytes([function, command, register]) + struct.pack("<HI", REQUEST_LEN, value) + bytes(6)
    return body + bytes([checksum(body), END])


def build_switch(on: bool) -> bytes:
    """The write that switches the balancer on or off."""
    return build_request(TYPE_WRITE, function=FUNCTION_WRITE, register=BALANCER_REGISTER, value=int(on))


def seal(frame: bytearray) -> bytes:
    """``frame`` (its last two bytes free) closed with its sum8 and ``FF``."""
    frame[-2] = checksum(frame[:-2])
    frame[-1] = END
    return bytes(frame)


def blank_reply(kind: int, length: int) -> bytearray:
    """A zero-filled reply of type ``kind`` and ``length`` bytes, to fill in and ``seal``."""
    frame = bytearray(length)
    frame[:8] = REPLY_HEADER + bytes([FUNCTION_READ, kind, 0]) + struct.pack("<H", length)
    return frame


class FrameAssembler(HeaderBuffer):
    """Cuts replies out of notifications; ``AT\\r\\n`` and anything else before a header is dropped
    and counted. A frame whose length field is out of bounds or whose tail does not check loses only
    its header, so a frame that starts inside it is still found."""

    def __init__(self) -> None:
        super().__init__(REPLY_HEADER)

    def next_frame(self) -> bytes | None:
        if not self.at_header() or len(self.buf) < 8:
            return None
        length = int.from_bytes(self.buf[6:8], "little")
        if not MIN_FRAME <= length <= MAX_FRAME:
            self.skip(len(self.header))
            raise ProtocolError(f"frame length {length} outside {MIN_FRAME}..{MAX_FRAME}")
        if len(self.buf) < length:
            return None
        frame = bytes(self.buf[:length])
        if frame[-1] != END or frame[-2] != checksum(frame[:-2]):
            self.skip(len(self.header))
            raise ProtocolError("frame with a bad checksum or end byte")
        del self.buf[:length]
        return frame


def _check(frame: bytes, kind: int, lengths: tuple[int, ...]) -> None:
    if len(frame) not in lengths or not frame.startswith(REPLY_HEADER) or frame[4] != kind:
        raise ProtocolError(f"not a type 0x{kind:02x} frame of {' or '.join(map(str, lengths))} bytes")
    if frame[-1] != END or frame[-2] != checksum(frame[:-2]):
        raise ProtocolError("bad checksum or end byte")


def _f32(frame: bytes, offset: int) -> float:
    return struct.unpack_from("<f", frame, offset)[0]


def _text(raw: bytes) -> str | None:
    text = raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()
    return text or None


def decode_device_info(frame: bytes) -> DeviceInfo:
    """Model (bytes 8-23), hardware (24-31) and software version (32-39)."""
    _check(frame, TYPE_DEVICE_INFO, (DEVICE_INFO_LEN,))
    return DeviceInfo(model=_text(frame[8:24]), hw_version=_text(frame[24:32]), sw_version=_text(frame[32:40]))


def layout_for_model(model: str | None) -> str:
    """The cell-info tail a balancer of ``model`` sends: ``v2`` for the EK-B models with their
    current sensor, ``v1`` for the rest."""
    return "v2" if model and model.upper().startswith("EK-B") else "v1"


@dataclass(frozen=True)
class CellInfo:
    """One cell-info frame: ``sample`` as the balancer sees the pack (the cells' resistances
    included), and its operation status."""

    sample: Sample
    status: int


def _cells(frame: bytes) -> list[float]:
    """The cell voltages up to the first empty slot; a slot after it that reads a voltage means the
    frame is not what it claims to be."""
    slots = [_f32(frame, 9 + 4 * i) for i in range(SLOTS)]
    count = next((i for i, v in enumerate(slots) if v == 0.0), SLOTS)
    if any(v != 0.0 for v in slots[count:]):
        raise ProtocolError(f"cell slots after the empty slot {count + 1} are not empty")
    return [round(v, 4) for v in slots[:count]]


def decode_cell_info(frame: bytes, layout: str = "v1") -> CellInfo:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    _check(frame, TYPE_CELL_INFO, (CELL_INFO_LEN,))
    cells = _cells(frame)
    resistances = [round(_f32(frame, 105 + 4 * i), 5) for i in range(len(cells))]
    status = frame[216]
    balancing = status == STATUS_BALANCING
    sample = Sample(
        voltage=round(_f32(frame, 201), 3),
        cell_voltages=cells or None,
        cell_resistances=resistances or None,
        balancing=balancing,
        conditions=(STATUS_TEXT.get(status, f"operation status 0x{status:02x}"),),
    )
    if layout == "v1":
        sample.temperatures = [round(_f32(frame, 221), 2), round(_f32(frame, 225), 2)]
    else:
        sample.current = round(_f32(frame, 222), 3)
        sample.temperatures = [round(_f32(frame, 226), 2), round(_f32(frame, 230), 2)]
        sample.mosfet_temperature = round(_f32(frame, 234), 2)
        sample.capacity_full = round(_f32(frame, 242), 3)
        sample.capacity_remaining = round(_f32(frame, 246), 3)
        sample.soc = round(_f32(frame, 250), 2)
        sample.power = round(sample.voltage * sample.current, 3)
    return CellInfo(sample, status)


@dataclass(frozen=True)
class Settings:
    """What the settings frame says: its protection-relevant values and the balancer switch (None
    where the frame's layout is not known to carry it)."""

    settings: BmsSettings
    balancer_on: bool | None


def decode_settings(frame: bytes) -> Settings:
    """The 100-byte frame: cell count (8), balance trigger voltage (9), start voltage (28), the
    balancer switch (21), nominal capacity (24, u32). The 150-byte frame: cell count (9), nominal
    capacity (10), trigger (14), start voltage (26); no switch."""
    _check(frame, TYPE_SETTINGS, (SETTINGS_V1_LEN, 150))
    if len(frame) == SETTINGS_V1_LEN:
        settings = BmsSettings(
            cell_count=frame[8], balance_trigger_voltage=round(_f32(frame, 9), 4),
            balance_start_voltage=round(_f32(frame, 28), 3),
            nominal_capacity=float(int.from_bytes(frame[24:28], "little")),
        )
        return Settings(settings, bool(frame[21]))
    settings = BmsSettings(
        cell_count=frame[9], nominal_capacity=round(_f32(frame, 10), 1),
        balance_trigger_voltage=round(_f32(frame, 14), 4), balance_start_voltage=round(_f32(frame, 26), 3),
    )
    return Settings(settings, None)


def decode(*frames: bytes, layout: str = "v1") -> Sample:
    """The frames of one poll, in any order (a cell info among them), as one Sample: the device
    info gives ``device``, a settings frame the balancer switch."""
    cell_info = None
    device = None
    balancer_on = None
    for frame in frames:
        kind = frame[4] if len(frame) > 4 else None
        if kind == TYPE_CELL_INFO:
            cell_info = decode_cell_info(frame, layout)
        elif kind == TYPE_DEVICE_INFO:
            device = decode_device_info(frame)
        elif kind == TYPE_SETTINGS:
            balancer_on = decode_settings(frame).balancer_on
        else:
            raise ProtocolError(f"not a reply frame: {frame[:8].hex()}")
    if cell_info is None:
        raise ProtocolError("no cell info frame")
    sample = cell_info.sample
    sample.device = device
    if balancer_on is not None:
        sample.switches = {"balance": balancer_on}
    return sample
