"""Supervolt (older, ASCII) codec on frames built from its protocol description
(tests/fixtures/supervolt.json: no real capture exists), plus fuzzing."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.model import Sample
from dbus_bms.protocols import supervolt
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.framing import drain
from dbus_bms.protocols.registry import decode_frames

from ..conftest import load_fixture
from .streams import frames_in_pieces

CYCLE, SHORT = load_fixture("supervolt.json")["frames"]
EXAMPLES = 400 if os.environ.get("DBUS_BMS_THOROUGH") else 60


def _replies() -> list[bytes]:
    return [step["response"].encode() for step in CYCLE["sequence"]]


def test_requests_are_the_described_bytes():
    requests = [bytes.fromhex(step["request_hex"]) for step in CYCLE["sequence"]]
    assert requests == [supervolt.REQUEST_REALTIME, supervolt.REQUEST_CAPACITY]


def test_the_frames_decode_to_the_values_they_were_built_with():
    expected = CYCLE["expected"]
    sample = decode_frames("supervolt", _replies())
    assert sample.cell_voltages == pytest.approx(expected["cell_voltages"])
    assert sample.voltage == pytest.approx(sum(expected["cell_voltages"]))
    assert sample.current == expected["current"] and sample.temperatures == [expected["temperature"]]
    assert sample.soc == expected["soc"] and sample.cycles == expected["cycles"]
    assert (sample.charge_enabled, sample.discharge_enabled) == (expected["charge_fet"], expected["discharge_fet"])
    assert (sample.capacity_remaining, sample.capacity_full) == (expected["capacity_remaining"], expected["capacity_full"])
    assert sample.alarms == {} and sample.conditions == ()


def test_a_protection_bit_of_the_working_state_is_an_alarm_in_words():
    sample = supervolt.decode([SHORT["response"].encode()])
    assert sample.alarms == {"HighDischargeCurrent": 2}
    assert sample.conditions == ("short-circuit protection",)
    assert sample.capacity_full is None  # no capacity reply in this poll


def test_replies_come_out_of_one_stream_however_it_is_cut():
    stream = b"x~:" + b"".join(_replies())
    rx = supervolt.SupervoltAssembler()
    out = []
    for i in range(0, len(stream), 20):
        rx.feed(stream[i : i + 20])
        out += list(drain(rx))
    assert [f for f in out if isinstance(f, bytes)] == _replies()


def test_a_damaged_frame_is_an_error_and_the_next_frame_is_read():
    realtime, capacity = _replies()
    rx = supervolt.SupervoltAssembler()
    rx.feed(realtime[:40] + b"G" + realtime[41:] + capacity)
    out = list(drain(rx))
    assert isinstance(out[0], ProtocolError) and out[-1] == capacity
    rx = supervolt.SupervoltAssembler()
    rx.feed(realtime[:60] + realtime[61:])  # a character lost
    assert isinstance(next(drain(rx)), ProtocolError)


def test_without_a_realtime_reply_nothing_is_read():
    with pytest.raises(ProtocolError, match="realtime"):
        supervolt.decode([_replies()[1]])


def test_the_simulator_side_round_trips():
    sample = Sample(current=7.25, soc=88, cycles=4, temperatures=[30.0], cell_voltages=[3.35] * 16,
                    capacity_remaining=88.0, capacity_full=100.0, charge_enabled=True, discharge_enabled=True)
    got = supervolt.decode([supervolt.encode_realtime(sample), supervolt.encode_capacity(sample)])
    assert got.cell_voltages == pytest.approx([3.35] * 16) and got.voltage == pytest.approx(53.6)
    assert (got.current, got.soc, got.cycles, got.temperatures) == (7.25, 88, 4, [30.0])
    assert (got.capacity_remaining, got.capacity_full) == (88.0, 100.0)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(1, 40), max_size=20))
def test_any_bytes_in_any_pieces_never_raise_anything_but_a_protocol_error(noise, cuts):
    stream = noise[: len(noise) // 2] + b"".join(_replies()) + noise[len(noise) // 2 :]
    frames = frames_in_pieces(supervolt.SupervoltAssembler(), stream, cuts)
    try:
        supervolt.decode(frames)
    except ProtocolError:
        pass


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text("0123456789ABCDEF", min_size=126, max_size=126))
def test_any_hex_digits_decode_or_raise_a_protocol_error(digits):
    try:
        supervolt.decode([b":" + digits.encode() + b"~"])
    except ProtocolError:
        pass
