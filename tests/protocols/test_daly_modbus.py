"""Daly's Modbus-style BLE codec on the recorded frames of tests/fixtures/daly_ble_modbus.json (every
frame whose source states values), its requests, its alarms, and fuzzing."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.model import ALARM_ALARM, ALARM_WARNING, Sample
from dbus_bms.protocols import daly_modbus as dm
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.framing import drain
from dbus_bms.protocols.registry import decode_frames

from ..conftest import load_fixture

FIXTURE = load_fixture("daly_ble_modbus.json")
FRAMES = {f["id"]: f for f in FIXTURE["frames"]}
_THOROUGH = os.environ.get("DBUS_BMS_THOROUGH") == "1"
FUZZ = settings(max_examples=1000 if _THOROUGH else 60, derandomize=not _THOROUGH, deadline=None)

AIOBMSBLE = "aiobmsble-daly_modbus-update-keep-alive-True"
ESPHOME = "esphome-daly_bms_ble-common-"
P81 = "esphome-daly_bms_ble-frames_p81_ess_dl_bms-"


def frames_of(*hex_texts: str, address: int = dm.ADDRESS) -> list[bytes]:
    asm = dm.ModbusAssembler(address=address)
    for text in hex_texts:
        asm.feed(bytes.fromhex(text))
    found = list(drain(asm))
    assert all(isinstance(f, bytes) for f in found), found
    return found


def response(frame_id: str) -> bytes:
    (frame,) = frames_of(FRAMES[frame_id]["response_hex"])
    return frame


def test_requests_are_the_recorded_bytes():
    # source: patman15/aiobmsble tests/bms/test_daly_bms.py (the status block and the MOS block)
    requests = [step["request_hex"] for step in FRAMES[AIOBMSBLE]["sequence"]]
    assert dm.build_read(dm.MOS_BLOCK).hex() == requests[0]
    assert dm.build_read(dm.STATUS).hex() == requests[1]


def test_mos_writes_are_the_bytes_daly_s_app_sends():
    assert dm.build_switch("charge", True).hex() == "d20600a500014b8a"
    assert dm.build_switch("charge", False).hex() == "d20600a500008a4a"
    assert dm.build_switch("discharge", True).hex() == "d20600a60001bb8a"
    assert dm.build_switch("discharge", False).hex() == "d20600a600007a4a"
    with pytest.raises(ValueError, match="16 bits"):
        dm.build_write(0x10000, 1)


def test_every_frame_assembles_whole_with_its_own_address():
    for f in FIXTURE["frames"]:
        for hex_text in [f["response_hex"], *(s["response_hex"] for s in f.get("sequence", []))]:
            raw = bytes.fromhex(hex_text)
            assert frames_of(hex_text, address=raw[0]) == [raw], f["id"]


def test_the_aiobmsble_update_matches_its_stated_values():
    # source: patman15/aiobmsble tests/bms/test_daly_bms.py: the MOS block and the status block of one update
    e = FRAMES[AIOBMSBLE]["expected"]
    s = decode_frames("daly_modbus", [bytes.fromhex(step["response_hex"]) for step in FRAMES[AIOBMSBLE]["sequence"]])
    assert (s.voltage, s.current, s.soc, s.capacity_remaining) == (e["voltage"], e["current"], e["battery_level"],
                                                                    e["cycle_charge"])
    assert s.cycles == e["cycles"] and s.power == pytest.approx(e["power"])
    assert s.cell_voltages == e["cell_voltages"] and len(s.cell_voltages) == e["cell_count"]
    # The BMS's own cell difference register (not the cells' spread here), which a Sample does not carry.
    status = bytes.fromhex(FRAMES[AIOBMSBLE]["response_hex"])
    assert dm.registers(status, dm.STATUS)[56] / 1000 == e["delta_voltage"]
    # aiobmsble lists the MOSFET first among its temperatures, then the sensors.
    assert [s.mosfet_temperature, *s.temperatures] == e["temp_values"] and len(s.temperatures) == e["temp_sensors"]
    assert s.balancing is bool(e["balancer"])
    assert (s.charge_enabled, s.discharge_enabled) == (e["chrg_mosfet"], e["dischrg_mosfet"])
    assert s.switches == {"charge": e["chrg_mosfet"], "discharge": e["dischrg_mosfet"]}
    assert e["problem"] is False and s.alarms == {} and s.conditions == ()


@pytest.mark.parametrize("name", ["VERSION_FRAME_1", "VERSION_FRAME_2"])
def test_version_frames_match_the_stated_values(name):
    # source: syssi/esphome-daly-bms tests/components/daly_bms_ble/common.h
    e = FRAMES[ESPHOME + name]["expected"]
    info = dm.decode_version(response(ESPHOME + name))
    assert (info.sw_version, info.hw_version) == (e["software_version"], e["hardware_version"])
    assert decode_frames("daly_modbus", [bytes.fromhex(FRAMES[ESPHOME + name]["response_hex"])]).device == info


def test_the_80_register_status_frame_matches_the_stated_values():
    # source: syssi/esphome-daly-bms common.h STATUS_FRAME_80_REG_2, asserted by daly_bms_ble_test.cpp
    e = FRAMES[ESPHOME + "STATUS_FRAME_80_REG_2"]["expected"]
    s = dm.decode_status(response(ESPHOME + "STATUS_FRAME_80_REG_2"))
    assert (s.voltage, s.current, s.soc, s.capacity_remaining) == (e["total_voltage"], e["current"],
                                                                    e["state_of_charge"], e["capacity_remaining"])
    assert s.current < 0 and e["battery_status"] == "Discharging"
    assert len(s.cell_voltages) == e["cell_count"] and len(s.temperatures) == e["temperature_sensors"]
    assert s.cycles == e["charging_cycles"] and s.power == pytest.approx(e["power"])
    for n in (1, 2, 7, 11, 16):
        assert s.cell_voltages[n - 1] == e[f"cell_voltage_{n}"]
    assert s.temperatures == [e[f"temperature_{n}"] for n in range(1, 5)]
    assert (min(s.cell_voltages), max(s.cell_voltages)) == (e["min_cell_voltage"], e["max_cell_voltage"])
    assert s.cell_voltages.index(min(s.cell_voltages)) + 1 == e["min_voltage_cell"]
    assert s.cell_voltages.index(max(s.cell_voltages)) + 1 == e["max_voltage_cell"]
    assert sum(s.cell_voltages) / 16 == pytest.approx(e["average_cell_voltage"])
    assert max(s.cell_voltages) - min(s.cell_voltages) == pytest.approx(e["delta_cell_voltage"])
    assert (s.balancing, s.charge_enabled, s.discharge_enabled) == (e["balancing"], e["charging"], e["discharging"])
    assert e["error_bitmask"] == 0 and s.alarms == {} and s.conditions == ()


def test_the_62_register_status_frame_matches_the_stated_values():
    # source: syssi/esphome-daly-bms common.h STATUS_FRAME_62_REG_NO_ALARMS
    e = FRAMES[ESPHOME + "STATUS_FRAME_62_REG_NO_ALARMS"]["expected"]
    s = dm.decode_status(response(ESPHOME + "STATUS_FRAME_62_REG_NO_ALARMS"))
    assert (s.voltage, s.current, s.soc) == (e["total_voltage"], e["current"], e["state_of_charge"])
    assert e["battery_status"] == "Idle" and len(s.cell_voltages) == e["cell_count"]
    for n in (1, 2, 3, 4, 5, 8):
        assert s.cell_voltages[n - 1] == e[f"cell_voltage_{n}"]
    assert (min(s.cell_voltages), max(s.cell_voltages)) == (e["min_cell_voltage"], e["max_cell_voltage"])
    assert s.temperatures == [e["temperature_1"]]  # one sensor, as the block's count says
    assert s.alarms == {} and s.conditions == ()


# The alarm frames: each the no-alarm frame with one alarm register changed. The texts the source
# states, and the same conditions in the classic protocol's 0x98 table.
ALARM_FRAMES = {
    "STATUS_FRAME_62_REG_ALARM_WARN_VOLTAGE_DIFF_HIGH":
        (("cell voltage difference too high, level 1",), {"CellImbalance": ALARM_WARNING}),
    "STATUS_FRAME_62_REG_ALARM_WARN_CHARGING_CURRENT_HIGH":
        (("charge over-current, level 1",), {"HighChargeCurrent": ALARM_WARNING}),
    "STATUS_FRAME_62_REG_ALARM_AFE_FAILURE":
        (("cell voltage acquisition chip fault",), {"InternalFailure": ALARM_ALARM}),
    "STATUS_FRAME_62_REG_ALARM_CHARGING_MOS_OVERTEMP":
        (("charge MOS over-temperature",), {"HighInternalTemperature": ALARM_ALARM}),
    "STATUS_FRAME_62_REG_ALARM_TEMP_DIFF_CRITICAL": (("temperature difference too high, level 2",), {}),
    "STATUS_FRAME_62_REG_ALARM_TEMP_DIFF_BOTH":
        (("temperature difference too high, level 1", "temperature difference too high, level 2"), {}),
}


@pytest.mark.parametrize("name", ALARM_FRAMES)
def test_alarm_frames_name_the_condition_the_source_states(name):
    stated = FRAMES[ESPHOME + name]["expected"]["errors"].split(";")
    conditions, alarms = ALARM_FRAMES[name]
    s = dm.decode_status(response(ESPHOME + name))
    assert s.conditions == conditions and s.alarms == alarms
    assert len(stated) == len(conditions)
    for said, ours in zip(stated, conditions):
        level = "level 2" if said.startswith("Critical") else "level 1" if said.startswith("Warning") else None
        assert level is None or ours.endswith(level), (said, ours)


def test_an_alarm_s_place_is_the_cell_of_the_same_block():
    regs = dm.encode_registers(Sample(voltage=13.2, cell_voltages=[3.3, 3.4, 3.2, 3.3]), failures=0b11)
    s = dm.decode_status(dm.build_read_reply(regs, 0, dm.STATUS.count))
    assert s.conditions == ("cell over-voltage, level 1, cell 2", "cell over-voltage, level 2, cell 2")
    regs[61] = 0x0700  # the fault code byte
    assert dm.decode_status(dm.build_read_reply(regs, 0, dm.STATUS.count)).conditions[-1] == "fault code 7"


def test_frames_without_a_block_read_here_are_passed_over():
    # The balancer switch (one register, off) and the parameter password: assembled, not decoded.
    stated = FRAMES[ESPHOME + "BALANCER_SWITCH_FRAME_OFF"]["expected"]
    balancer = response(ESPHOME + "BALANCER_SWITCH_FRAME_OFF")
    assert stated["balancer_switch"] is False and struct.unpack(">H", balancer[3:5]) == (0,)
    password = response(ESPHOME + "PASSWORD_FRAME_1")
    with pytest.raises(ProtocolError, match="no Daly Modbus status block"):
        dm.decode_replies([balancer, password])


def test_the_p81_variant_s_frames_are_not_taken_for_the_d2_one():
    # Its replies come from address 0x51: a D2 assembler drops them as junk.
    asm = dm.ModbusAssembler()
    asm.feed(bytes.fromhex(FRAMES[P81 + "P81_STATUS_FRAME"]["response_hex"]))
    assert [f for f in drain(asm) if isinstance(f, bytes)] == []
    with pytest.raises(ProtocolError):
        decode_frames("daly_modbus", [bytes.fromhex(FRAMES[P81 + "P81_CELLS_FRAME"]["response_hex"])])


def test_a_bad_crc_is_an_error_and_the_frame_after_it_is_found():
    good = bytes.fromhex(FRAMES[ESPHOME + "STATUS_FRAME_62_REG_NO_ALARMS"]["response_hex"])
    bad = bytearray(good)
    bad[40] ^= 0x01
    asm = dm.ModbusAssembler()
    asm.feed(b"\x00\xd2\x99" + bytes(bad) + good)
    found = list(drain(asm))
    assert [f for f in found if isinstance(f, bytes)] == [good]
    assert any(isinstance(f, ProtocolError) for f in found) and asm.discarded_bytes >= 1 + len(bad)
    with pytest.raises(ProtocolError, match="bad CRC"):
        dm.registers(bytes(bad), dm.STATUS)


def test_refusals_and_echoes_are_whole_frames():
    refusal = dm.build_refusal(dm.WRITE, 2)
    echo = dm.build_switch("charge", False)
    asm = dm.ModbusAssembler()
    asm.feed(refusal + echo)
    assert list(drain(asm)) == [refusal, echo]
    assert dm.refusal(refusal) == 2 and dm.refusal(echo) is None


def test_counts_the_block_cannot_hold_are_errors():
    regs = dm.encode_registers(Sample(cell_voltages=[3.3] * 4))
    for register, value in ((49, 33), (49, 0), (50, 9), (42, 1001)):
        broken = {**regs, register: value}
        with pytest.raises(ProtocolError):
            dm.decode_status(dm.build_read_reply(broken, 0, dm.STATUS.count))
    with pytest.raises(ProtocolError, match="for a read of 62 registers"):
        dm.registers(dm.build_read_reply(regs, 0, 10), dm.STATUS)


samples = st.builds(
    Sample,
    voltage=st.integers(0, 6000).map(lambda v: v / 10),
    current=st.integers(-3000, 3000).map(lambda v: v / 10),
    soc=st.integers(0, 1000).map(lambda v: v / 10),
    capacity_remaining=st.integers(0, 65535).map(lambda v: v / 10),
    cycles=st.integers(0, 65535),
    cell_voltages=st.lists(st.integers(1, 65535).map(lambda v: v / 1000), min_size=1, max_size=32),
    temperatures=st.lists(st.integers(-40, 215).map(float), min_size=0, max_size=8),
    mosfet_temperature=st.integers(-40, 215).map(float),
    balancing=st.booleans(),
    switches=st.fixed_dictionaries({"charge": st.booleans(), "discharge": st.booleans()}),
)


@FUZZ
@given(samples)
def test_encode_then_decode_is_the_identity(sample):
    regs = dm.encode_registers(sample, sw_version="V1", hw_version="H2")
    replies = [dm.build_read_reply(regs, block.start, block.count) for block in (dm.STATUS, dm.MOS_BLOCK, dm.VERSION)]
    back = dm.decode(*replies)
    assert back.cell_voltages == sample.cell_voltages
    assert back.temperatures == (sample.temperatures or None)
    for name in ("voltage", "current", "soc", "capacity_remaining", "mosfet_temperature"):
        assert getattr(back, name) == pytest.approx(getattr(sample, name)), name
    assert back.cycles == sample.cycles and back.switches == sample.switches and back.balancing == sample.balancing
    assert (back.device.sw_version, back.device.hw_version) == ("V1", "H2")


@FUZZ
@given(st.binary(max_size=600), st.lists(st.integers(1, 40), max_size=20))
def test_any_bytes_in_any_chunks_only_ever_raise_protocol_error(data, cuts):
    asm = dm.ModbusAssembler()
    pos, frames = 0, []
    for cut in [*cuts, len(data)]:
        asm.feed(data[pos : pos + cut])
        pos += cut
        frames += [f for f in drain(asm) if isinstance(f, bytes)]
    try:
        dm.decode_replies(frames)
    except ProtocolError:
        pass


@FUZZ
@given(st.lists(st.integers(0, 0xFFFF), min_size=62, max_size=80), st.binary(max_size=64))
def test_any_register_values_decode_or_raise_protocol_error(values, version):
    status = dm.build_read_reply(dict(enumerate(values)), 0, len(values))
    text = version.ljust(64, b"\xff")
    version_reply = dm.build_read_reply({i: int.from_bytes(text[2 * i : 2 * i + 2], "big") for i in range(32)}, 0, 32)
    try:
        s = dm.decode(status, None, version_reply)
    except ProtocolError:
        return
    assert 0 <= s.soc <= 100 and 1 <= len(s.cell_voltages) <= 32
