"""NEEY / Heltec balancer codec on the recorded frames of tests/fixtures/neey_heltec_balancer.json,
with the values their sources state, plus fuzzing of the assembler and the decoders."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.protocols import neey
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.framing import drain
from dbus_bms.protocols.registry import decode_frames

from ..conftest import load_fixture

FIXTURE = load_fixture("neey_heltec_balancer.json")
FRAMES = {f["id"]: f for f in FIXTURE["frames"]}
V1 = FRAMES["aiobmsble-neey_balancer-update-v1-keep-alive"]
V2 = FRAMES["aiobmsble-neey_balancer-update-v2-keep-alive"]
EK24 = FRAMES["esphome-heltec_balancer_ble-frames_ek-24s4eb-CELL_INFO_FRAME"]
GW24 = FRAMES["esphome-heltec_balancer_ble-frames_gw-24s4eb-CELL_INFO_FRAME"]
EKB_CELLS = FRAMES["esphome-heltec_balancer_ble-frames_ek-b24s8e200a-CELL_INFO_FRAME"]
EKB_SETTINGS = FRAMES["esphome-heltec_balancer_ble-frames_ek-b24s8e200a-SETTINGS_FRAME"]
EXAMPLES = 400 if os.environ.get("DBUS_BMS_THOROUGH") else 60


def _assembled(chunks: list[str]) -> list[bytes]:
    asm = neey.FrameAssembler()
    out: list[bytes] = []
    for chunk in chunks:
        asm.feed(bytes.fromhex(chunk))
        out += [f for f in drain(asm) if isinstance(f, bytes)]
    return out


def _poll(case: dict) -> list[bytes]:
    """Every frame of the case's update sequence, reassembled from its recorded notifications."""
    return [frame for step in case["sequence"] for frame in _assembled(step["chunks_hex"])]


def test_requests_are_the_recorded_bytes():
    for case in (V1, V2):
        requests = [step["request_hex"] for step in case["sequence"]]
        assert requests == [neey.build_request(neey.TYPE_DEVICE_INFO).hex(), neey.build_request(neey.TYPE_CELL_INFO).hex()]


def test_balancer_switch_write_is_register_0x0d_with_a_valid_sum():
    on, off = neey.build_switch(True), neey.build_switch(False)
    assert on[:8] == bytes.fromhex("aa551100050d1400") and on[8] == 1 and off[8] == 0
    for frame in (on, off):
        assert len(frame) == 20 and frame[-1] == 0xFF and frame[-2] == sum(frame[:-2]) & 0xFF


@pytest.mark.parametrize("case", [V1, V2], ids=["v1", "v2"])
def test_an_update_gives_the_values_aiobmsble_states(case):
    frames = _poll(case)
    info = neey.decode_device_info(next(f for f in frames if f[4] == neey.TYPE_DEVICE_INFO))
    sample = neey.decode(*frames, layout=neey.layout_for_model(info.model))
    want = case["expected"]
    assert sample.voltage == pytest.approx(want["voltage"], abs=0.001)
    # aiobmsble rounds the float32 to mV, we to 0.1 mV: within half a mV and our rounding.
    assert sample.cell_voltages == pytest.approx(want["cell_voltages"], abs=0.00051)
    assert len(sample.cell_voltages) == want["cell_count"]
    assert sample.balancing is want["balancer"]
    assert sample.temperatures == pytest.approx(want["temp_values"][:2], abs=0.01)
    if "current" in want:
        assert sample.current == pytest.approx(want["current"], abs=0.001)
        assert sample.soc == pytest.approx(want["battery_level"], abs=0.01)
        assert sample.capacity_remaining == pytest.approx(want["cycle_charge"], abs=0.001)
        assert sample.capacity_full == want["design_capacity"]
        assert sample.power == pytest.approx(want["power"], abs=0.01)
        assert sample.mosfet_temperature == pytest.approx(want["temp_values"][2], abs=0.01)
    else:
        assert sample.current is None and sample.soc is None


def test_the_device_info_names_model_and_versions_and_picks_the_layout():
    v1 = _poll(V1)[0]
    assert neey.decode_device_info(v1) == neey.DeviceInfo(model="GW-24S4EB", hw_version="HW-2.8.0", sw_version="ZH-1.2.3")
    assert neey.layout_for_model("GW-24S4EB") == "v1"
    assert neey.layout_for_model(neey.decode_device_info(_poll(V2)[0]).model) == "v2"


