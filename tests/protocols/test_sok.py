"""SOK (ABC-BMS) codec on the emulator frames of tests/fixtures/sok.json, plus fuzzing."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.model import Sample
from dbus_bms.protocols import sok
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.framing import drain
from dbus_bms.protocols.registry import decode_frames

from ..conftest import load_fixture
from .streams import frames_in_pieces

FIXTURE = load_fixture("sok.json")
CYCLE, FIRST_FLAG, LAST_FLAG = FIXTURE["frames"]
EXAMPLES = 400 if os.environ.get("DBUS_BMS_THOROUGH") else 60


def _replies() -> list[bytes]:
    return [bytes.fromhex(h) for step in CYCLE["sequence"] for h in step["response_hex"]]


def test_requests_are_the_recorded_bytes():
    for step in CYCLE["sequence"]:
        request = bytes.fromhex(step["request_hex"])
        assert sok.build_request(request[1]) == request


def test_the_cycle_decodes_to_the_values_its_source_states():
    expected = CYCLE["expected"]
    sample = decode_frames("sok", _replies())
    assert sample.voltage == expected["voltage"] and sample.current == expected["current"]
    assert sample.capacity_full == expected["design_capacity"]
    assert sample.capacity_remaining == pytest.approx(expected["cycle_charge"])
    assert sample.soc == expected["battery_level"] and sample.cycles == expected["cycles"]
    assert sample.cell_voltages == pytest.approx(expected["cell_voltages"])
    assert sample.temperatures == expected["temp_values"]
    assert sample.charge_enabled is expected["chrg_mosfet"] and sample.discharge_enabled is expected["dischrg_mosfet"]
    assert sample.balancing is bool(expected["balancer"])
    assert sample.device.model == expected["model"]
    assert sample.conditions == ()


@pytest.mark.parametrize("frame, flag", [(FIRST_FLAG, 0), (LAST_FLAG, 15)])
def test_a_protection_flag_is_named_by_its_number(frame, flag):
    assert frame["expected"]["problem_code"] == 1 << flag
    sample = sok.decode([*_replies(), bytes.fromhex(frame["response_hex"])])
    assert sample.conditions == (f"SOK protection flag {flag}",)


def test_replies_come_out_of_one_stream_however_it_is_cut():
    stream = b"\x01\xcc\x02" + b"".join(_replies())
    rx = sok.SokAssembler()
    out = []
    for i in range(0, len(stream), 7):
        rx.feed(stream[i : i + 7])
        out += list(drain(rx))
    frames = [f for f in out if isinstance(f, bytes)]
    assert frames == _replies() and rx.discarded_bytes == 3


def test_a_bad_crc_is_an_error_and_the_next_frame_is_read():
    first, second = _replies()[:2]
    rx = sok.SokAssembler()
    rx.feed(first[:5] + bytes([first[5] ^ 4]) + first[6:] + second)
    out = list(drain(rx))
    assert isinstance(out[0], ProtocolError) and out[-1] == second


def test_cells_out_of_order_or_missing_a_number_are_an_error():
    replies = [r for r in _replies() if r[1] != sok.REPLY_CELLS]
    with pytest.raises(ProtocolError, match="cell numbers"):
        sok.decode([*replies, sok.encode_cells([3.3] * 8)[1]])
    with pytest.raises(ProtocolError, match="0xF2"):
        sok.decode([r for r in _replies() if r[1] != sok.REPLY_STATE])


def test_the_simulator_side_round_trips():
    sample = Sample(voltage=53.2, current=-41.5, soc=64, capacity_full=100, capacity_remaining=64, cycles=3,
                    temperatures=[18.0, 19.0], cell_voltages=[3.325] * 16, charge_enabled=False,
                    discharge_enabled=True, balancing=True)
    frames = [sok.encode_status(sample), sok.encode_state(sample), sok.encode_detail(sample),
              *sok.encode_cells(sample.cell_voltages), sok.encode_name("SOK-48V100")]
    got = sok.decode(frames)
    assert (got.voltage, got.current, got.soc, got.capacity_full, got.capacity_remaining, got.cycles) == (
        53.2, -41.5, 64, 100, 64, 3)
    assert got.cell_voltages == pytest.approx([3.325] * 16) and got.temperatures == [18.0, 19.0]
    assert (got.charge_enabled, got.discharge_enabled, got.balancing) == (False, True, True)
    assert got.device.model == "SOK-48V100"


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(1, 30), max_size=20))
def test_any_bytes_in_any_pieces_never_raise_anything_but_a_protocol_error(noise, cuts):
    stream = noise[: len(noise) // 2] + b"".join(_replies()) + noise[len(noise) // 2 :]
    frames = frames_in_pieces(sok.SokAssembler(), stream, cuts)
    try:
        sok.decode(frames)
    except ProtocolError:
        pass


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.binary(min_size=17, max_size=17), max_size=8), st.sampled_from([0xF0, 0xF2, 0xF3, 0xF4, 0xF9]))
def test_any_well_framed_data_decodes_or_raises_a_protocol_error(datas, kind):
    try:
        sok.decode([*_replies()[:3], *(sok.build_reply(kind, d) for d in datas)])
    except ProtocolError:
        pass
