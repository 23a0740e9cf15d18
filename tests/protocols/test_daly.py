"""Daly classic codec on the recorded frames of tests/fixtures/daly_serial.json, its alarm table,
and fuzzing."""

from __future__ import annotations

import os
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.model import ALARM_ALARM, ALARM_WARNING, Sample
from dbus_bms.protocols import daly
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.framing import drain
from dbus_bms.protocols.registry import decode_frames

from ..conftest import load_fixture

FIXTURE = load_fixture("daly_serial.json")
FRAMES = {f["id"]: f for f in FIXTURE["frames"]}
_THOROUGH = os.environ.get("DBUS_BMS_THOROUGH") == "1"
FUZZ = settings(max_examples=1000 if _THOROUGH else 60, derandomize=not _THOROUGH, deadline=None)


def frames_of(hex_text: str) -> list[bytes]:
    asm = daly.DalyAssembler()
    asm.feed(bytes.fromhex(hex_text))
    return [f for f in drain(asm) if isinstance(f, bytes)]


def decoded(frame_id: str) -> Sample:
    return daly.decode(frames_of(FRAMES[frame_id]["response_hex"]))


def test_requests_are_the_recorded_bytes():
    for f in FIXTURE["frames"]:
        if f["request_hex"]:
            command = bytes.fromhex(f["request_hex"])[2]
            assert daly.build_request(command).hex() == f["request_hex"], f["source"]


def test_every_checksummed_frame_assembles_whole():
    for f in FIXTURE["frames"]:
        if f["checksum_ok"]:
            raw = bytes.fromhex(f["response_hex"])
            assert b"".join(frames_of(f["response_hex"])) == raw, f["id"]


def test_pack_frame_matches_the_stated_values():
    e = FRAMES["mppsolar-daly-daly_SOC"]["expected"]  # source: jblance/mpp-solar test_protocol_daly.py
    s = decoded("mppsolar-daly-daly_SOC")
    assert s.voltage == pytest.approx(e["Battery Bank Voltage"])
    assert s.current == pytest.approx(e["Current"])  # above Daly's 30000 offset: charging
    assert s.soc == pytest.approx(e["SOC"])
    assert s.power == pytest.approx(53.2 * 2.1)
    # The source's "acquistion" voltage (data bytes 2-3) is 0 here and not published.
    frame = frames_of(FRAMES["mppsolar-daly-daly_SOC"]["response_hex"])[0]
    assert e["acquistion"] == 0 == int.from_bytes(frame[6:8], "big")
    assert (s.cell_voltages, s.temperatures, s.capacity_remaining) == (None, None, None)


def test_status_frame_matches_the_stated_values():
    f = FRAMES["mppsolar-daly-daly_status"]  # source: jblance/mpp-solar test_protocol_daly.py
    e = f["expected"]
    status = daly.parse_status(frames_of(f["response_hex"])[0])
    assert status.cells == e["Number of Cells"]
    assert status.temperature_sensors == e["Number of Temperature Sensors"]
    assert status.charger_connected is (e["Charger Status"] != "disconnected")
    assert status.load_connected is (e["Load Status"] != "disconnected")
    assert status.io_bits == int(e["Flags (TODO)"], 16)
    assert status.cycles == e["Charge/Discharge Cycles"] == decoded(f["id"]).cycles


def test_8_cell_status_frame_matches_the_stated_values():
    f = FRAMES["batmon-daly_uart_states_8cell_1temp"]  # source: fl4p/batmon-ha daly_uart_fixtures.py
    e = f["expected"]
    status = daly.parse_status(frames_of(f["response_hex"])[0])
    assert (status.cells, status.temperature_sensors) == (e["num_cells"], e["num_temps"])
    assert status.cycles == e["num_cycles"]
    assert (status.charger_connected, status.load_connected) == (e["charging"], e["discharging"])
    assert status.io_bits == 0b10 and e["states"] == {"DI2": True}  # bit 1: input DI2