@pytest.mark.parametrize("case", [EK24, GW24, EKB_CELLS], ids=["ek-24s4eb", "gw-24s4eb", "ek-b24s8e200a"])
def test_cell_info_frames_give_the_values_esphome_states(case):
    layout = "v2" if case is EKB_CELLS else "v1"
    info = neey.decode_cell_info(bytes.fromhex(case["response_hex"]), layout)
    want = case["expected"]
    s = info.sample
    assert s.cell_voltages[0] == pytest.approx(want["cell_voltage_1"], abs=0.0005)
    assert len(s.cell_voltages) == 16  # cell_voltage_17 = 0: an empty slot
    assert s.voltage == pytest.approx(want["total_voltage"], abs=0.01)
    assert s.balancing is want["balancing"]
    assert s.conditions == (want["operation_status"].lower().replace(" - ", ", "),)
    assert s.temperatures == pytest.approx([want["temperature_sensor_1"], want["temperature_sensor_2"]], abs=0.01)
    if "cell_resistance_1" in want:
        assert info.sample.cell_resistances[0] == pytest.approx(want["cell_resistance_1"], abs=0.00001)
    if "min_cell_voltage" in want:
        assert min(s.cell_voltages) == pytest.approx(want["min_cell_voltage"], abs=0.0005)
        assert max(s.cell_voltages) == pytest.approx(want["max_cell_voltage"], abs=0.0005)


def test_the_150_byte_settings_frame_gives_cells_capacity_and_balance_thresholds_but_no_switch():
    got = neey.decode_settings(bytes.fromhex(EKB_SETTINGS["response_hex"]))
    want = EKB_SETTINGS["expected"]
    assert got.settings.cell_count == want["cell_count_number"]
    assert got.settings.nominal_capacity == want["nominal_battery_capacity_number"]
    assert got.settings.balance_trigger_voltage == pytest.approx(want["balance_trigger_voltage_number"])
    assert got.settings.balance_start_voltage == pytest.approx(want["balance_start_voltage_number"])
    assert got.balancer_on is None


def test_the_100_byte_settings_frame_carries_the_switch():
    frame = neey.blank_reply(neey.TYPE_SETTINGS, neey.SETTINGS_V1_LEN)
    frame[8], frame[21] = 16, 0
    assert neey.decode_settings(neey.seal(frame)).balancer_on is False
    frame[21] = 1
    assert neey.decode_settings(neey.seal(frame)).balancer_on is True


def test_junk_and_corrupt_frames_are_dropped_and_the_stream_resyncs():
    good = bytes.fromhex(V1["response_hex"])
    bad = bytearray(good)
    bad[50] ^= 0x01
    asm = neey.FrameAssembler()
    asm.feed(b"AT\r\n" + bytes(bad) + b"AT\r\n" + good)
    items = list(drain(asm))
    assert isinstance(items[0], ProtocolError)
    assert items[-1] == good
    assert asm.discarded_bytes >= 8


def test_a_frame_that_is_not_what_it_claims_is_refused():
    frame = bytearray(bytes.fromhex(V1["response_hex"]))
    frame[9 + 4 * 20 : 9 + 4 * 21] = bytes.fromhex("e7fa5040")  # a voltage after the empty slots
    with pytest.raises(ProtocolError, match="not empty"):
        neey.decode_cell_info(neey.seal(frame))
    with pytest.raises(ProtocolError):
        neey.decode_cell_info(bytes.fromhex(V1["response_hex"])[:-1])
    with pytest.raises(ProtocolError, match="no cell info"):
        neey.decode(_poll(V1)[0])


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=700), st.lists(st.integers(1, 64), max_size=30))
def test_any_byte_stream_in_any_chunking_never_crashes(data, cuts):
    stream = data + bytes.fromhex(V2["response_hex"])
    asm = neey.FrameAssembler()
    frames = []
    at = 0
    for cut in [*cuts, len(stream)]:
        asm.feed(stream[at : at + cut])
        at += cut
        for item in drain(asm):
            if isinstance(item, bytes):
                frames.append(item)
    asm.feed(stream[at:])
    frames += [f for f in drain(asm) if isinstance(f, bytes)]
    for frame in frames:
        for layout in neey.LAYOUTS:
            try:
                neey.decode(frame, layout=layout)
            except ProtocolError:
                pass
    assert bytes.fromhex(V2["response_hex"]) in frames


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(min_size=300, max_size=300))
def test_any_300_bytes_decode_or_raise_protocol_error(body):
    frame = bytearray(neey.blank_reply(neey.TYPE_CELL_INFO, neey.CELL_INFO_LEN))
    frame[8:298] = body[8:298]
    for layout in neey.LAYOUTS:
        try:
            neey.decode_cell_info(neey.seal(frame), layout)
        except ProtocolError:
            pass


def test_decode_picks_the_cell_info_tail_from_the_device_info():
    # `dbus-bms decode --protocol neey`: an EK-B balancer's cell info has the tail with the pack's
    # capacity and SoC, which only its device info (its model) tells apart.
    frames = {f["id"].rsplit("-", 1)[-1]: bytes.fromhex(f["response_hex"]) for f in FIXTURE["frames"]
              if f["id"].startswith("esphome-heltec_balancer_ble-frames_ek-b24s8e200a")}
    sample = decode_frames("neey", [frames["DEVICE_INFO_FRAME"], frames["CELL_INFO_FRAME"]])
    assert sample.voltage == pytest.approx(52.4, abs=0.01)
    assert sample.capacity_remaining == pytest.approx(177.4, abs=0.05) and sample.capacity_full == 320.0
    assert sample.device.model == "EK-B24S8E200A"
    assert decode_frames("neey", [frames["CELL_INFO_FRAME"]]).capacity_full is None  # without it: the plain tail
