"""Seplos v2 codec on the frames of tests/fixtures/seplos_v2.json, every alarm bit, and fuzzing."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.model import ALARM_ALARM, ALARM_WARNING, Sample
from dbus_bms.protocols import seplos
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.framing import drain
from dbus_bms.protocols.registry import decode_frames

from ..conftest import load_fixture

FRAMES = {f["id"]: f for f in load_fixture("seplos_v2.json")["frames"]}
TELEMETRY = FRAMES["esphome-seplos-emulator-4642"]  # source: syssi/esphome-seplos-bms esp8266-seplos-emulator.yaml
ALARMS = FRAMES["esphome-seplos-emulator-4644"]  # same source
NAME = FRAMES["esphome-seplos-readme-4651-3"]  # source: syssi/esphome-seplos-bms README.md, a TX/RX capture
_THOROUGH = os.environ.get("DBUS_BMS_THOROUGH") == "1"
FUZZ = settings(max_examples=500 if _THOROUGH else 40, derandomize=not _THOROUGH, deadline=None)


def _frame(hex_text: str) -> bytes:
    asm = seplos.SeplosAssembler()
    asm.feed(bytes.fromhex(hex_text))
    frame = asm.next_frame()
    assert frame is not None and asm.next_frame() is None
    return frame


def _info(hex_text: str) -> bytes:
    return seplos.reply_info(_frame(hex_text))


def test_requests_are_the_recorded_bytes():
    assert seplos.TELEMETRY_REQUEST.hex() == TELEMETRY["request_hex"]
    assert seplos.ALARMS_REQUEST.hex() == ALARMS["request_hex"]
    assert seplos.DEVICE_NAME_REQUEST.hex() == NAME["request_hex"]
    for f in FRAMES.values():
        if f.get("request_ascii"):
            request = _frame(f["request_hex"])
            assert seplos.build_frame(seplos.parse_frame(request).cid2, seplos.parse_frame(request).info) == request


def test_telemetry_frame_decodes_every_field():
    # The esphome source decodes this layout field by field in a comment over a capture that
    # differs from this frame only in some cells and the current; those values are the frame's own.
    t = seplos.decode_info(_info(TELEMETRY["response_hex"]))
    assert isinstance(t, seplos.Telemetry)
    assert t.cells == [3.288, 3.304, 3.316, 3.287, 3.310, 3.301, 3.297, 3.293,
                       3.305, 3.312, 3.304, 3.311, 3.307, 3.290, 3.294, 3.289]
    assert t.cell_temperatures == [25.1, 24.5, 23.6, 25.1]
    assert (t.ambient_temperature, t.mosfet_temperature) == (25.0, 24.7)
    assert t.current == -6.54  # FD72: discharging, negative as Victron counts it
    assert t.voltage == 52.80
    assert t.capacity_remaining == 133.86
    assert t.capacity_full == 170.00
    assert t.soc == 78.7
    assert t.rated_capacity == 180.00
    assert t.cycles == 70
    assert t.soh == 100.0


def test_alarm_frame_has_no_alarm_and_both_fets_on():
    a = seplos.decode_info(_info(ALARMS["response_hex"]))
    assert isinstance(a, seplos.Alarms)
    assert a.found.alarms == {} and a.found.conditions == []
    assert a.charge_enabled and a.discharge_enabled
    assert a.balance == 0


def test_device_name_capture():
    d = seplos.decode_info(_info(NAME["response_hex"]))
    assert d == seplos.DeviceName("1101-SP15", "2.7", "CANProtocol:Sofar")


def test_one_poll_through_the_decode_registry():
    s = decode_frames("seplos", [bytes.fromhex(f[k]) for f in (NAME, TELEMETRY, ALARMS)
                                 for k in ("request_hex", "response_hex")])
    assert s.voltage == 52.80 and s.current == -6.54 and s.power == pytest.approx(-345.312)
    assert s.soc == 78.7 and s.soh == 100.0 and s.cycles == 70
    assert s.capacity_remaining == 133.86 and s.capacity_full == 170.0
    assert len(s.cell_voltages) == 16 and s.cell_balancing == [False] * 16 and s.balancing is False
    assert s.temperatures == [25.1, 24.5, 23.6, 25.1] and s.mosfet_temperature == 24.7
    assert (s.charge_enabled, s.discharge_enabled) == (True, True)
    assert s.alarms == {} and s.conditions == ()
    assert (s.device.model, s.device.sw_version, s.device.serial) == ("1101-SP15", "2.7", None)


def test_telemetry_alone_has_no_alarm_state():
    s = decode_frames("seplos", [bytes.fromhex(TELEMETRY["response_hex"])])
    assert s.conditions is None and s.charge_enabled is None and s.device is None


def test_reply_without_telemetry_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="no telemetry"):
        decode_frames("seplos", [bytes.fromhex(ALARMS["response_hex"])])
    empty = FRAMES["esphome-seplos-emulator-464F"]["response_hex"]  # a reply with no INFO
    with pytest.raises(ProtocolError, match="fits no known layout"):
        decode_frames("seplos", [bytes.fromhex(empty)])


def test_refusal_names_the_return_code():
    with pytest.raises(ProtocolError, match="0x04 command not supported"):
        seplos.reply_info(seplos.build_frame(0x04))
    with pytest.raises(ProtocolError, match="address 3"):
        seplos.reply_info(seplos.build_frame(0x00, b"\x00", address=3))


def test_frames_are_found_between_garbage_and_across_splits():
    good = bytes.fromhex(TELEMETRY["response_hex"])
    stream = b"\x00~2\r~zz" + good + b"noise~~" + good
    asm = seplos.SeplosAssembler()
    found = []
    for i in range(0, len(stream), 7):
        asm.feed(stream[i : i + 7])
        found += [f for f in drain(asm) if isinstance(f, bytes)]
    assert found == [good, good]
    assert asm.discarded_bytes >= 10


@pytest.mark.parametrize("at", [3, 12, 40, -3])
def test_a_changed_character_is_a_protocol_error(at):
    good = bytearray(bytes.fromhex(TELEMETRY["response_hex"]))
    good[at] = ord("7") if good[at] != ord("7") else ord("8")
    asm = seplos.SeplosAssembler()
    asm.feed(bytes(good))
    with pytest.raises(ProtocolError):
        asm.next_frame()


W, A = ALARM_WARNING, ALARM_ALARM
# The documented table (docs/bms-seplos.md), written out here rather than read from the codec:
# (event, bit) → (text, Victron alarm or None, level).
EVENT_BITS = {
    (1, 0): ("voltage sensor fault", "InternalFailure", A),
    (1, 1): ("temperature sensor fault", "InternalFailure", A),
    (1, 2): ("current sensor fault", "InternalFailure", A),
    (1, 3): ("key switch fault", "InternalFailure", A),
    (1, 4): ("cell voltage dropout fault", "InternalFailure", A),
    (1, 5): ("charge switch fault", "InternalFailure", A),
    (1, 6): ("discharge switch fault", "InternalFailure", A),
    (1, 7): ("current limit switch fault", "InternalFailure", A),
    (2, 0): ("cell high voltage alarm", "HighCellVoltage", W),
    (2, 1): ("cell over-voltage protection", "HighCellVoltage", A),
    (2, 2): ("cell low voltage alarm", "LowCellVoltage", W),
    (2, 3): ("cell under-voltage protection", "LowCellVoltage", A),
    (2, 4): ("pack high voltage alarm", "HighVoltage", W),
    (2, 5): ("pack over-voltage protection", "HighVoltage", A),
    (2, 6): ("pack low voltage alarm", "LowVoltage", W),
    (2, 7): ("pack under-voltage protection", "LowVoltage", A),
    (3, 0): ("charge high temperature alarm", "HighChargeTemperature", W),
    (3, 1): ("charge over-temperature protection", "HighChargeTemperature", A),
    (3, 2): ("charge low temperature alarm", "LowChargeTemperature", W),
    (3, 3): ("charge under-temperature protection", "LowChargeTemperature", A),
    (3, 4): ("discharge high temperature alarm", "HighTemperature", W),
    (3, 5): ("discharge over-temperature protection", "HighTemperature", A),
    (3, 6): ("discharge low temperature alarm", "LowTemperature", W),
    (3, 7): ("discharge under-temperature protection", "LowTemperature", A),
    (4, 0): ("ambient high temperature alarm", "HighTemperature", W),
    (4, 1): ("ambient over-temperature protection", "HighTemperature", A),
    (4, 2): ("ambient low temperature alarm", "LowTemperature", W),
    (4, 3): ("ambient under-temperature protection", "LowTemperature", A),
    (4, 4): ("power stage over-temperature protection", "HighInternalTemperature", A),
    (4, 5): ("power stage high temperature alarm", "HighInternalTemperature", W),
    (4, 6): ("cell heating at low temperature", None, 0),
    (4, 7): ("reserved alarm bit 7", None, 0),
    (5, 0): ("charge over-current alarm", "HighChargeCurrent", W),
    (5, 1): ("charge over-current protection", "HighChargeCurrent", A),
    (5, 2): ("discharge over-current alarm", "HighDischargeCurrent", W),
    (5, 3): ("discharge over-current protection", "HighDischargeCurrent", A),
    (5, 4): ("transient over-current protection", "HighCurrent", A),
    (5, 5): ("output short-circuit protection", "HighCurrent", A),
    (5, 6): ("transient over-current lockout", "HighCurrent", A),
    (5, 7): ("output short-circuit lockout", "HighCurrent", A),
    (6, 0): ("charge high voltage protection", "HighVoltage", A),
    (6, 1): ("waiting for intermittent recharge", None, 0),
    (6, 2): ("remaining capacity alarm", "LowSoc", W),
    (6, 3): ("remaining capacity protection", "LowSoc", A),
    (6, 4): ("charging forbidden: cell voltage too low", "LowCellVoltage", A),
    (6, 5): ("output reverse polarity protection", "InternalFailure", A),
    (6, 6): ("output connection fault", "InternalFailure", A),
    (7, 4): ("waiting for automatic charging", None, 0),
    (7, 5): ("waiting for manual charging", None, 0),
    (8, 0): ("EEPROM storage fault", "InternalFailure", A),
    (8, 1): ("real-time clock error", "InternalFailure", W),
    (8, 2): ("voltage calibration not done", "InternalFailure", W),
    (8, 3): ("current calibration not done", "InternalFailure", W),
    (8, 4): ("zero point calibration not done", "InternalFailure", W),
}
# Where each event byte lies among the custom fields of the recorded 0x44 reply (15 cells, 6 sensors).
_CUSTOM = 3 + 15 + 1 + 6 + 3
EVENT_OFFSET = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 12, 8: 13}


def _alarm_info(**bytes_at: int) -> bytes:
    """The recorded 0x44 INFO with bytes changed (``at<offset>=value``)."""
    info = bytearray(_info(ALARMS["response_hex"]))
    for key, value in bytes_at.items():
        info[int(key[2:])] = value
    return bytes(info)


@pytest.mark.parametrize("event, bit", sorted(EVENT_BITS))
def test_every_event_bit_in_the_recorded_alarm_reply(event, bit):
    text, alarm, level = EVENT_BITS[(event, bit)]
    a = seplos.decode_info(_alarm_info(**{f"at{_CUSTOM + EVENT_OFFSET[event]}": 1 << bit}))
    assert a.found.conditions == [text]
    assert a.found.alarms == ({alarm: level} if alarm else {})


@pytest.mark.parametrize("event, internal", [(6, 0x80), (7, 0xCF), (8, 0xE0)])
def test_internal_bits_raise_nothing(event, internal):
    a = seplos.decode_info(_alarm_info(**{f"at{_CUSTOM + EVENT_OFFSET[event]}": internal}))
    assert a.found.conditions == [] and a.found.alarms == {}


def test_cell_protection_names_the_cells_the_reply_flags():
    # Cell 3 above its upper limit, cell 9 below its lower one, with both protections set.
    a = seplos.decode_info(_alarm_info(at5=0x02, at11=0x01, **{f"at{_CUSTOM + 1}": 0x0A}))
    assert a.found.conditions[:2] == ["cell over-voltage protection, cell 3", "cell under-voltage protection, cell 9"]
    assert "cell voltage below its lower limit, cell 9" in a.found.conditions
    assert "cell voltage above its upper limit, cell 3" in a.found.conditions
    assert a.found.alarms == {"HighCellVoltage": A, "LowCellVoltage": A}


def test_disconnected_wires_switches_and_balancing():
    a = seplos.decode_info(_alarm_info(**{f"at{_CUSTOM + 10}": 0x01, f"at{_CUSTOM + 11}": 0x80,
                                          f"at{_CUSTOM + 6}": 0x00, f"at{_CUSTOM + 7}": 0x05,
                                          f"at{_CUSTOM + 8}": 0x01}))
    assert a.found.conditions == ["cell 1 wire disconnected", "cell 16 wire disconnected"]
    assert a.found.alarms == {"InternalFailure": A}
    assert not a.charge_enabled and not a.discharge_enabled
    assert a.balance == 0x0105


def test_sensor_and_current_states_are_conditions():
    a = seplos.decode_info(_alarm_info(at19=0x02, at24=0xF0, at25=0x02, at26=0x01))
    assert a.found.conditions == ["temperature above its upper limit, sensor 1", "temperature faulty, sensor 6",
                                  "current above its upper limit", "pack voltage below its lower limit"]


samples = st.builds(
    Sample,
    voltage=st.integers(0, 65535).map(lambda v: v / 100),
    current=st.integers(-32768, 32767).map(lambda v: v / 100),
    soc=st.integers(0, 1000).map(lambda v: v / 10),
    soh=st.integers(0, 1000).map(lambda v: v / 10),
    capacity_remaining=st.integers(0, 65535).map(lambda v: v / 100),
    capacity_full=st.integers(1, 65535).map(lambda v: v / 100),
    cycles=st.integers(0, 65535),
    cell_voltages=st.lists(st.integers(2000, 4300).map(lambda v: v / 1000), min_size=1, max_size=16),
    cell_balancing=st.none(),
    temperatures=st.lists(st.integers(-400, 1000).map(lambda v: v / 10), min_size=1, max_size=4),
    mosfet_temperature=st.integers(-400, 1000).map(lambda v: v / 10),
    charge_enabled=st.booleans(),
    discharge_enabled=st.booleans(),
    alarms=st.sampled_from([{}, {"HighCellVoltage": 2}, {"LowSoc": 1, "InternalFailure": 2}, {"HighTemperature": 1}]),
)


@FUZZ
@given(samples)
def test_encode_then_decode_is_the_identity(sample):
    frames = [seplos.build_frame(0, seplos.encode_telemetry(sample)), seplos.build_frame(0, seplos.encode_alarms(sample))]
    back = seplos.decode_replies(frames)
    for name in ("voltage", "current", "soc", "soh", "capacity_remaining", "capacity_full", "cycles",
                 "cell_voltages", "temperatures", "mosfet_temperature", "charge_enabled", "discharge_enabled", "alarms"):
        assert getattr(back, name) == getattr(sample, name), name


@FUZZ
@given(st.binary(max_size=400), st.lists(st.integers(1, 64), max_size=20), st.booleans())
def test_any_bytes_in_any_chunks_only_ever_raise_protocol_error(data, cuts, framed):
    if framed:  # garbage inside well-formed frames reaches the INFO decoders too
        data = seplos.build_frame(0, data[:200]) + data[200:]
    asm = seplos.SeplosAssembler()
    pos = 0
    for cut in [*cuts, len(data)]:
        asm.feed(data[pos : pos + cut])
        pos += cut
        for frame in drain(asm):
            if isinstance(frame, bytes):
                try:
                    seplos.decode_replies([frame])
                except ProtocolError:
                    pass


@FUZZ
@given(st.binary(max_size=300), st.one_of(st.none(), st.binary(max_size=100)), st.one_of(st.none(), st.binary(max_size=40)))
def test_decode_of_arbitrary_info_only_raises_protocol_error(telemetry, alarms, name):
    for call in (lambda: seplos.decode(telemetry, alarms, name), lambda: seplos.decode_info(telemetry),
                 lambda: seplos.parse_frame(telemetry)):
        try:
            call()
        except ProtocolError:
            pass


BLE = FRAMES["aiobmsble-seplos_v2-update-keep-alive"]  # source: patman15/aiobmsble test_seplos_v2_bms.py
SINGLE = FRAMES["esphome-seplos_bms_ble-frames-SINGLE_MACHINE_FRAME"]  # source: syssi/esphome-seplos-bms frames.h


def test_binary_form_pack_telemetry_matches_every_stated_value():
    # The notifications of one update, in their recorded pieces: the 0x42 layout inside 0x61.
    chunks = [bytes.fromhex(c) for step in BLE["sequence"] for c in (step["request_hex"], *step["chunks_hex"])]
    s = decode_frames("seplos_ble", chunks)
    e = BLE["expected"]
    assert len(s.cell_voltages) == e["cell_count"] and s.cell_voltages == e["cell_voltages"]
    assert len(s.temperatures) + 2 == e["temp_sensors"]
    # The source types the sensors CELL x4, AMBIENT, MOSFET: the last two are not cell temperatures.
    assert e["temp_value_types"] == ["CELL"] * 4 + ["AMBIENT", "MOSFET"]
    assert s.temperatures == e["temp_values"][:4] and s.mosfet_temperature == e["temp_values"][5]
    assert s.voltage == e["voltage"] and s.current == e["current"]  # charging, positive
    assert s.capacity_remaining == e["cycle_charge"]
    assert s.capacity_full == e["design_capacity"]
    assert s.soc == e["battery_level"] and s.soh == e["battery_health"]
    assert s.cycles == e["cycles"]
    assert s.power == pytest.approx(e["power"])


def test_binary_form_single_pack_payload_matches_every_stated_value():
    payload = bytes.fromhex(SINGLE["payload_hex"])  # no CRC in the source: decoded from its INFO
    s = seplos.decode(payload[7 : 7 + struct.unpack_from(">H", payload, 5)[0]])
    e = SINGLE["expected"]
    assert s.cell_voltages == [e[f"cell_voltage_{i}"] for i in range(1, 9)]
    assert s.temperatures == [e["temperature_1"], e["temperature_2"]]
    assert s.mosfet_temperature == e["mosfet_temperature"]
    assert s.current == e["current"] and s.voltage == e["total_voltage"] and s.power == e["power"]
    assert s.capacity_remaining == e["capacity_remaining"] and s.capacity_full == e["battery_capacity"]
    assert s.soc == e["state_of_charge"] and s.soh == e["state_of_health"] and s.cycles == e["charging_cycles"]


def test_binary_frame_with_a_bad_crc_is_a_protocol_error():
    frame = bytearray(bytes.fromhex(BLE["response_hex"]))
    frame[20] ^= 0x01
    asm = seplos.BinaryAssembler()
    asm.feed(bytes(frame))
    with pytest.raises(ProtocolError, match="CRC"):
        asm.next_frame()


@FUZZ
@given(st.binary(max_size=400), st.lists(st.integers(1, 64), max_size=20))
def test_binary_form_any_bytes_only_ever_raise_protocol_error(data, cuts):
    asm = seplos.BinaryAssembler()
    pos = 0
    for cut in [*cuts, len(data)]:
        asm.feed(data[pos : pos + cut])
        pos += cut
        for frame in drain(asm):
            if isinstance(frame, bytes):
                try:
                    seplos.decode_binary_replies([frame])
                except ProtocolError:
                    pass