@pytest.mark.parametrize("frame_id", ["mppsolar-daly-daly_mosStatus", "batmon-daly_uart_status_charging_253ah"])
def test_mos_frames_match_the_stated_values(frame_id):
    f = FRAMES[frame_id]  # sources: jblance/mpp-solar test_protocol_daly.py, fl4p/batmon-ha daly_uart_fixtures.py
    e = f["expected"]
    s = decoded(frame_id)
    frame = frames_of(f["response_hex"])[0]
    if "Charge Status" in e:
        assert daly.charge_state(frame) == e["Charge Status"]
        assert s.charge_enabled is (e["Charging MOS Tube Status"] == "01")
        assert s.discharge_enabled is (e["Discharging MOS Tube Status"] == "01")
        assert s.capacity_remaining == pytest.approx(e["Residual Capacity"])
        assert frame[7] == e["BMS Life"]  # data byte 3, which Daly calls the BMS life; not published
    else:
        assert daly.charge_state(frame) == e["mode"]
        assert (s.charge_enabled, s.discharge_enabled) == (e["charging_mosfet"], e["discharging_mosfet"])
        assert s.capacity_remaining == pytest.approx(e["capacity_ah"])
    assert s.switches == {"charge": s.charge_enabled, "discharge": s.discharge_enabled}


def test_pack_frames_without_stated_values():
    # The raw fields: 0x0210 = 52.8 V, 30063 = +6.3 A, 956 = 95.6 %; 0x0109 = 26.5 V, 30159, 778.
    a, b = decoded("mppsolar-daly-SOC-tr0"), decoded("mppsolar-daly-SOC-tr2")
    assert (a.voltage, a.current, a.soc) == pytest.approx((52.8, 6.3, 95.6))
    assert (b.voltage, b.current, b.soc) == pytest.approx((26.5, 15.9, 77.8))
    assert decoded("mppsolar-daly-mosStatus-tr5").capacity_remaining == pytest.approx(0x0003CB40 / 1000)


def test_extremes_frame():
    frame = frames_of(FRAMES["mppsolar-daly-cellMinMaxTemps-tr4"]["response_hex"])[0]
    assert daly.temperature_extremes(frame) == (15.0, 1, 15.0, 1)


def test_multi_frame_cells_and_temperatures_without_a_status():
    # Cells in frames 1-3 (8 of them), then zeros in all of Daly's other slots; the last,
    # truncated frame of the capture is not taken.
    cells = decoded("mppsolar-daly-cellVoltages-tr9").cell_voltages
    assert cells == [3.235, 3.239, 3.238, 3.240, 3.237, 3.236, 3.237, 3.238]
    # One sensor at 0x37 (15 °C); the other slots read 0 (-40 °C), the empty-slot value.
    assert decoded("mppsolar-daly-cellTemperatures-tr10").temperatures == [15.0]


def test_counts_of_the_status_cut_the_cell_and_sensor_slots():
    frames = [*frames_of(FRAMES["mppsolar-daly-cellVoltages-tr9"]["response_hex"]),
              *frames_of(FRAMES["mppsolar-daly-cellTemperatures-tr10"]["response_hex"]),
              daly.build_frame(1, daly.STATUS, bytes([7, 2, 0, 0, 0, 0, 9]))]
    s = daly.decode(frames)
    assert s.cell_voltages == [3.235, 3.239, 3.238, 3.240, 3.237, 3.236, 3.237]
    assert s.temperatures == [15.0, -40.0] and s.cycles == 9


def test_a_missing_cell_frame_is_a_protocol_error():
    frames = frames_of(FRAMES["mppsolar-daly-cellVoltages-tr9"]["response_hex"])
    status = daly.build_frame(1, daly.STATUS, bytes([8, 1]))
    with pytest.raises(ProtocolError, match="frame 2"):
        daly.decode([status, frames[0], frames[2]])


def test_decode_command_takes_one_poll_of_replies_and_skips_requests():
    request = daly.build_request(daly.PACK).hex()
    s = decode_frames("daly", [bytes.fromhex(request + FRAMES["mppsolar-daly-daly_SOC"]["response_hex"]),
                               bytes.fromhex(FRAMES["mppsolar-daly-daly_mosStatus"]["response_hex"])])
    assert (s.voltage, s.capacity_remaining, s.charge_enabled) == (53.2, 172.76, True)
    with pytest.raises(ProtocolError):
        decode_frames("daly", [bytes.fromhex(request)])


def test_frames_are_found_between_garbage_and_across_splits():
    good = bytes.fromhex(FRAMES["mppsolar-daly-daly_SOC"]["response_hex"])
    stream = b"\x00\xa5\xa5\x01" + good + b"noise\xa5" + good
    asm = daly.DalyAssembler()
    found, errors = [], 0
    for i in range(0, len(stream), 5):
        asm.feed(stream[i : i + 5])
        for item in drain(asm):
            if isinstance(item, bytes):
                found.append(item)
            else:
                errors += 1
    assert found == [good, good]
    assert asm.discarded_bytes >= 7 and errors >= 1


