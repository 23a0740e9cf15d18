"""The protocol names ``dbus-bms decode`` knows, and how each turns one poll's bytes into a Sample."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..model import DeviceInfo, Sample
from . import (
    ant, ant_legacy, cbtpwr, cbtpwr_vb, daly, daly_modbus, jbd, jbd_up, jk02, jk_nw, jk_pb, neey, seplos, seplos_v3, sok,
    supervolt,
)
from .errors import ProtocolError
from .framing import Assembler, drain

PROTOCOLS: dict[str, str] = {
    "jk_nw": "JK UART/RS485 'NW' protocol: a read-all reply (4E 57 ...)",
    "jk02_32s": "JK 300-byte records (55 AA EB 90), JK02_32S layout: device info and cell info, BLE or PB RS485",
    "jk02_24s": "JK 300-byte records (55 AA EB 90), JK02_24S layout (firmware before 11): device info and cell info, BLE",
    "jk04": "JK 300-byte records (55 AA EB 90), JK04 layout (hardware and firmware 3.x): device info and cell info, BLE",
    "jk_pb": "JK PB series over RS485: records with or without their Modbus ack, pad bytes and echo around them",
    "jbd": "JBD / Xiaoxiang / Overkill (DD ... 77): a basic info reply (0x03), with cells (0x04) and name (0x05)",
    "daly": "Daly classic protocol (A5, 13-byte frames): the replies to 0x90-0x98 of one poll, any subset",
    "daly_modbus": "Daly Modbus-style BLE protocol (D2 03 ...): the status block, with the MOS and version blocks",
    "seplos": "Seplos v2 RS485 ASCII (~ ... CR): a telemetry reply (0x42), with alarms (0x44) and name (0x51)",
    "seplos_ble": "Seplos v2 binary form of its Bluetooth modules (7E ... 0D): the pack telemetry reply (0x61)",
    "jbd_up": "JBD UP series (UP16S) on RS485: a pack status reply (0x78 from 0x1000), one frame",
    "seplos_v3": "Seplos v3 Modbus RTU: one pack's replies to PIA, PIB and PIC, with SPA and VIA, one frame each",
    "ant": "ANT 2021+ protocol (7E A1 ... AA 55): a status reply (0x11), with the device info (0x12)",
    "ant_legacy": "ANT legacy protocol: a 140-byte status reply (AA 55 AA FF ...)",
    "cbtpwr": "CBT Power BLE (AA 55 ... 0D 0A): the replies to 0x0B, 0x0A, 0x09, 0x15 and 0x21, with the cells (0x05-0x08)",
    "supervolt": "Supervolt ASCII (: ... ~) of the older batteries: a realtime reply (128 characters), with the capacity reply",
    "cbtpwr_vb": "Creabest / CBT Power VB series BLE (~ ... CR ASCII): a status reply (0x42), with the capacity (0x81)",
    "sok": "SOK / ABC-BMS BLE (EE requests, 20-byte CC replies): F0, F2 and F3, the cells (F4), with F9 and the name (F1)",
    "neey": "NEEY / Heltec active balancer BLE (55 AA 11 01 ... FF): a cell info frame, with the device info and settings",
}


def _frames(assembler: Assembler, data: bytes) -> list[bytes]:
    assembler.feed(data)
    frames = []
    for item in drain(assembler):
        if isinstance(item, ProtocolError):
            raise item  # decode is for looking at captures: say a frame is corrupt, do not skip it
        frames.append(item)
    return frames


def _jk_nw(chunks: list[bytes]) -> Sample:
    frames = [f for c in chunks for f in _frames(jk_nw.NwAssembler(), c)]
    replies = [f for f in frames if f[9] == jk_nw.SOURCE_BMS]
    if not replies:
        raise ProtocolError("no complete JK NW reply in the bytes given")
    return jk_nw.decode(replies[-1])


def _jbd(chunks: list[bytes]) -> Sample:
    assembler = jbd.JbdAssembler()
    frames = [f for c in chunks for f in _frames(assembler, c)]
    return jbd.decode(f for f in frames if f[1] not in (jbd.READ, jbd.WRITE))


def _cbtpwr(chunks: list[bytes]) -> Sample:
    assembler = cbtpwr.CbtAssembler()
    return cbtpwr.decode([f for c in chunks for f in _frames(assembler, c)])


def _sok(chunks: list[bytes]) -> Sample:
    assembler = sok.SokAssembler()
    return sok.decode([f for c in chunks for f in _frames(assembler, c)])


def _supervolt(chunks: list[bytes]) -> Sample:
    assembler = supervolt.SupervoltAssembler()
    return supervolt.decode([f for c in chunks for f in _frames(assembler, c)])


def _neey(chunks: list[bytes]) -> Sample:
    frames = [f for c in chunks for f in _frames(neey.FrameAssembler(), c)]
    # The cell info's tail follows the model, which the device info tells.
    models = [neey.decode_device_info(f).model for f in frames if len(f) > 4 and f[4] == neey.TYPE_DEVICE_INFO]
    return neey.decode(*frames, layout=neey.layout_for_model(models[0] if models else None))


def _cbtpwr_vb(chunks: list[bytes]) -> Sample:
    assembler = cbtpwr_vb.VbAssembler()
    return cbtpwr_vb.decode([f for c in chunks for f in _frames(assembler, c)])


def _daly(chunks: list[bytes]) -> Sample:
    assembler = daly.DalyAssembler()
    frames = [f for c in chunks for f in _frames(assembler, c)]
    return daly.decode(f for f in frames if daly.is_reply(f))


def _daly_modbus(chunks: list[bytes]) -> Sample:
    assembler = daly_modbus.ModbusAssembler()
    return daly_modbus.decode_replies(f for c in chunks for f in _frames(assembler, c))


def _seplos(chunks: list[bytes]) -> Sample:
    assembler = seplos.SeplosAssembler()
    return seplos.decode_replies([f for c in chunks for f in _frames(assembler, c)])


def _seplos_ble(chunks: list[bytes]) -> Sample:
    assembler = seplos.BinaryAssembler()
    return seplos.decode_binary_replies([f for c in chunks for f in _frames(assembler, c)])


def _jk_records(layout: str) -> Callable[[list[bytes]], Sample]:
    return lambda chunks: _jk_records_in(chunks, layout)


def _jk_records_in(chunks: list[bytes], layout: str) -> Sample:
    assembler = jk02.RecordAssembler()
    records = [record for chunk in chunks for record in _frames(assembler, chunk)]
    return _combined((jk02.decode(record, layout) for record in records), "JK record (55 AA EB 90, 300 bytes)")


def _jk_pb(chunks: list[bytes]) -> Sample:
    stream = jk_pb.PbStream()
    records = []
    for chunk in chunks:
        stream.feed(chunk)
        for item in stream.events():
            if isinstance(item, ProtocolError):
                raise item
            if isinstance(item, jk_pb.Record):
                records.append(item.record)
    return _combined((jk_pb.decode_record(record) for record in records), "JK PB record (55 AA EB 90, 300 bytes)")


def _combined(decoded: Iterable[Sample | DeviceInfo | jk02.JkSettings | None], what: str) -> Sample:
    """One Sample of a poll's records: the last cell info, the device info of all, and the BMS's
    own current limits from its settings."""
    sample: Sample | None = None
    info = DeviceInfo()
    settings: jk02.JkSettings | None = None
    for item in decoded:
        if isinstance(item, Sample):
            sample = item
        elif isinstance(item, DeviceInfo):
            info = info.merged(item)
        elif isinstance(item, jk02.JkSettings):
            settings = item
    if sample is None:
        if info == DeviceInfo() and settings is None:
            raise ProtocolError(f"no complete {what} in the bytes given")
        sample = Sample()
    if info != DeviceInfo():
        sample.device = info
    if settings is not None:
        sample.bms_settings = settings.protections()
        sample.switches = settings.switches()
    return sample


_DECODERS: dict[str, Callable[[list[bytes]], Sample]] = {
    "jk_nw": _jk_nw,
    "jk02_32s": _jk_records("32s"),
    "jk02_24s": _jk_records("24s"),
    "jk04": _jk_records("jk04"),
    "jk_pb": _jk_pb,
    "jbd": _jbd,
    "cbtpwr": _cbtpwr,
    "cbtpwr_vb": _cbtpwr_vb,
    "sok": _sok,
    "supervolt": _supervolt,
    "neey": _neey,
    "daly": _daly,
    "daly_modbus": _daly_modbus,
    "seplos": _seplos,
    "seplos_ble": _seplos_ble,
    "seplos_v3": seplos_v3.decode_replies,
    "jbd_up": jbd_up.decode_replies,
    "ant": lambda chunks: ant.decode_replies([f for c in chunks for f in _frames(ant.AntAssembler(), c)]),
    "ant_legacy": lambda chunks: ant_legacy.decode_replies(
        [f for c in chunks for f in _frames(ant_legacy.AntLegacyAssembler(), c)]),
}


def decode_frames(protocol: str, frames: list[bytes]) -> Sample:
    """One poll's responses, in order, decoded by ``protocol``."""
    decoder = _DECODERS.get(protocol)
    if decoder is None:
        raise ProtocolError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    return decoder(frames)
