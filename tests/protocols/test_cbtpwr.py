"""CBT Power codecs on their recorded update cycles (tests/fixtures/cbtpwr.json, cbtpwr_vb.json), plus fuzzing."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.model import Sample
from dbus_bms.protocols import cbtpwr, cbtpwr_vb
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.framing import drain
from dbus_bms.protocols.registry import decode_frames

from ..conftest import load_fixture
from .streams import frames_in_pieces

CYCLE = load_fixture("cbtpwr.json")["frames"][0]
STEPS = CYCLE["sequence"]
EXAMPLES = 400 if os.environ.get("DBUS_BMS_THOROUGH") else 60


def _replies() -> list[bytes]:
    return [bytes.fromhex(step["response_hex"]) for step in STEPS]


def test_requests_are_the_recorded_bytes():
    for step in STEPS:
        request = bytes.fromhex(step["request_hex"])
        assert cbtpwr.build_request(request[2]) == request


def test_the_recorded_cycle_decodes_to_the_values_its_source_states():
    expected = CYCLE["expected"]
    sample = decode_frames("cbtpwr", _replies())
    assert sample.voltage == pytest.approx(expected["voltage"])
    assert sample.current == pytest.approx(expected["current"])  # discharging, as its runtime says
    assert sample.power == pytest.approx(expected["power"])
    assert sample.soc == expected["battery_level"]
    assert sample.capacity_full == expected["design_capacity"]
    assert sample.cycles == expected["cycles"]
    assert sample.cell_voltages == pytest.approx(expected["cell_voltages"])
    assert sample.temperatures == expected["temp_values"]
    assert sample.alarms == {} and sample.conditions == ()


def test_replies_come_out_of_one_stream_however_it_is_cut():
    stream = b"\x00\xaa" + b"".join(_replies())
    rx = cbtpwr.CbtAssembler()
    frames = []
    for i in range(0, len(stream), 3):
        rx.feed(stream[i : i + 3])
        frames += list(drain(rx))
    assert frames == _replies() and rx.discarded_bytes == 2


def test_a_bad_checksum_is_an_error_and_the_next_frame_is_read():
    first, second = _replies()[:2]
    broken = first[:-3] + bytes([first[-3] ^ 1]) + first[-2:]
    rx = cbtpwr.CbtAssembler()
    rx.feed(broken + second)
    out = list(drain(rx))
    assert isinstance(out[0], ProtocolError) and out[-1] == second


def test_a_stray_header_claiming_a_long_frame_does_not_hold_back_the_reply():
    reply = _replies()[1]
    rx = cbtpwr.CbtAssembler()
    rx.feed(b"\xaa\x55\x0b\xf0" + reply)
    assert list(drain(rx)) == [reply]


def test_a_problem_code_names_its_bits():
    replies = [r for r in _replies() if r[2] != cbtpwr.CMD_PROBLEM]
    replies.append(cbtpwr.build_reply(cbtpwr.CMD_PROBLEM, (0x11).to_bytes(4, "little")))
    sample = cbtpwr.decode(replies)
    assert sample.conditions == ("CBT Power problem code bit 0", "CBT Power problem code bit 4")


def test_a_missing_value_group_is_an_error_naming_it():
    with pytest.raises(ProtocolError, match="0x21"):
        cbtpwr.decode([r for r in _replies() if r[2] != cbtpwr.CMD_PROBLEM])


def test_cells_past_the_first_reply_follow_in_order():
    cells = [3.3 + i / 1000 for i in range(12)]
    replies = [r for r in _replies() if r[2] not in cbtpwr.CMD_CELLS]
    replies += [cbtpwr.encode_cells(c, cells) for c in cbtpwr.CMD_CELLS[:3]]
    assert cbtpwr.decode(replies).cell_voltages == pytest.approx(cells)
    assert cbtpwr.cells_of(cbtpwr.encode_cells(0x08, cells)) == []


def test_the_simulator_side_round_trips():
    sample = Sample(voltage=53.12, current=12.5, soc=77, capacity_full=100, cycles=9, temperatures=[21.0],
                    cell_voltages=[3.32] * 16)
    frames = list(cbtpwr.encode_status(sample).values())
    frames += [cbtpwr.encode_cells(c, sample.cell_voltages) for c in cbtpwr.CMD_CELLS]
    got = cbtpwr.decode(frames)
    assert (got.voltage, got.current, got.soc, got.capacity_full, got.cycles, got.temperatures) == (
        53.12, 12.5, 77, 100, 9, [21.0])
    assert got.cell_voltages == pytest.approx([3.32] * 16)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(1, 40), max_size=20))
def test_any_bytes_in_any_pieces_never_raise_anything_but_a_protocol_error(noise, cuts):
    stream = noise[: len(noise) // 2] + b"".join(_replies()) + noise[len(noise) // 2 :]
    frames = frames_in_pieces(cbtpwr.CbtAssembler(), stream, cuts)
    try:
        cbtpwr.decode(frames)
    except ProtocolError:
        pass


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=8))
def test_any_frames_decode_or_raise_a_protocol_error(frames):
    try:
        cbtpwr.decode([b"\xaa\x55" + f for f in frames])
    except ProtocolError:
        pass


VB_CYCLE = load_fixture("cbtpwr_vb.json")["frames"][0]


def _vb_replies() -> list[bytes]:
    return [bytes.fromhex(step["response_hex"]) for step in VB_CYCLE["sequence"]]


def test_vb_requests_are_the_recorded_bytes():
    requests = [bytes.fromhex(step["request_hex"]) for step in VB_CYCLE["sequence"]]
    assert requests == [cbtpwr_vb.STATUS_REQUEST, cbtpwr_vb.CAPACITY_REQUEST]


def test_the_recorded_vb_cycle_decodes_to_the_values_its_source_states():
    expected = VB_CYCLE["expected"]
    sample = decode_frames("cbtpwr_vb", _vb_replies())
    assert sample.cell_voltages == pytest.approx(expected["cell_voltages"])
    assert sample.temperatures == pytest.approx(expected["temp_values"])
    assert (sample.voltage, sample.current, sample.soc, sample.cycles) == (
        expected["voltage"], expected["current"], expected["battery_level"], expected["cycles"])
    assert sample.capacity_full == expected["design_capacity"] and sample.conditions == ()


def test_vb_replies_come_out_of_one_stream_however_it_is_cut_and_a_damaged_one_is_an_error():
    stream = b"~~1" + b"".join(_vb_replies())
    rx = cbtpwr_vb.VbAssembler()
    out = []
    for i in range(0, len(stream), 11):
        rx.feed(stream[i : i + 11])
        out += list(drain(rx))
    assert [f for f in out if isinstance(f, bytes)] == _vb_replies()
    status = _vb_replies()[0]
    rx = cbtpwr_vb.VbAssembler()
    rx.feed(status[:30] + (b"1" if status[30:31] != b"1" else b"2") + status[31:] + _vb_replies()[1])
    out = list(drain(rx))
    assert isinstance(out[0], ProtocolError) and out[-1] == _vb_replies()[1]


def test_a_vb_status_shorter_than_its_counts_is_an_error():
    with pytest.raises(ProtocolError, match="shorter|at least"):
        cbtpwr_vb.decode([cbtpwr_vb.build_frame(cbtpwr_vb.REPLY_VERSION, 0, bytes([16]) + bytes(20))])


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=120))
def test_any_vb_info_decodes_or_raises_a_protocol_error(info):
    try:
        cbtpwr_vb.decode([cbtpwr_vb.build_frame(cbtpwr_vb.REPLY_VERSION, 0, info)])
    except ProtocolError:
        pass