def test_a_bad_checksum_is_a_protocol_error():
    bad = bytearray(bytes.fromhex(FRAMES["mppsolar-daly-daly_SOC"]["response_hex"]))
    bad[6] ^= 0x01
    asm = daly.DalyAssembler()
    asm.feed(bytes(bad))
    with pytest.raises(ProtocolError):
        asm.next_frame()
    with pytest.raises(ProtocolError):
        daly.decode([bytes(bad)])


def test_switch_frames():
    assert daly.build_switch("charge", False).hex() == "a540da080000000000000000c7"
    assert daly.build_switch("discharge", True).hex() == "a540d9080100000000000000c7"


A, W = ALARM_ALARM, ALARM_WARNING
# 0x98 as the README documents it, written out here rather than read from the codec:
# bit (byte × 8 + bit) → (text, Victron alarm or None, level).
LEVELLED = [
    (0, "cell over-voltage", "HighCellVoltage", " {highest}"), (2, "cell under-voltage", "LowCellVoltage", " {lowest}"),
    (4, "pack over-voltage", "HighVoltage", ""), (6, "pack under-voltage", "LowVoltage", ""),
    (8, "charge over-temperature", "HighChargeTemperature", ""),
    (10, "charge under-temperature", "LowChargeTemperature", ""),
    (12, "discharge over-temperature", "HighTemperature", ""),
    (14, "discharge under-temperature", "LowTemperature", ""),
    (16, "charge over-current", "HighChargeCurrent", ""), (18, "discharge over-current", "HighDischargeCurrent", ""),
    (20, "SoC too high", None, ""), (22, "SoC too low", "LowSoc", ""),
    (24, "cell voltage difference too high", "CellImbalance", ""), (26, "temperature difference too high", None, ""),
]
FAILURE_BITS = {
    **{first + n: (f"{text}, level {n + 1}" + (f",{where}" if where else ""), alarm, (W, A)[n])
       for first, text, alarm, where in LEVELLED for n in (0, 1)},
    **{bit: (f"unknown alarm bit {bit}", None, 0) for bit in (28, 29, 30, 31, 52, 53, 54, 55)},
    32: ("charge MOS over-temperature", "HighInternalTemperature", A),
    33: ("discharge MOS over-temperature", "HighInternalTemperature", A),
    34: ("charge MOS temperature sensor fault", "InternalFailure", A),
    35: ("discharge MOS temperature sensor fault", "InternalFailure", A),
    36: ("charge MOS stuck closed", "InternalFailure", A),
    37: ("discharge MOS stuck closed", "InternalFailure", A),
    38: ("charge MOS open-circuit fault", "InternalFailure", A),
    39: ("discharge MOS open-circuit fault", "InternalFailure", A),
    40: ("cell voltage acquisition chip fault", "InternalFailure", A),
    41: ("cell voltage sense wire off", "InternalFailure", A),
    42: ("cell temperature sensor fault", "InternalFailure", A),
    43: ("EEPROM fault", "InternalFailure", A),
    44: ("real-time clock fault", "InternalFailure", A),
    45: ("pre-charge failed", "InternalFailure", A),
    46: ("vehicle communication fault", None, 0),
    47: ("internal communication fault", "InternalFailure", A),
    48: ("current sensor fault", "InternalFailure", A),
    49: ("pack voltage sensor fault", "InternalFailure", A),
    50: ("short-circuit protection", "HighDischargeCurrent", A),
    51: ("pack voltage too low to charge", "LowVoltage", A),
}


def _failures(word: int, code: int = 0) -> bytes:
    return daly.build_frame(1, daly.FAILURES, word.to_bytes(7, "little") + bytes([code]))


@pytest.mark.parametrize("bit", range(56))
def test_each_failure_bit_raises_its_alarm_and_names_its_condition(bit):
    # Highest and lowest cell as 0x91 numbers them (cell 6 at 3.301 V, cell 2 at 3.199 V).
    extremes = daly.build_frame(1, daly.CELL_EXTREMES, bytes([0x0C, 0xE5, 6, 0x0C, 0x7F, 2]))
    text, alarm, level = FAILURE_BITS[bit]
    s = daly.decode([extremes, _failures(1 << bit)])
    assert s.alarms == ({alarm: level} if alarm else {})
    assert s.conditions == (text.format(highest="cell 6", lowest="cell 2"),)


def test_without_extremes_the_cells_of_the_same_poll_are_named_and_the_fault_code_is_a_condition():
    cells = frames_of(FRAMES["mppsolar-daly-cellVoltages-tr9"]["response_hex"])
    s = daly.decode([*cells, _failures(0b11, code=7)])
    assert s.alarms == {"HighCellVoltage": A}
    assert s.conditions == ("cell over-voltage, level 1, cell 4", "cell over-voltage, level 2, cell 4", "fault code 7")
    assert daly.decode([_failures(0)]).conditions == ()


