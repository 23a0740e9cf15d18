"""Real recorded frames through their codec and the reading judge: every capture passes, a record
read with the wrong layout is refused naming what failed, and any numeric field of any codec's
record overwritten (NaN, infinities, all ones, zero, random bytes; checksum made valid again)
either fails to decode, is refused, or holds only values inside every window.

The fuzz examples are derandomised so CI sees the same records on every run; DBUS_BMS_THOROUGH=1
draws 2000 fresh ones instead.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbus_bms.devices.plausibility import IMPLAUSIBLE, ReadingJudge
from dbus_bms.model import Sample
from dbus_bms.protocols import jk02, jk_nw
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.framing import drain

from ..conftest import load_fixture

# Fixture file → the codec that reads it: "nw", or the JK record layout.
CODECS = {
    "jk_serial_nw.json": "nw",
    "jk_ble_jk02_24s.json": "24s",
    "jk_ble_jk02_32s.json": "32s",
    "jk_ble_jk04.json": "jk04",
}


def _frames(data: bytes, codec: str) -> list[bytes]:
    assembler = jk_nw.NwAssembler() if codec == "nw" else jk02.RecordAssembler()
    assembler.feed(data)
    return [item for item in drain(assembler) if isinstance(item, bytes)]


def _decode(frame: bytes, codec: str) -> Sample | object:
    return jk_nw.decode(frame) if codec == "nw" else jk02.decode(frame, codec)


def readings() -> Iterator[tuple[str, str, bytes]]:
    """(frame id, codec, frame) of every recorded reading: the NW replies and the cell-info
    records whose checksum holds (the captures' corrupt and truncated frames are not readings)."""
    for name, codec in CODECS.items():
        for f in load_fixture(name)["frames"]:
            for frame in _frames(bytes.fromhex(f["response_hex"]), codec):
                if isinstance(_decode(frame, codec), Sample):
                    yield f["id"], codec, frame


READINGS = {frame_id: (codec, frame) for frame_id, codec, frame in readings()}

# A capture of a BMS whose first two of 13 cells read 0.000 V, with a pack voltage that is the sum
# of the other eleven and both of its switches off: two sense leads are not connected. No charge
# control can steer by it, so it is refused like any other broken sense lead.
REFUSED_CAPTURES = {"esphome-jk-faker-frame2": "cell 1 = 0.000 V is outside 0.5..5.0 V"}


def test_every_codec_has_recorded_readings():
    assert {codec for codec, _ in READINGS.values()} == set(CODECS.values())
    assert len(READINGS) >= 25


@pytest.mark.parametrize("frame_id", sorted(set(READINGS) - set(REFUSED_CAPTURES)))
def test_every_recorded_reading_passes(frame_id):
    codec, frame = READINGS[frame_id]
    assert ReadingJudge().judge(_decode(frame, codec)) is None


@pytest.mark.parametrize("frame_id, problem", sorted(REFUSED_CAPTURES.items()))
def test_a_capture_with_open_sense_leads_is_refused(frame_id, problem):
    codec, frame = READINGS[frame_id]
    verdict = ReadingJudge().judge(_decode(frame, codec))
    assert verdict is not None and verdict.kind == IMPLAUSIBLE
    assert verdict.problems[:2] == (problem, "cell 2 = 0.000 V is outside 0.5..5.0 V")


JK02_32S = sorted(frame_id for frame_id, (codec, _) in READINGS.items() if codec == "32s")


@pytest.mark.parametrize("frame_id", JK02_32S)
@pytest.mark.parametrize(
    "layout, first_problem",
    [
        # 24s reads the pack voltage where 32s keeps cell resistances of empty slots.
        ("24s", "voltage = 0.00 V is not above 0 V"),
        # jk04 reads float cells from two 16-bit millivolt values.
        ("jk04", "cell 1 = 0.000 V is outside 0.5..5.0 V"),
    ],
)
def test_a_jk02_32s_record_read_with_another_layout_is_refused(frame_id, layout, first_problem):
    _, frame = READINGS[frame_id]
    verdict = ReadingJudge().judge(jk02.decode(frame, layout))
    assert verdict is not None and verdict.kind == IMPLAUSIBLE
    assert verdict.problems[0] == first_problem


# --- Fuzzing: one field of a real record overwritten -------------------------------------------

_THOROUGH = os.environ.get("DBUS_BMS_THOROUGH") == "1"
FUZZ = settings(
    max_examples=2000 if _THOROUGH else 50,
    derandomize=not _THOROUGH,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _jk_slots(codec: str) -> list[tuple[int, str]]:
    """(offset, struct format) of every numeric field of a cell-info record: cells and the rest."""
    tables = jk02._layout_tables(codec)
    return [(f.offset, f.fmt) for f in (*tables.cells, *tables.cell_info.values())]


def _nw_slots(frame: bytes) -> list[tuple[int, str]]:
    """(offset in the frame, struct format) of every cell and register value of an NW reply."""
    data_at = 11
    data = frame[data_at:-9]
    n = data[1]
    slots = [(data_at + 2 + i + 1, ">H") for i in range(0, n, 3)]
    i = 2 + n
    while i < len(data):
        width = jk_nw.WIDTHS[data[i]]
        slots.append((data_at + i + 1, f"{width}s"))
        i += 1 + width
    return slots


def _nw_resealed(frame: bytes) -> bytes:
    """``frame`` with its checksum made valid again, by the codec's own frame builder."""
    return jk_nw.build_frame(
        frame[8],
        frame[11:-9],
        source=frame[9],
        terminal_id=int.from_bytes(frame[4:8], "big"),
        transport=frame[10],
        record=int.from_bytes(frame[-9:-5], "big"),
    )


def _jk_resealed(frame: bytes) -> bytes:
    return frame[:-1] + bytes([jk02.checksum(frame[:-1])])


def test_the_fuzzer_reseals_frames_as_the_codecs_do():
    for codec, frame in READINGS.values():
        assert (_nw_resealed(frame) if codec == "nw" else _jk_resealed(frame)) == frame


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[str, bytes, str]:
    """A recorded reading with one numeric field overwritten: (codec, resealed frame, what was done)."""
    frame_id = draw(st.sampled_from(sorted(READINGS)))
    codec, frame = READINGS[frame_id]
    slots = _nw_slots(frame) if codec == "nw" else _jk_slots(codec)
    offset, fmt = draw(st.sampled_from(slots))
    size = struct.calcsize(fmt)
    values = [b"\xff" * size, bytes(size), draw(st.binary(min_size=size, max_size=size))]
    if fmt.endswith("f"):
        values += [struct.pack(fmt, v) for v in (math.nan, math.inf, -math.inf)]
    raw = draw(st.sampled_from(values))
    damaged = frame[:offset] + raw + frame[offset + size :]
    damaged = _nw_resealed(damaged) if codec == "nw" else _jk_resealed(damaged)
    return codec, damaged, f"{frame_id}: {raw.hex()} at {offset}"


def _outside_windows(s: Sample) -> list[str]:
    """The windows of the README, restated here so the judge is checked against them."""
    bad = []

    def out(name: str, value: float | None, lo: float, hi: float, lo_open: bool = False) -> None:
        if value is not None and not (math.isfinite(value) and (lo < value if lo_open else lo <= value) and value <= hi):
            bad.append(name)

    out("voltage", s.voltage, 0, 1000, lo_open=True)
    out("current", s.current, -5000, 5000)
    out("power", s.power, -5e6, 5e6)
    out("soc", s.soc, 0, 100)
    out("soh", s.soh, 0, 100)
    out("capacity_remaining", s.capacity_remaining, 0, 1e5)
    out("capacity_full", s.capacity_full, 0, 1e5, lo_open=True)
    out("cycles", s.cycles, 0, 1e5)
    out("mosfet_temperature", s.mosfet_temperature, -50, 120)
    for v in s.cell_voltages or []:
        out("cell", v, 0.5, 5.0)
    for v in s.temperatures or []:
        out("temperature", v, -50, 120)
    if bad:
        return bad
    if s.cell_voltages is not None:
        if not 1 <= len(s.cell_voltages) <= 64:
            bad.append("cell count")
        elif s.voltage is not None and abs(sum(s.cell_voltages) - s.voltage) > max(1.0, 0.05 * s.voltage):
            bad.append("sum of cells")
    if s.capacity_full is not None and s.capacity_remaining is not None and s.capacity_remaining > 1.5 * s.capacity_full:
        bad.append("remaining over full")
    return bad


@FUZZ
@given(corrupted())
def test_a_corrupted_field_is_refused_or_within_every_window(case):
    codec, frame, what = case
    try:
        [assembled] = _frames(frame, codec)
        sample = _decode(assembled, codec)
    except ProtocolError:
        return
    assert isinstance(sample, Sample), what
    verdict = ReadingJudge().judge(sample)
    if verdict is None:
        assert _outside_windows(sample) == [], what
    else:
        assert verdict.kind == IMPLAUSIBLE and verdict.problems, what
        assert _outside_windows(sample), f"{what}: refused ({verdict.message}) though inside every window"
