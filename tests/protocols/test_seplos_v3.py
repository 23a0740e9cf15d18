"""Seplos v3 codec on the frames of tests/fixtures/seplos_v3.json, its event bits, and fuzzing.

Most esphome frames are payloads only (no address, function, count or CRC): the tests wrap them
in the reply envelope a pack at address 0 sends (``_wrapped``), and say so. The esphome pack
frames carry a placeholder CRC, which ``_resealed`` replaces. The protocol document's examples
are whole frames with good CRCs.
"""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.model import ALARM_ALARM, ALARM_WARNING, BmsSettings, DeviceInfo, Sample
from dbus_bms.protocols import seplos_v3 as v3
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.framing import drain
from dbus_bms.protocols.crc import crc16
from dbus_bms.protocols.registry import decode_frames

from ..conftest import load_fixture

FRAMES = {f["id"]: f for f in load_fixture("seplos_v3.json")["frames"]}
_THOROUGH = os.environ.get("DBUS_BMS_THOROUGH") == "1"
FUZZ = settings(max_examples=500 if _THOROUGH else 40, derandomize=not _THOROUGH, deadline=None)


def esphome(name: str) -> dict:
    # source: syssi/esphome-seplos-bms tests/components/seplos_bms_v3_ble(_pack)/frames.h
    return FRAMES[next(k for k in FRAMES if k.endswith(f"-{name}"))]


def document(block: str) -> dict:
    # source: XZH (Seplos) BMS Modbus-RTU protocol V0.3, section 5
    return FRAMES[f"xzh-protocol-v0.3-{block}"]


def _wrapped(block: v3.Block, payload_hex: str, address: int = 0) -> bytes:
    """A payload-only frame in the envelope a pack sends it in."""
    return v3.build_reply(address, block, bytes.fromhex(payload_hex))


def _resealed(frame_hex: str) -> bytes:
    body = bytes.fromhex(frame_hex)[:-2]
    return body + struct.pack("<H", crc16(body))


def _cut(block: v3.Block, frame: bytes, address: int = 0) -> bytes:
    rx = v3.ReplyAssembler(address, block)
    rx.feed(frame)
    found = rx.next_frame()
    assert found == frame and rx.next_frame() is None and rx.discarded_bytes == 0
    return v3.reply_data(found, block)


def test_requests_are_the_documented_bytes():
    for name, block in (("PIA", v3.PIA), ("PIB", v3.PIB), ("PIC", v3.PIC), ("EIA", v3.EIA), ("EIC", v3.EIC)):
        request = bytes.fromhex(document(name)["request_hex"])
        if block is v3.PIA:
            # The document asks for 18 registers where the block has 17: the same read but its count.
            assert v3.build_read(0, block)[:5] == request[:5]
            assert v3.parse_request(request) == v3.Request(0, v3.FC_INPUTS, 0x1000, 0x12)
        else:
            assert v3.build_read(0, block) == request
            assert v3.parse_request(request).block == block


def test_the_documented_pack_frames_decode_to_their_stated_values():
    pia = document("PIA")
    frame = bytes.fromhex(pia["response_hex"])
    # 18 registers: the PIA block and one reserved register after it.
    rx = v3.ReplyAssembler(0, v3.Block("PIA", v3.FC_INPUTS, 0x1000, 0x12))
    rx.feed(frame)
    data = rx.next_frame()[3:-2]
    pib = _cut(v3.PIB, bytes.fromhex(document("PIB")["response_hex"]))
    pic = _cut(v3.PIC, bytes.fromhex(document("PIC")["response_hex"]))
    sample = v3.decode_pack(data, pib, pic)
    e, b = pia["expected"], document("PIB")["expected"]
    assert (sample.voltage, sample.current, sample.capacity_remaining, sample.capacity_full) == (
        e["pack_voltage"], e["current"], e["remaining_capacity"], e["total_capacity"])
    assert (sample.soc, sample.soh, sample.cycles) == (e["soc"], e["soh"], e["cycles"])
    assert sample.cell_voltages == b["cell_voltages"]
    assert sample.temperatures == b["cell_temperatures"]
    assert sample.mosfet_temperature == b["power_temperature"]
    assert v3.decode_values(data, pib).ambient_temperature == b["ambient_temperature"]
    # PIC: standby, both FETs on, no alarm.
    assert (sample.charge_enabled, sample.discharge_enabled, sample.alarms, sample.conditions) == (True, True, {}, ())
    assert sample.cell_balancing == [False] * 16 and sample.balancing is False


