"""ANT codecs (2021+ and legacy) on the recorded frames of tests/fixtures/ant_new.json and
ant_legacy.json, round trips through the simulator's encoders, and fuzzing."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbus_bms.model import DeviceInfo, Sample
from dbus_bms.protocols import ant, ant_legacy
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.framing import drain
from dbus_bms.protocols.registry import decode_frames

from ..conftest import load_fixture

NEW = {f["id"]: f for f in load_fixture("ant_new.json")["frames"]}
LEGACY = {f["id"]: f for f in load_fixture("ant_legacy.json")["frames"]}
_THOROUGH = os.environ.get("DBUS_BMS_THOROUGH") == "1"
FUZZ = settings(max_examples=1000 if _THOROUGH else 60, derandomize=not _THOROUGH, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def _frames(assembler, data: bytes) -> list[bytes]:
    assembler.feed(data)
    items = list(drain(assembler))
    assert not [i for i in items if isinstance(i, ProtocolError)]
    return items


def _new(frame_id: str) -> bytes:
    (frame,) = _frames(ant.AntAssembler(), bytes.fromhex(NEW[frame_id]["response_hex"]))
    return frame


def _legacy(frame_id: str) -> Sample:
    (frame,) = _frames(ant_legacy.AntLegacyAssembler(), bytes.fromhex(LEGACY[frame_id]["response_hex"]))
    return ant_legacy.decode(frame)


def _cells_match(cells: list[float], e: dict) -> None:
    for key, value in e.items():
        if key.startswith("cell_voltage_"):
            assert cells[int(key.rsplit("_", 1)[1]) - 1] == pytest.approx(value)
    assert len(cells) == e["battery_strings"]
    assert min(cells) == pytest.approx(e["min_cell_voltage"])
    assert max(cells) == pytest.approx(e["max_cell_voltage"])
    assert cells.index(min(cells)) + 1 == e["min_voltage_cell"]
    assert cells.index(max(cells)) + 1 == e["max_voltage_cell"]
    assert max(cells) - min(cells) == pytest.approx(e["delta_cell_voltage"])
    assert sum(cells) / len(cells) == pytest.approx(e["average_cell_voltage"], abs=0.001)


def test_requests_are_the_documented_bytes():
    # Both as the ANT app sends them: status asks for 0xBE bytes at 0, device info 0x20 at 0x026C.
    assert ant.STATUS_REQUEST.hex() == "7ea1010000be1855aa55"
    assert ant.DEVICE_INFO_REQUEST.hex() == "7ea1026c022058c4aa55"
    assert ant_legacy.STATUS_REQUEST.hex() == LEGACY["aiobmsble-ant_legacy-update-keep-alive"]["request_hex"]


def test_esphome_16s_status_frame_matches_every_stated_value():
    f = NEW["esphome-ant_bms-frames_16s_status-STATUS_FRAME_16S"]  # source: syssi/esphome-ant-bms frames_16s_status.h
    e = f["expected"]
    s = ant.decode_status(_new(f["id"]))
    _cells_match(s.cell_voltages, e)
    assert s.voltage == pytest.approx(e["total_voltage"])
    assert s.current == pytest.approx(e["current"])
    assert s.power == e["power"]
    assert s.soc == e["soc"] and s.soh == e["state_of_health"]
    assert s.capacity_full == pytest.approx(e["total_battery_capacity_setting"])
    assert s.capacity_remaining == pytest.approx(e["capacity_remaining"])
    # Two cell probes, then the MOSFETs; the fourth value, the balancer's, has no place in a Sample.
    assert s.temperatures == [e["temperature_1"], e["temperature_2"]]
    assert s.mosfet_temperature == e["temperature_3"]
    assert (s.charge_enabled, s.discharge_enabled) == (e["charging_switch"], e["discharging_switch"])
    assert s.balancing is (e["balancer_status_code"] in ant.BALANCING_CODES) is False
    assert s.cell_balancing == [False] * 16 and e["balanced_cell_bitmask"] == 0
    # The warning word has three bits set that ANT does not document: named, raising nothing.
    assert s.alarms == {}
    assert s.conditions == ("warning bit 7", "warning bit 23", "warning bit 24")


def test_batmon_8s_status_frame_matches_every_stated_value():
    f = NEW["batmon-ant_8s_2temp_inline"]  # source: fl4p/batmon-ha ant_fixtures.py
    e = f["expected"]
    s = ant.decode_status(_new(f["id"]))
    assert [round(v * 1000) for v in s.cell_voltages] == e["cell_voltages_mv"]
    assert s.voltage == pytest.approx(e["voltage"]) and s.current == e["current"]
    assert s.soc == e["soc"] and s.soh == e["soh"]
    assert s.capacity_remaining == e["charge"] and s.capacity_full == e["capacity"]
    assert s.mosfet_temperature == e["mos_temperature"]
    # Both probes read -40 °C, which is what a board without probes sends.
    assert s.temperatures is None
    assert (s.charge_enabled, s.discharge_enabled) == (e["switches"]["charge"], e["switches"]["discharge"])
    assert s.conditions[0] == "charge MOSFET: overcharge protection"
    assert s.alarms == {"HighCellVoltage": 1}


@pytest.mark.parametrize("frame_id", ["esphome-ant_bms-frames_16s_status-DEVICE_INFO_FRAME",
                                      "esphome-ant_bms_ble-frames_16s_status-DEVICE_INFO_FRAME_ISSUE_172"])
def test_device_info_frames_give_model_and_firmware(frame_id):
    # The checksum sits where the length byte says; six more bytes come before the end mark.
    e = NEW[frame_id]["expected"]
    frame = _new(frame_id)
    assert ant.is_device_info(frame)
    assert ant.decode_device_info(frame) == DeviceInfo(model=e["device_model"], sw_version=e["software_version"])


def test_a_settings_reply_is_framed_but_is_no_status():
    frame = _new("esphome-ant_bms-frames_settings-SETTINGS_RESP_CELL_HIGH_PROTECT")
    assert not ant.is_device_info(frame)
    with pytest.raises(ProtocolError, match="no ANT status"):
        ant.decode_replies([frame])


def test_legacy_8s_frame_matches_every_stated_value():
    f = LEGACY["esphome-ant_bms_old-frames_8s-STATUS_FRAME_8S"]  # source: syssi/esphome-ant-bms frames_8s.h
    e = f["expected"]
    s = _legacy(f["id"])
    _cells_match(s.cell_voltages, e)
    assert s.voltage == pytest.approx(e["total_voltage"])
    # esphome shows the raw sign (-10.7); the board counts discharge positive, so in Victron's
    # sign this is charging (aiobmsble's decoder, whose sign is Victron's, negates it too).
    assert s.current == pytest.approx(-e["current"])
    assert s.soc == e["soc"]
    assert e["total_battery_capacity_setting"] == 0 and s.capacity_full is None
    assert s.capacity_remaining == pytest.approx(e["capacity_remaining"])
    assert s.mosfet_temperature == e["temperature_1"]
    assert s.temperatures == [e["temperature_3"], e["temperature_4"]]  # 5 and 6 read 0: no probe
    assert (s.charge_enabled, s.discharge_enabled) == (e["charging_switch"], e["discharging_switch"])
    assert s.balancing is e["balancer_switch"] is False
    assert s.conditions == () and s.alarms == {}


@pytest.mark.parametrize("frame_id", ["aiobmsble-ant_legacy-update-keep-alive", "aiobmsble-ant_legacy-update-empty-battery"])
def test_legacy_aiobmsble_frames_match_every_stated_value(frame_id):
    f = LEGACY[frame_id]  # source: patman15/aiobmsble tests/bms/test_ant_leg_bms.py
    e = f["expected"]
    s = _legacy(frame_id)
    assert s.cell_voltages == pytest.approx(e["cell_voltages"]) and len(s.cell_voltages) == e["cell_count"]
    assert s.voltage == pytest.approx(e["voltage"]) and s.current == e["current"] and s.power == e["power"]
    assert s.soc == e["battery_level"]
    assert s.capacity_remaining == pytest.approx(e["cycle_charge"], abs=0.001)
    # aiobmsble's four temperatures are the first four slots: MOSFETs, balancer, two probes.
    assert [s.mosfet_temperature, *s.temperatures] == [e["temp_values"][0], *e["temp_values"][2:]]
    assert (s.charge_enabled, s.discharge_enabled) == (e["chrg_mosfet"], e["dischrg_mosfet"])
    # Its problem code 0x200 is the charge MOSFET's code 2; its "balancer" is code 4 alone, and
    # this board balances with code 2.
    assert e["problem_code"] == 2 << 8
    assert s.conditions == ("charge MOSFET: overcharge protection", "balancer: balancing on a charge difference")
    assert s.alarms == {"HighCellVoltage": 1}
    assert e["balancer"] is False and s.balancing is True


def test_decode_command_protocols_take_the_fixture_hex():
    status = bytes.fromhex(NEW["esphome-ant_bms-frames_16s_status-STATUS_FRAME_16S"]["response_hex"])
    info = bytes.fromhex(NEW["esphome-ant_bms-frames_16s_status-DEVICE_INFO_FRAME"]["response_hex"])
    s = decode_frames("ant", [status, info])
    assert s.voltage == pytest.approx(52.84) and s.device.model == "16ZM"
    legacy = bytes.fromhex(LEGACY["esphome-ant_bms_old-frames_8s-STATUS_FRAME_8S"]["response_hex"])
    assert decode_frames("ant_legacy", [legacy]).voltage == pytest.approx(26.7)
    with pytest.raises(ProtocolError):
        decode_frames("ant", [status[:-3]])


def test_corrupt_frames_are_counted_and_the_stream_resyncs():
    good = bytes.fromhex(NEW["batmon-ant_8s_2temp_inline"]["response_hex"])
    bad = bytearray(good)
    bad[40] ^= 0x01
    asm = ant.AntAssembler()
    asm.feed(b"\x00\x7e\x55" + bytes(bad) + good)
    items = list(drain(asm))
    assert isinstance(items[0], ProtocolError) and items[-1] == good
    assert asm.discarded_bytes > 0
    legacy = bytes.fromhex(LEGACY["esphome-ant_bms_old-frames_8s-STATUS_FRAME_8S"]["response_hex"])
    lasm = ant_legacy.AntLegacyAssembler()
    lasm.feed(b"\xaa\x55" + legacy[:-1] + b"\x00" + legacy)
    litems = list(drain(lasm))
    assert isinstance(litems[0], ProtocolError) and litems[-1] == legacy


@pytest.mark.parametrize("charge, discharge, balancer, alarms", [
    (1, 1, 0, {}),
    (2, 1, 4, {"HighCellVoltage": 1}),
    (7, 12, 0, {"HighInternalTemperature": 2, "HighDischargeCurrent": 2}),
    (1, 17, 3, {"LowTemperature": 2, "HighInternalTemperature": 1}),
])
def test_status_codes_round_trip_through_both_layouts(charge, discharge, balancer, alarms):
    sample = Sample(voltage=53.0, current=-4.2, soc=60.0, capacity_full=100.0, capacity_remaining=60.0,
                    cell_voltages=[3.31] * 15 + [3.325], temperatures=[21.0, 22.0], mosfet_temperature=30.0)
    new = ant.decode_status(ant.encode_status(sample, charge=charge, discharge=discharge, balancer=balancer))
    (legacy_frame,) = _frames(ant_legacy.AntLegacyAssembler(),
                              ant_legacy.encode_status(sample, charge=charge, discharge=discharge, balancer=balancer))
    legacy = ant_legacy.decode(legacy_frame)
    for s in (new, legacy):
        assert s.alarms == alarms
        assert (s.charge_enabled, s.discharge_enabled) == (charge == 1, discharge == 1)
        assert s.balancing is (balancer == 4)
        assert s.current == pytest.approx(-4.2) and s.cell_voltages == sample.cell_voltages
        assert s.temperatures == [21.0, 22.0] and s.mosfet_temperature == 30.0
    assert new.voltage == 53.0 and legacy.voltage == 53.0


def test_an_unknown_status_code_is_named_not_dropped():
    frame = ant.encode_status(Sample(voltage=3.3, cell_voltages=[3.3]), charge=40, discharge=11, balancer=5)
    s = ant.decode_status(frame)
    assert s.conditions == ("charge MOSFET: unknown status 40", "discharge MOSFET: charge MOSFET on",
                            "balancer: unknown status 5")
    assert s.alarms == {}


_SAMPLES = [
    bytes.fromhex(f["response_hex"]) for f in [*NEW.values(), *LEGACY.values()]
]


@FUZZ
@given(st.lists(st.one_of(st.binary(max_size=64), st.sampled_from(_SAMPLES)), max_size=6),
       st.lists(st.integers(1, 40), min_size=1, max_size=8), st.integers(0, 2**16))
def test_fuzz_any_bytes_any_chunking_only_protocol_errors(pieces, cuts, flip):
    stream = bytearray(b"".join(pieces))
    if stream:
        stream[flip % len(stream)] ^= 1 << (flip % 8)
    for assembler, decode in ((ant.AntAssembler(), ant.decode_replies), (ant_legacy.AntLegacyAssembler(), ant_legacy.decode)):
        at = 0
        i = 0
        while at < len(stream):
            step = cuts[i % len(cuts)]
            assembler.feed(bytes(stream[at : at + step]))
            at += step
            i += 1
            for item in drain(assembler):
                if isinstance(item, ProtocolError):
                    continue
                try:
                    decode([item]) if decode is ant.decode_replies else decode(item)
                except ProtocolError:
                    pass


@FUZZ
@given(st.sampled_from([f["response_hex"] for f in NEW.values() if f["response_hex"].startswith("7ea111")]),
       st.integers(6, 150), st.integers(0, 255))
def test_fuzz_status_fields_with_a_good_checksum_only_protocol_errors(hex_frame, at, value):
    # Any byte of the data changed and the checksum made good again: counts, lengths, codes.
    raw = bytearray(bytes.fromhex(hex_frame))
    end = 6 + raw[5]
    raw[min(at, end - 1)] = value
    frame = ant.build_frame(raw[2], int.from_bytes(raw[3:5], "little"), bytes(raw[6:end]))
    try:
        s = ant.decode_status(frame)
    except ProtocolError:
        return
    assert len(s.cell_voltages) == frame[9]


@FUZZ
@given(st.integers(4, 137), st.integers(0, 255))
def test_fuzz_legacy_fields_with_a_good_checksum_only_protocol_errors(at, value):
    raw = bytearray(bytes.fromhex(LEGACY["esphome-ant_bms_old-frames_8s-STATUS_FRAME_8S"]["response_hex"]))
    raw[at] = value
    raw[138:] = (sum(raw[4:138]) & 0xFFFF).to_bytes(2, "big")
    try:
        s = ant_legacy.decode(bytes(raw))
    except ProtocolError:
        return
    assert len(s.cell_voltages) == raw[123]
