"""JBD UP series codec on the two status replies of tests/fixtures/jbd_up_modbus.json, the alarm
words, and fuzzing.

The source states no decoded values for these frames: the values below are what the frames carry
by the protocol's layout (the comment above each frame in its source reads them the same way).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.model import ALARM_ALARM, ALARM_WARNING, Sample
from dbus_bms.protocols import jbd_up
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.framing import drain
from dbus_bms.protocols.registry import decode_frames

from ..conftest import load_fixture

FRAMES = {f["id"]: f for f in load_fixture("jbd_up_modbus.json")["frames"]}
# source: syssi/esphome-jbd-bms tests/components/jbd_bms_up/frames.h
PACK1 = FRAMES["esphome-jbd_bms_up-frames-PACK_STATUS_RESPONSE"]
PACK2 = FRAMES["esphome-jbd_bms_up-frames-PACK_STATUS_RESPONSE_ADDR2"]
_THOROUGH = os.environ.get("DBUS_BMS_THOROUGH") == "1"
FUZZ = settings(max_examples=500 if _THOROUGH else 40, derandomize=not _THOROUGH, deadline=None)


def _status(f: dict) -> jbd_up.Status:
    rx = jbd_up.UpAssembler()
    frame = bytes.fromhex(f["response_hex"])
    rx.feed(frame)
    assert rx.next_frame() == frame and rx.discarded_bytes == 0
    return jbd_up.decode_status(jbd_up.status_data(frame, f["expected_from_comment"]["addr"]))


def test_the_status_of_pack_1():
    s = _status(PACK1)
    assert (s.voltage, s.current, s.soc, s.capacity_remaining, s.capacity_full) == (53.17, 0.0, 60.95, 60.95, 100.0)
    assert (s.mosfet_temperature, s.ambient_temperature, s.soh, s.cycles) == (21.0, 22.6, 100.0, 12)
    assert s.cells == [3.326, 3.318, 3.331, 3.318, 3.320, 3.323, 3.328, 3.317,
                       3.324, 3.323, 3.326, 3.323, 3.324, 3.325, 3.325, 3.322]
    # The extremes the status names (cell 3 highest, cell 8 lowest) are the cells' own.
    assert (s.cells.index(max(s.cells)) + 1, max(s.cells), s.cells.index(min(s.cells)) + 1, min(s.cells)) == (3, 3.331, 8, 3.317)
    assert s.temperatures == [20.9, 20.4, 21.0, 21.2]
    assert (s.charge_enabled, s.discharge_enabled, s.found.alarms, s.found.conditions) == (True, True, {}, [])
    assert s.model == "JBD48100000"


def test_the_status_of_pack_2_at_its_own_address():
    s = _status(PACK2)
    assert (s.voltage, s.soc, s.capacity_remaining, s.cycles) == (53.21, 73.0, 73.27, 2)
    assert (s.mosfet_temperature, s.ambient_temperature) == (21.4, 23.0)
    assert (s.cells.index(max(s.cells)) + 1, max(s.cells), s.cells.index(min(s.cells)) + 1, min(s.cells)) == (4, 3.329, 1, 3.322)
    frame = bytes.fromhex(PACK2["response_hex"])
    with pytest.raises(ProtocolError, match="not a status reply of pack 1"):
        jbd_up.status_data(frame, 1)


def test_requests_and_the_decode_registry():
    request = jbd_up.build_status_request(2)
    assert request[:8].hex() == "0278100010a00000"
    assert jbd_up.parse_frame(request).data == b""
    sample = decode_frames("jbd_up", [request, bytes.fromhex(PACK2["response_hex"])])
    assert sample.voltage == 53.21 and len(sample.cell_voltages) == 16 and sample.device.model == "JBD48100000"
    with pytest.raises(ProtocolError, match="no pack status reply"):
        decode_frames("jbd_up", [request])


def test_every_protection_and_alarm_bit_raises_its_alarm():
    for table, at in ((jbd_up.PROTECTIONS, 24), (jbd_up.ALARMS, 28)):
        for bit, entry in table.bits.items():
            data = bytearray(jbd_up.encode_status(Sample(voltage=52.0, cell_voltages=[3.25] * 16)))
            data[at : at + 4] = (1 << bit).to_bytes(4, "big")
            s = jbd_up.decode_status(bytes(data))
            assert s.found.conditions == [entry.text]
            assert s.found.alarms == ({entry.alarm: entry.level} if entry.alarm else {})
    assert jbd_up.PROTECTIONS.bits[0].level == ALARM_ALARM and jbd_up.ALARMS.bits[0].level == ALARM_WARNING


def test_round_trip_through_the_encoder():
    sample = Sample(voltage=51.2, current=-23.45, soc=40.5, soh=97.0, capacity_remaining=40.1, capacity_full=99.0, cycles=33,
                    cell_voltages=[3.2] * 15 + [3.21], temperatures=[18.5, -3.0], mosfet_temperature=27.5,
                    charge_enabled=False, discharge_enabled=True)
    got = jbd_up.decode(jbd_up.encode_status(sample, model="UP16S015"))
    for name in ("voltage", "current", "soc", "soh", "capacity_remaining", "capacity_full", "cycles", "cell_voltages",
                 "temperatures", "mosfet_temperature", "charge_enabled", "discharge_enabled"):
        assert getattr(got, name) == getattr(sample, name), name
    assert got.device.model == "UP16S015"


def test_frames_are_found_behind_an_echo_noise_and_across_splits_and_a_flipped_bit_is_never_one():
    request = jbd_up.build_status_request(1)
    reply = bytes.fromhex(PACK1["response_hex"])
    stream = b"\x00\xff" + request + b"\x55" + reply
    for split in range(1, len(stream), 7):
        rx = jbd_up.UpAssembler()
        items = []
        for part in (stream[:split], stream[split:]):
            rx.feed(part)
            items += list(drain(rx))
        assert [i for i in items if isinstance(i, bytes)] == [request, reply]
        assert rx.discarded_bytes == 3
    for at in range(0, len(reply), 5):
        damaged = bytearray(reply)
        damaged[at] ^= 0x08
        rx = jbd_up.UpAssembler()
        rx.feed(bytes(damaged))
        assert reply not in [i for i in drain(rx) if isinstance(i, bytes)]


def test_impossible_contents_are_protocol_errors():
    data = bytearray(bytes.fromhex(PACK1["response_hex"])[8:-2])
    data[jbd_up.CELLS_AT : jbd_up.CELLS_AT + 2] = (40).to_bytes(2, "big")
    with pytest.raises(ProtocolError, match="40 cells"):
        jbd_up.decode_status(bytes(data))
    with pytest.raises(ProtocolError, match="too short"):
        jbd_up.decode_status(bytes(20))
    with pytest.raises(ValueError, match="not 1-15"):
        jbd_up.build_status_request(0)


@FUZZ
@given(st.binary(max_size=400), st.lists(st.integers(1, 64), max_size=8))
def test_any_bytes_in_any_chunks_give_frames_or_protocol_errors(data, cuts):
    rx = jbd_up.UpAssembler()
    at = 0
    for n in [*cuts, len(data)]:
        rx.feed(data[at : at + n])
        at += n
        for item in drain(rx):
            if isinstance(item, bytes):
                try:
                    jbd_up.decode_replies([item])
                except ProtocolError:
                    pass
    assert len(rx.buf) < jbd_up.HEAD + jbd_up.MAX_DATA + 2


@FUZZ
@given(st.binary(min_size=0, max_size=250))
def test_any_status_data_decodes_or_raises_a_protocol_error(data):
    try:
        sample = jbd_up.decode(data)
    except ProtocolError:
        return
    assert 1 <= len(sample.cell_voltages) <= 32