def test_the_esphome_pack_frames_decode_to_their_stated_values():
    pia, pib = esphome("PACK_PIA_FRAME"), esphome("PACK_PIB_FRAME")
    a = _cut(v3.PIA, _resealed(pia["response_hex"]), address=1)
    b = _cut(v3.PIB, _resealed(pib["response_hex"]), address=1)
    values = v3.decode_values(a, b)
    e = pia["expected"]
    assert (values.voltage, values.current, values.soc, values.cycles) == (
        e["pack_voltage"], e["pack_current"], e["pack_battery_level"], e["pack_cycle"])
    e = pib["expected"]
    assert values.cells[:4] == [e[f"pack_cell_voltage_{i}"] for i in range(1, 5)]
    # esphome counts 0 °C as 2731.5 raw, the protocol document as 2731: they differ by 0.05 °C.
    stated = [e[f"pack_temperature_{i}"] for i in range(1, 5)] + [e["ambient_temperature"], e["mosfet_temperature"]]
    got = [*values.cell_temperatures, values.ambient_temperature, values.mosfet_temperature]
    assert got == pytest.approx(stated, abs=0.051)


@pytest.mark.parametrize("name", ["EIA_DATA", "EIA_DATA_DISCHARGING", "EIA_DATA_IDLE"])
def test_the_system_summary_payloads_decode_to_their_stated_values(name):
    f = esphome(name)
    system = v3.decode_eia(_cut(v3.EIA, _wrapped(v3.EIA, f["payload_hex"])))
    e = f["expected"]
    assert system.current == e["current"]
    if "total_voltage" in e:
        assert system.voltage == e["total_voltage"]
    if name == "EIA_DATA":
        assert (system.capacity_remaining, system.capacity_full, system.rated_capacity) == (
            e["capacity_remaining"], e["total_capacity"], e["rated_capacity"])
        assert (system.soc, system.soh, system.cycles, system.packs) == (
            e["state_of_charge"], e["state_of_health"], e["charging_cycles"], e["pack_count"])
        assert (system.max_charge_current, system.max_discharge_current) == (e["max_charge_current"], e["max_discharge_current"])


def test_the_documented_system_summary():
    system = v3.decode_eia(_cut(v3.EIA, bytes.fromhex(document("EIA")["response_hex"])))
    e = document("EIA")["expected"]
    assert system == v3.System(
        e["pack_voltage"], e["current"], e["remaining_capacity"], e["total_capacity"], e["rated_capacity"],
        e["max_discharge_current"], e["max_charge_current"], e["pack_count"], e["cycles"], e["soc"], e["soh"])


@pytest.mark.parametrize(("name", "alarms", "conditions", "fets"), [
    ("EIC_DATA_NO_PROBLEM", {}, [], (False, False)),
    # esphome: "temperature protection"; the bit is the charge high temperature alarm.
    ("EIC_DATA_WITH_PROBLEM", {"HighChargeTemperature": ALARM_WARNING}, ["charge high temperature alarm"], (False, False)),
    # Standby, both FETs on and a bit the protocol reserves: no problem.
    ("EIC_DATA_STATUS_ONLY", {}, ["reserved switch bit 6"], (True, True)),
    ("EIC_DATA_HEATING", {}, ["cell heating at low temperature"], (False, False)),
])
def test_the_event_payloads_say_what_their_source_states(name, alarms, conditions, fets):
    events = v3.decode_events(_cut(v3.EIC, _wrapped(v3.EIC, esphome(name)["payload_hex"])))
    assert (events.found.alarms, events.found.conditions) == (alarms, conditions)
    assert (events.charge_enabled, events.discharge_enabled) == fets
    documented = v3.decode_events(_cut(v3.EIC, bytes.fromhex(document("EIC")["response_hex"])))
    assert (documented.charge_enabled, documented.discharge_enabled, documented.found.alarms) == (True, True, {})