samples = st.builds(
    Sample,
    voltage=st.floats(0, 6000, allow_nan=False).map(lambda v: round(v, 1)),
    current=st.floats(-3000, 3000, allow_nan=False).map(lambda v: round(v, 1)),
    soc=st.integers(0, 1000).map(lambda v: v / 10),
    capacity_remaining=st.integers(0, 2_000_000).map(lambda v: v / 1000),
    cycles=st.integers(0, 65535),
    cell_voltages=st.lists(st.integers(1, 65535).map(lambda v: v / 1000), min_size=1, max_size=48),
    temperatures=st.lists(st.integers(-40, 215).map(float), min_size=0, max_size=16),
    switches=st.fixed_dictionaries({"charge": st.booleans(), "discharge": st.booleans()}),
)


@FUZZ
@given(samples, st.booleans())
def test_encode_then_decode_is_the_identity(sample, all_slots):
    if all_slots:  # and cells beyond the count, as a BMS that sends all 16 of its cell frames
        sample.cell_voltages = sample.cell_voltages[:45]
    replies = daly.encode_replies(sample, cell_frames=16 if all_slots else None)
    back = daly.decode(frame for frames in replies.values() for frame in frames)
    assert back.cell_voltages == sample.cell_voltages
    assert back.temperatures == (sample.temperatures or None)
    for name in ("voltage", "current", "soc", "capacity_remaining"):
        assert getattr(back, name) == pytest.approx(getattr(sample, name)), name
    assert back.cycles == sample.cycles and back.switches == sample.switches
    cells = sample.cell_voltages
    high, low = cells.index(max(cells)), cells.index(min(cells))
    assert daly.cell_extremes(replies[daly.CELL_EXTREMES][0]) == (cells[high], high + 1, cells[low], low + 1)


@FUZZ
@given(st.binary(max_size=400), st.lists(st.integers(1, 40), max_size=20))
def test_any_bytes_in_any_chunks_only_ever_raise_protocol_error(data, cuts):
    asm = daly.DalyAssembler()
    pos = 0
    frames = []
    for cut in [*cuts, len(data)]:
        asm.feed(data[pos : pos + cut])
        pos += cut
        frames += [f for f in drain(asm) if isinstance(f, bytes)]
    try:
        daly.decode(frames)
    except ProtocolError:
        pass


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(daly.READ_COMMANDS), st.binary(min_size=8, max_size=8)), max_size=24))
def test_any_well_framed_replies_decode_or_raise_protocol_error(replies):
    frames = [daly.build_frame(1, command, data) for command, data in replies]
    try:
        s = daly.decode(frames)
    except ProtocolError:
        return
    assert s.soc is None or 0 <= s.soc <= 100
    assert len(s.cell_voltages or ()) <= 3 * 255 and len(s.temperatures or ()) <= 7 * 255


def test_the_soc_frame_carries_the_clock_and_the_soc_in_tenths():
    frame = daly.build_set_soc(87.6, datetime(2026, 12, 2, 3, 4, 5), address=daly.BLE_HOST_ADDRESS)
    assert frame.hex() == "a5802108" + "1a0c02030405" + "036c" + f"{sum(frame[:12]) & 0xFF:02x}"
    assert daly.parse_set_soc(frame) == (87.6, datetime(2026, 12, 2, 3, 4, 5))
    assert daly.set_soc_taken(daly.build_frame(1, daly.SET_SOC, b"\x01"))
    assert not daly.set_soc_taken(daly.build_frame(1, daly.SET_SOC, b"\x00"))


@pytest.mark.parametrize("percent", [-0.1, 100.1, float("nan"), float("inf")])
def test_a_soc_outside_0_to_100_is_not_framed(percent):
    with pytest.raises(ValueError, match="0-100"):
        daly.build_set_soc(percent, datetime(2026, 1, 1))


def test_a_soc_frame_with_a_bad_clock_or_soc_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="bad clock"):
        daly.parse_set_soc(daly.build_frame(0x40, daly.SET_SOC, bytes([26, 13, 1, 0, 0, 0, 0, 10])))
    with pytest.raises(ProtocolError, match="1000.1 %"):
        daly.parse_set_soc(daly.build_frame(0x40, daly.SET_SOC, bytes([26, 1, 1, 0, 0, 0, 0x27, 0x11])))
