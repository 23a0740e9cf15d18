"""JBD codec on the recorded frames of tests/fixtures/jbd.json, the control frames, plus fuzzing."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.model import ALARM_ALARM, Sample
from dbus_bms.protocols import jbd
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.framing import drain
from dbus_bms.protocols.registry import decode_frames

from ..conftest import load_fixture

FIXTURE = load_fixture("jbd.json")
FRAMES = {f["id"]: f for f in FIXTURE["frames"]}
CONTROL = {f["id"]: f for f in FIXTURE["control_frames"]}
EXAMPLES = 400 if os.environ.get("DBUS_BMS_THOROUGH") else 60


def _frames(*hexes: str) -> list[bytes]:
    asm = jbd.JbdAssembler()
    out = []
    for h in hexes:
        asm.feed(bytes.fromhex(h))
        out += list(drain(asm))
    assert all(isinstance(f, bytes) for f in out)
    return out


def _decode(*hexes: str) -> Sample:
    return jbd.decode(_frames(*hexes))


def test_read_requests_are_the_recorded_bytes():
    assert jbd.READ_BASIC.hex() == "dda50300fffd77"
    assert jbd.READ_CELLS.hex() == "dda50400fffc77"
    assert jbd.READ_HARDWARE.hex() == "dda50500fffb77"
    for f in FIXTURE["frames"]:
        for step in f.get("sequence") or [f]:
            request = step["request_hex"]
            if request and request.startswith("dda5"):
                assert jbd.build_read(int(request[4:6], 16)).hex() == request, f["source"]


@pytest.mark.parametrize("frame_id", sorted(CONTROL))
def test_control_builders_make_the_recorded_frames(frame_id):
    f = CONTROL[frame_id]
    if "charge" in f:
        built = jbd.build_fet_control(charge=f["charge"], discharge=f["discharge"])
    else:
        built = jbd.ENTER_FACTORY if "enter" in frame_id else jbd.EXIT_FACTORY
    assert built.hex() == f["request_hex"], f["source"]


@pytest.mark.parametrize("frame_id", ["aiobmsble-jbd-update-keep-alive", "aiobmsble-jbd-update-secret-correct-secret"])
def test_aiobmsble_poll_matches_every_stated_value(frame_id):
    f = FRAMES[frame_id]  # source: patman15/aiobmsble tests/bms/test_jbd_bms.py
    e = f["expected"]
    s = _decode(*(step["response_hex"] for step in f["sequence"] if step["response_hex"].startswith("dd")))
    assert s.voltage == pytest.approx(e["voltage"])
    assert s.current == pytest.approx(e["current"])  # discharging: negative, as Victron's sign
    assert s.power == pytest.approx(e["power"])
    assert s.capacity_remaining == pytest.approx(e["cycle_charge"])
    assert s.capacity_full == pytest.approx(e["design_capacity"])
    assert s.cycles == e["cycles"]
    assert s.soc == e["battery_level"]
    assert s.balancing is (e["balancer"] != 0) and not any(s.cell_balancing)
    assert s.alarms == {} and s.conditions == () and e["problem_code"] == 0
    assert (s.charge_enabled, s.discharge_enabled) == (e["chrg_mosfet"], e["dischrg_mosfet"])
    assert len(s.temperatures) == e["temp_sensors"]
    assert s.temperatures == pytest.approx(e["temp_values"])
    assert sum(s.temperatures) / len(s.temperatures) == pytest.approx(e["temperature"], abs=0.001)
    assert s.cell_voltages == pytest.approx(e["cell_voltages"])
    assert len(s.cell_voltages) == e["cell_count"]
    assert s.max_cell - s.min_cell == pytest.approx(e["delta_voltage"])


def test_error_counters_match_every_stated_value():
    f = FRAMES["esphome-jbd_bms-frames-ERRCOUNT_FRAME"]  # source: syssi/esphome-jbd-bms frames.h
    counts = jbd.decode_error_counts(_frames(f["response_hex"])[0])
    assert len(counts) == len(f["expected"])
    for key, value in f["expected"].items():
        name = key.removesuffix("_error_count").replace("battery_", "pack_")
        assert counts[name] == value, key


# esphome's binary sensors of the protection word, in the order of its bits.
ESPHOME_PROTECTIONS = (
    "cell_overvoltage", "cell_undervoltage", "pack_overvoltage", "pack_undervoltage", "charge_overtemperature",
    "charge_undertemperature", "discharge_overtemperature", "discharge_undertemperature", "charge_overcurrent",
    "discharge_overcurrent", "short_circuit", "ic_frontend_error", "mosfet_software_lock",
)
CONDITION_TEXTS = (
    "cell over-voltage protection", "cell under-voltage protection", "pack over-voltage protection",
    "pack under-voltage protection", "charge over-temperature protection", "charge under-temperature protection",
    "discharge over-temperature protection", "discharge under-temperature protection",
    "charge over-current protection", "discharge over-current protection", "short-circuit protection",
    "front-end IC error", "FET software lock",
)


@pytest.mark.parametrize("frame_id", [
    "esphome-jbd_bms-frames-BASICINFO_FRAME_CELL_OVERVOLTAGE",
    "esphome-jbd_bms-frames-BASICINFO_FRAME_ALL_PROTECTIONS",
    "esphome-jbd_bms-frames-BASICINFO_FRAME_MOSFET_SOFTWARE_LOCK",
])
def test_esphome_protection_frames_name_exactly_the_stated_protections(frame_id):
    f = FRAMES[frame_id]  # source: syssi/esphome-jbd-bms frames.h, jbd_bms_test.cpp
    s = _decode(f["response_hex"])
    unsuffixed = ("ic_frontend_error", "mosfet_software_lock")
    stated = [f["expected"][name if name in unsuffixed else f"{name}_protection"] for name in ESPHOME_PROTECTIONS]
    assert s.conditions == tuple(text for text, on in zip(CONDITION_TEXTS, stated) if on)
    assert set(s.alarms.values()) <= {ALARM_ALARM}
    comment = f.get("expected_from_comment")
    if comment:
        assert s.voltage == pytest.approx(comment["total_voltage"])
        assert s.current == pytest.approx(comment["current"])
        assert s.capacity_remaining == pytest.approx(comment["capacity_remaining"])
        assert s.capacity_full == pytest.approx(comment["nominal_capacity"])
        assert s.cycles == comment["charging_cycles"]
        assert s.soc == comment["soc"]
        assert s.device.sw_version == f"{comment['software_version']:.1f}"
        assert len(s.cell_balancing) == comment["cell_count"] and not s.balancing
        assert len(s.temperatures) == comment["temperature_sensors"]
        assert s.temperatures[0] == pytest.approx(comment["temperatures[0]"])


def test_cell_overvoltage_opens_the_charge_fet_and_raises_its_alarm():
    s = _decode(FRAMES["esphome-jbd_bms-frames-BASICINFO_FRAME_CELL_OVERVOLTAGE"]["response_hex"])
    assert s.alarms == {"HighCellVoltage": ALARM_ALARM}
    assert (s.charge_enabled, s.discharge_enabled) == (False, True)
    assert s.switches == {"charge": True, "discharge": True}  # opened by a protection, not by the host


def test_the_software_lock_is_the_hosts_switch_and_raises_no_alarm():
    s = _decode(FRAMES["esphome-jbd_bms-frames-BASICINFO_FRAME_MOSFET_SOFTWARE_LOCK"]["response_hex"])
    assert s.alarms == {}
    assert s.switches == {"charge": False, "discharge": True}


def test_the_named_cell_is_the_highest_when_the_cells_came_along():
    basic = bytes.fromhex(FRAMES["esphome-jbd_bms-frames-BASICINFO_FRAME_CELL_OVERVOLTAGE"]["response_hex"])
    s = jbd.decode([basic, jbd.encode_cells([3.50, 3.66, 3.51, 3.49])])
    assert s.conditions == ("cell over-voltage protection, cell 2",)


def test_synthetic_balancing_frame_says_the_bms_balances():
    f = FRAMES["esphome-jbd_bms-frames-BASICINFO_FRAME_BALANCING_CELLS_1_3"]  # synthetic in its source
    s = _decode(f["response_hex"])
    assert s.balancing is True and f["expected"]["balancing_cells"] == "1"
    # Its bits lie in the word of cells 17-32, which a 4-cell pack does not have.
    assert s.cell_balancing == [False] * 4


def test_balance_bits_name_their_cells():
    sample = Sample(voltage=52.8, current=1.0, soc=50, cell_voltages=[3.3] * 20, cell_balancing=[i in (0, 17) for i in range(20)])
    s = jbd.decode([jbd.encode_basic(sample)])
    assert [i for i, on in enumerate(s.cell_balancing) if on] == [0, 17] and s.balancing


def test_mpp_solar_15s_frame_matches_every_stated_value():
    f = FRAMES["mppsolar-jk232-getBalancerData"]  # source: jblance/mpp-solar test_protocol_jk232.py
    e = f["expected"]
    s = _decode(f["response_hex"])
    assert s.voltage == pytest.approx(e["Total Battery Voltage"])
    assert s.current == pytest.approx(e["Total Current"])
    assert s.capacity_remaining == pytest.approx(e["Remaining Capacity"])
    assert s.capacity_full == pytest.approx(e["Nominal Capacity"])
    assert s.cycles == e["Cycles"]
    assert s.soc == e["Remaining Battery"]
    assert int(e["FET Control Status"], 16) == 3 and s.charge_enabled and s.discharge_enabled
    assert len(s.cell_balancing) == e["Number of Battery Strings"]
    assert s.temperatures == [e["NTC 1"], e["NTC 2"]] and len(s.temperatures) == e["Number of NTC"]
    assert e["Protection State (TODO)"] == "0000" and s.conditions == ()


def test_batmon_7cell_frame_matches_every_stated_value():
    f = FRAMES["batmon-jbd_7cell_dummy"]  # source: fl4p/batmon-ha bmslib/test/data/jbd_fixtures.py
    e = f["expected"]
    s = _decode(f["response_hex"])
    assert s.voltage == pytest.approx(e["voltage"])
    # The raw current is -604 (10 mA): discharging. batmon-ha states the magnitude with its own sign,
    # and its runtime (remaining charge over the current) is that of a discharge.
    assert s.current == pytest.approx(-e["current"])
    assert s.capacity_remaining / -s.current * 3600 == pytest.approx(e["runtime"], abs=60)  # batmon-ha rounds it
    assert s.capacity_remaining == pytest.approx(e["charge"])
    assert s.capacity_full == pytest.approx(e["capacity"])
    assert s.cycles == e["num_cycles"]
    assert s.temperatures == e["temperatures"]
    assert s.switches == e["switches"] and s.charge_enabled and s.discharge_enabled
    assert s.alarms == {} and e["problem_code"] == 0


@pytest.mark.parametrize("frame_id", [i for i, f in FRAMES.items() if f.get("frame_kind") == "cell voltages (0x04)"])
def test_real_cell_frames_give_the_logged_voltages(frame_id):
    f = FRAMES[frame_id]  # source: mr-manuel/venus-os_dbus-serialbattery issue 265 debug log
    assert jbd.decode_cells(_frames(f["response_hex"])[0]) == pytest.approx(f["expected"]["cell_voltages"])


def test_real_capture_without_stated_values_decodes_plausibly():
    f = FRAMES["issue265-jbd-0x03-2025-05-21T20:44:05"]
    cells = FRAMES["issue265-jbd-0x04-2025-05-21T20:44:05.332"]["response_hex"]
    s = _decode(f["response_hex"], cells)
    assert s.voltage == pytest.approx(sum(s.cell_voltages), abs=0.02)
    assert 0 <= s.soc <= 100 and 0 < s.capacity_remaining <= s.capacity_full


def test_hardware_name_is_the_model():
    assert jbd.decode_hardware(jbd.encode_hardware("JBD-SP04S034-L4S-200A-B-U")).model == "JBD-SP04S034-L4S-200A-B-U"


def test_decode_cli_protocol_takes_the_fixture_hex():
    f = FRAMES["aiobmsble-jbd-update-keep-alive"]
    s = decode_frames("jbd", [bytes.fromhex(step["request_hex"]) + bytes.fromhex(step["response_hex"]) for step in f["sequence"]])
    assert s.voltage == pytest.approx(15.6) and len(s.cell_voltages) == 4


def test_a_refusal_and_a_missing_basic_info_are_protocol_errors():
    with pytest.raises(ProtocolError, match="refused"):
        jbd.reply_data(jbd.build_reply(jbd.REG_FET_CONTROL, b"", jbd.STATUS_REFUSED), jbd.REG_FET_CONTROL)
    with pytest.raises(ProtocolError, match="basic info"):
        jbd.decode([jbd.encode_cells([3.3] * 4)])


def test_frames_are_found_between_garbage_and_across_splits():
    good = bytes.fromhex(FRAMES["aiobmsble-jbd-update-keep-alive"]["response_hex"])
    # A stray DD claiming a long frame must not hold back the reply after it.
    stream = b"\x00\xdd\x03\x00\xf0" + good + b"noise\xdd" + good
    asm = jbd.JbdAssembler()
    found = []
    for i in range(0, len(stream), 7):
        asm.feed(stream[i : i + 7])
        found += [f for f in drain(asm) if isinstance(f, bytes)]
    assert found == [good, good]
    assert asm.discarded_bytes >= 10


def test_a_flipped_bit_is_reported_and_the_next_frame_read():
    good = bytes.fromhex(FRAMES["aiobmsble-jbd-update-keep-alive"]["response_hex"])
    bad = bytearray(good)
    bad[10] ^= 0x10
    asm = jbd.JbdAssembler()
    asm.feed(bytes(bad) + good)
    items = list(drain(asm))
    assert isinstance(items[0], ProtocolError) and items[-1] == good


samples = st.builds(
    Sample,
    voltage=st.floats(0, 650, allow_nan=False).map(lambda v: round(v, 2)),
    current=st.floats(-327, 327, allow_nan=False).map(lambda v: round(v, 2)),
    soc=st.integers(0, 100).map(float),
    capacity_full=st.integers(1, 600).map(float),
    capacity_remaining=st.integers(0, 600).map(float),
    cycles=st.integers(0, 65535),
    cell_voltages=st.lists(st.floats(2.0, 4.3).map(lambda v: round(v, 3)), min_size=1, max_size=32),
    temperatures=st.lists(st.integers(-40, 100).map(float), max_size=8),
    charge_enabled=st.booleans(),
    discharge_enabled=st.booleans(),
    alarms=st.sampled_from([{}, {"HighCellVoltage": 2}, {"LowVoltage": 2, "InternalFailure": 2}]),
)


@settings(max_examples=EXAMPLES)
@given(samples)
def test_encode_then_decode_is_the_identity(sample):
    back = jbd.decode([jbd.encode_basic(sample), jbd.encode_cells(sample.cell_voltages)])
    for name in ("cycles", "cell_voltages", "soc", "capacity_full", "capacity_remaining", "charge_enabled",
                 "discharge_enabled", "alarms"):
        assert getattr(back, name) == getattr(sample, name), name
    assert back.temperatures == (sample.temperatures or None)
    assert back.voltage == pytest.approx(sample.voltage, abs=0.006)
    assert back.current == pytest.approx(sample.current, abs=0.006)


@settings(max_examples=EXAMPLES)
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=20))
def test_any_bytes_in_any_chunks_only_ever_raise_protocol_error(data, cuts):
    asm = jbd.JbdAssembler()
    pos = 0
    frames = []
    for cut in [*cuts, len(data)]:
        asm.feed(data[pos : pos + cut])
        pos += cut
        frames += [f for f in drain(asm) if isinstance(f, bytes)]
    for frame in frames:
        for decoder in (lambda f: jbd.decode([f]), jbd.decode_cells, jbd.decode_hardware, jbd.decode_error_counts):
            try:
                decoder(frame)
            except ProtocolError:
                pass


@settings(max_examples=EXAMPLES)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=80))
def test_well_framed_replies_with_any_data_only_raise_protocol_error(register, status, data):
    frame = jbd.build_reply(register, data, status)
    asm = jbd.JbdAssembler()
    asm.feed(frame)
    assert asm.next_frame() == frame
    try:
        jbd.decode([frame])
    except ProtocolError:
        pass


def test_the_password_frames_are_the_recorded_bytes():
    # source: patman15/aiobmsble tests/bms/test_jbd_bms.py, test_update_secret[correct_secret]
    [unlock, *_] = FRAMES["aiobmsble-jbd-update-secret-correct-secret"]["sequence"]
    assert jbd.build_unlock("000000").hex() == unlock["request_hex"]
    assert jbd.build_unlock_reply(True).hex() == unlock["response_hex"]
    assert jbd.password_of(bytes.fromhex(unlock["request_hex"])) == "000000"
    asm = jbd.UnlockAssembler()
    for piece in ["77dd", unlock["response_hex"][:6], unlock["response_hex"][6:]]:  # after junk, in two pieces
        asm.feed(bytes.fromhex(piece))
    answer = asm.next_frame()
    assert jbd.unlock_accepted(answer) and asm.discarded_bytes == 2
    assert not jbd.unlock_accepted(jbd.build_unlock_reply(False))


def test_a_corrupt_or_foreign_password_frame_is_a_protocol_error():
    asm = jbd.UnlockAssembler()
    asm.feed(bytes.fromhex("ffaa15010017") + jbd.build_unlock_reply(True))
    with pytest.raises(ProtocolError, match="bad checksum"):
        asm.next_frame()
    assert jbd.unlock_accepted(asm.next_frame())
    with pytest.raises(ProtocolError):
        jbd.unlock_accepted(jbd.READ_BASIC)
    with pytest.raises(ProtocolError):
        jbd.password_of(jbd.build_unlock_reply(True)[:4])
    with pytest.raises(ValueError):
        jbd.build_unlock("")


@settings(max_examples=EXAMPLES)
@given(st.binary(max_size=300), st.lists(st.integers(1, 32), max_size=12))
def test_any_bytes_through_the_password_assembler_only_raise_protocol_error(data, cuts):
    asm = jbd.UnlockAssembler()
    pos = 0
    for cut in [*cuts, len(data)]:
        asm.feed(data[pos : pos + cut])
        pos += cut
        for frame in drain(asm):
            if isinstance(frame, bytes):
                for decoder in (jbd.unlock_accepted, jbd.password_of):
                    try:
                        decoder(frame)
                    except ProtocolError:
                        pass