def test_the_settings_payloads_decode_to_their_stated_values():
    # SPA in two halves of 0x35 registers (as BLE tools read it), one after the other.
    one, two = esphome("SPA_DATA_1"), esphome("SPA_DATA_2")
    data = bytes.fromhex(one["payload_hex"] + two["payload_hex"])
    spa = v3.decode_spa(_cut(v3.SPA, v3.build_reply(2, v3.SPA, data), address=2))
    e, p = one["expected"], spa.protections
    assert (spa.cells, spa.sensors) == (e["cell_count"], e["temperature_sensor_count"])
    assert (p.cell_ovp, p.cell_ovp_recovery) == (e["cell_overvoltage_protection_voltage"], e["cell_overvoltage_recovery_voltage"])
    assert (p.cell_uvp, p.cell_uvp_recovery) == (e["cell_undervoltage_protection_voltage"], e["cell_undervoltage_recovery_voltage"])
    assert (p.max_charge_current, p.max_discharge_current) == (e["charge_overcurrent_protection"], e["discharge_overcurrent_protection"])
    assert p.charge_max_temperature == e["charge_overtemperature_protection"]
    e = two["expected"]
    assert p.discharge_max_temperature == e["discharge_overtemperature_protection"]
    assert (p.balance_start_voltage, p.balance_trigger_voltage) == (e["balancing_start_voltage"], e["balancing_start_difference"])
    assert (spa.request_charge_current, spa.request_discharge_current) == (
        e["inverter_charge_current_limit"], e["inverter_discharge_current_limit"])


def test_the_inverter_protocol_payload():
    f = esphome("PCT_DATA")
    pct = v3.decode_pct(_cut(v3.PCT, _wrapped(v3.PCT, f["payload_hex"])))
    e = f["expected"]
    assert pct == v3.InverterProtocol(e["inverter_protocol"], e["inverter_baud_rate"], e["inverter_name"],
                                      e["inverter_protocol_name"], e["inverter_protocol_version"])


def test_every_event_bit_raises_its_alarm_with_its_place():
    pic = bytearray(v3.PIC.byte_count)
    pic[2] = 0x40  # cell 7 high
    pic[v3.PIC_EVENTS_AT + 1] = 0x02  # cell over-voltage protection
    pic[v3.PIC_EVENTS_AT + 4] = 0x08  # discharge over-current alarm
    pic[v3.PIC_EVENTS_AT + 9] = 0x20  # open wire
    pic[5] = 0x03  # sensors 1 and 2 high
    events = v3.decode_pic(bytes(pic))
    assert events.found.alarms == {"HighCellVoltage": ALARM_ALARM, "HighDischargeCurrent": ALARM_WARNING,
                                   "InternalFailure": ALARM_ALARM}
    assert events.found.conditions == ["cell over-voltage protection, cell 7", "discharge over-current alarm",
                                       "balance wire open", "cell temperature high, sensor 1, 2"]
    for table in v3.EVENT_TABLES:
        for bit, entry in table.bits.items():
            word = 1 << bit
            found = v3.decode_events(bytes(word if t is table else 0 for t in v3.EVENT_TABLES))
            assert found.found.conditions == [entry.text]
            assert found.found.alarms == ({entry.alarm: entry.level} if entry.alarm else {})


def test_round_trip_through_the_encoders():
    sample = Sample(voltage=53.12, current=-12.34, soc=61.5, soh=99.0, capacity_remaining=61.2, capacity_full=99.5,
                    cycles=17, cell_voltages=[3.32] * 15 + [3.36], cell_balancing=[False] * 15 + [True],
                    temperatures=[21.5, 22.0], mosfet_temperature=30.1, charge_enabled=False, discharge_enabled=True,
                    alarms={"LowSoc": ALARM_WARNING, "HighTemperature": ALARM_ALARM})
    protections = BmsSettings(cell_ovp=3.65, cell_uvp=2.7, max_charge_current=100.0, max_discharge_current=150.0,
                              cell_count=16, nominal_capacity=100.0, charge_max_temperature=50.0)
    settings_ = v3.decode_spa(v3.encode_spa(protections, sensors=2))
    got = v3.decode_pack(v3.encode_pia(sample), v3.encode_pib(sample), v3.encode_pic(sample), settings_)
    for name in ("voltage", "current", "soc", "soh", "capacity_remaining", "capacity_full", "cycles", "cell_voltages",
                 "cell_balancing", "temperatures", "mosfet_temperature", "charge_enabled", "discharge_enabled", "alarms"):
        assert getattr(got, name) == getattr(sample, name), name
    assert got.balancing is True and got.bms_settings.max_discharge_current == 150.0
    info = v3.decode_via(v3.encode_via(DeviceInfo(model="SP51B48100", sw_version="1.6", serial="SN0042")))
    assert info == DeviceInfo(model="SP51B48100", sw_version="1.6", serial="SN0042")


def test_the_reply_is_found_behind_an_echo_junk_and_another_packs_answer_across_splits():
    ours = v3.build_reply(2, v3.PIC, bytes(18))
    other = v3.build_reply(1, v3.PIC, bytes(18))
    stream = v3.build_read(2, v3.PIC) + b"\x02\x01\x12\xff" + other + ours
    for split in range(1, len(stream)):
        rx = v3.ReplyAssembler(2, v3.PIC)
        found = []
        for part in (stream[:split], stream[split:]):
            rx.feed(part)
            found += list(drain(rx))
        frames = [f for f in found if isinstance(f, bytes)]
        assert frames == [ours], split
        # The echo, the junk and the other pack's reply are dropped and counted; the stub that
        # looked like our reply is one bad frame.
        assert rx.discarded_bytes == len(stream) - len(ours)
        assert sum(isinstance(f, ProtocolError) for f in found) == 1


def test_a_refusal_says_why():
    frame = v3.build_exception(4, v3.FC_INPUTS, 0x02)
    rx = v3.ReplyAssembler(4, v3.VIA)
    rx.feed(frame)
    with pytest.raises(ProtocolError, match="pack 4 refused the VIA read: illegal data address"):
        v3.reply_data(rx.next_frame(), v3.VIA)


@pytest.mark.parametrize("at", range(0, 57))
def test_a_flipped_bit_anywhere_in_a_reply_is_never_a_reading(at):
    frame = bytearray(bytes.fromhex(document("PIB")["response_hex"]))
    frame[at] ^= 0x04
    rx = v3.ReplyAssembler(0, v3.PIB)
    rx.feed(bytes(frame))
    assert [f for f in drain(rx) if isinstance(f, bytes)] == []


def test_impossible_values_are_protocol_errors():
    with pytest.raises(ProtocolError, match="17 bytes"):
        v3.decode_values(bytes(17), bytes(52))
    with pytest.raises(ProtocolError, match="0 cells"):
        v3.decode_values(bytes(34), bytes(52))
    with pytest.raises(ProtocolError, match="of 20 cells"):
        v3.decode_spa(struct.pack(">HH", 4, 20) + bytes(2 * v3.SPA.count - 4))
    with pytest.raises(ValueError, match="not 0-15"):
        v3.build_read(16, v3.PIA)


@FUZZ
@given(st.binary(max_size=400), st.lists(st.integers(1, 64), max_size=8))
def test_any_bytes_in_any_chunks_give_frames_or_protocol_errors(data, cuts):
    for block in (v3.PIA, v3.PIB, v3.PIC, v3.SPA):
        rx = v3.ReplyAssembler(1, block)
        at = 0
        for n in [*cuts, len(data)]:
            rx.feed(data[at : at + n])
            at += n
            for item in drain(rx):
                if isinstance(item, bytes):
                    try:
                        v3.reply_data(item, block)
                    except ProtocolError:
                        pass
        assert len(rx.buf) < block.byte_count + 5
    requests = v3.RequestAssembler()
    requests.feed(data)
    for frame in drain(requests):
        v3.parse_request(frame)


@FUZZ
@given(st.binary(min_size=34, max_size=36), st.binary(min_size=52, max_size=52), st.binary(min_size=18, max_size=18),
       st.binary(min_size=212, max_size=212), st.binary(min_size=72, max_size=72))
def test_any_block_contents_decode_or_raise_a_protocol_error(pia, pib, pic, spa, via):
    try:
        settings_ = v3.decode_spa(spa)
    except ProtocolError:
        settings_ = None
    try:
        sample = v3.decode_pack(pia, pib, pic, settings_)
    except ProtocolError:
        return
    assert all(0 <= v <= 65.535 for v in sample.cell_voltages)
    v3.decode_via(via)


def test_one_poll_through_the_decode_registry():
    frames = [bytes.fromhex(document(name)["request_hex"]) for name in ("PIA",)]
    frames += [bytes.fromhex(document(name)["response_hex"]) for name in ("PIA", "PIB", "PIC")]
    sample = decode_frames("seplos_v3", frames)
    assert sample.voltage == 52.81 and len(sample.cell_voltages) == 16 and sample.device is None
    via = v3.build_reply(0, v3.VIA, v3.encode_via(DeviceInfo(model="SP51B48100", sw_version="1.6", serial="SN1")))
    assert decode_frames("seplos_v3", [*frames, via]).device.serial == "SN1"
    with pytest.raises(ProtocolError, match="no PIC reply"):
        decode_frames("seplos_v3", frames[:-1])
