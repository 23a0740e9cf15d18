"""JK PB over RS485 on the captured frames of tests/fixtures/jk_pb_rs485.json: the Modbus frames we
build and parse, the records and who sent them, a listening bus, and fuzzing of the stream."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbus_bms import cli
from dbus_bms.model import DeviceInfo, Sample
from dbus_bms.protocols import jk02, jk_pb
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.registry import decode_frames

from ..conftest import load_fixture

FIXTURE = load_fixture("jk_pb_rs485.json")
FRAMES = {f["id"]: f for f in FIXTURE["frames"]}
CELL, SETTINGS, DEVICE = jk02.TYPE_CELL_INFO, jk02.TYPE_SETTINGS, jk02.TYPE_DEVICE_INFO
KIND_OF_TYPE = {"cell info (0x02)": CELL, "settings (0x01)": SETTINGS, "device info (0x03)": DEVICE}
RECORD_FRAMES = [f["id"] for f in FIXTURE["frames"] if (f["response_hex"] or "").startswith("55aaeb90")]

_THOROUGH = os.environ.get("DBUS_BMS_THOROUGH") == "1"
FUZZ = settings(max_examples=1000 if _THOROUGH else 40, derandomize=not _THOROUGH, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def wire(frame_id: str) -> bytes:
    """What the bus carried for a fixture frame: the request (when captured), then the response."""
    f = FRAMES[frame_id]
    return bytes.fromhex(f["request_hex"] or "") + bytes.fromhex(f["response_hex"] or "")


def events(data: bytes, chunk: int | None = None) -> list:
    stream = jk_pb.PbStream()
    out = []
    for i in range(0, len(data), chunk or len(data) or 1):
        stream.feed(data[i : i + (chunk or len(data))])
        out += stream.events()
    return out


def attributed(data: bytes) -> list[jk_pb.Attributed]:
    attribution = jk_pb.Attribution()
    return [a for a in map(attribution.feed, events(data)) if a is not None]


def record_of(frame_id: str) -> bytes:
    (record,) = [e.record for e in events(wire(frame_id)) if isinstance(e, jk_pb.Record)]
    return record


# --- Requests and replies we build and parse ------------------------------------------------------

TRIGGER_FRAMES = [f["id"] for f in FIXTURE["frames"] if (f["request_hex"] or "")[2:6] == "1016"]


@pytest.mark.parametrize("frame_id", TRIGGER_FRAMES)
def test_trigger_requests_are_the_captured_bytes(frame_id):
    f = FRAMES[frame_id]  # source: f["source"]
    request = bytes.fromhex(f["request_hex"])
    (event,) = events(request)
    assert isinstance(event, jk_pb.Request)
    assert event.address == f["address"] == (f["expected"] or {}).get("target_address", f["address"])
    assert jk_pb.build_trigger(f["address"], event.kind) == request
    if f["id"] in RECORD_FRAMES:
        assert event.kind == record_of(frame_id)[4]


def test_the_trigger_registers_ask_for_the_documented_records():
    assert jk_pb.build_trigger(1, CELL).hex() == "011016200001020000d6f1"
    assert {jk_pb.build_trigger(3, kind)[2:4].hex(): kind for kind in (DEVICE, SETTINGS, CELL)} == {
        "161c": DEVICE, "161e": SETTINGS, "1620": CELL}
    with pytest.raises(ValueError, match="no trigger for record type 0x05"):
        jk_pb.build_trigger(1, 0x05)
    with pytest.raises(ValueError, match="not 0-15"):
        jk_pb.build_trigger(16, CELL)


CONTROL_WRITES = [f["id"] for f in FIXTURE["frames"] if f["id"].startswith(("syssi-fc16-", "tx-fc16-"))]
FIELD_REGISTER = {"BatChargeEN": jk_pb.REG_CHARGE, "BatDisChargeEN": jk_pb.REG_DISCHARGE, "BalanEN": jk_pb.REG_BALANCE}


@pytest.mark.parametrize("frame_id", CONTROL_WRITES)
def test_register_writes_are_the_documented_bytes(frame_id):
    f = FRAMES[frame_id]  # source: f["source"]
    e = f["expected"]
    register = int(e["register"], 16)
    request = bytes.fromhex(f["request_hex"])
    if "value_mV" in e:
        built, value = jk_pb.build_write_u32(f["address"], register, e["value_mV"]), e["value_mV"]
    elif isinstance(e["value"], str):  # the 16-bit switch bitmask, one register
        value = int(e["value"], 16)
        built = jk_pb.build_write(f["address"], register, value.to_bytes(2, "big"))
    else:
        built, value = jk_pb.build_write_u32(f["address"], register, e["value"]), e["value"]
        assert FIELD_REGISTER[e["field"]] == register
    assert built == request
    assert jk_pb.parse_frame(request) == jk_pb.Write(f["address"], register, request[7:-2])
    assert jk_pb.parse_frame(request).value == value


@pytest.mark.parametrize(
    "frame_id, register, count",
    [("jkdoc-fc03-example", 0x0005, 2), ("mm-fc03-read-0x1200-addr1", 0x1200, 10),
     ("mm-fc03-read-0x1400-addr1", 0x1400, 10), ("mm-fc03-read-0x1200-addr4", 0x1200, 10),
     ("syssi390-fc03-total-voltage", 0x1290, 2)],
)
def test_register_reads_are_the_documented_bytes(frame_id, register, count):
    f = FRAMES[frame_id]  # source: f["source"]
    e = f["expected"]
    assert jk_pb.build_read(f["address"], register, count).hex() == f["request_hex"]
    assert jk_pb.parse_frame(bytes.fromhex(f["request_hex"])) == jk_pb.Read(f["address"], register, count)
    assert e.get("register_count", count) == count and e.get("byte_count", 2 * count) == 2 * count
    assert e.get("responding_address", f["address"]) == f["address"]
    if "register" in e:
        assert int(e["register"], 16) == register


def test_the_documented_read_reply_holds_its_registers_big_endian():
    f = FRAMES["jkdoc-fc03-example"]  # source: JK's Modbus protocol document, section 5
    e = f["expected"]
    reply = jk_pb.parse_reply(bytes.fromhex(f["response_hex"]))
    assert reply == jk_pb.ReadReply(1, bytes.fromhex("11223344"))
    assert len(reply.data) == e["byte_count"]
    assert reply.uint32() == int(e["register_0x0005"], 16) << 16 | int(e["register_0x0006"], 16)
    assert jk_pb.build_read_reply(1, reply.data).hex() == f["response_hex"]
    with pytest.raises(ProtocolError, match="no UINT32 at byte 2"):
        reply.uint32(2)


@pytest.mark.parametrize("frame_id", ["mm-fc03-read-0x1200-addr1", "mm-fc03-read-0x1400-addr1"])
def test_a_read_reply_cut_short_waits_for_the_rest(frame_id):
    f = FRAMES[frame_id]  # source: f["source"]; only the reply's head was published
    head = bytes.fromhex(f["response_partial_hex"])
    stream = jk_pb.PbStream()
    stream.feed(head)
    assert stream.next_event() is None and stream.discarded_bytes == 0 and bytes(stream.buf) == head
    assert head[2] == f["expected"]["byte_count"]
    if "first_cell_voltages_mV" in f["expected"]:
        cells = [int.from_bytes(head[3 + 2 * i : 5 + 2 * i], "big") for i in range(3)]
        assert cells == f["expected"]["first_cell_voltages_mV"]
    else:
        assert head[3:].decode() == f["expected"]["ascii_head"][: len(head) - 3]


def test_the_documented_write_and_its_ack():
    f = FRAMES["jkdoc-fc10-example"]  # source: JK's Modbus protocol document, section 5
    e = f["expected"]
    data = b"".join(int(v, 16).to_bytes(2, "big") for v in e["values_written"])
    assert jk_pb.build_write(1, int(e["start_register"], 16), data).hex() == f["request_hex"]
    assert jk_pb.parse_reply(bytes.fromhex(f["response_hex"])) == jk_pb.Ack(1, 0x0020, e["register_count"])
    assert jk_pb.build_ack(1, 0x0020, 2).hex() == f["response_hex"]
    with pytest.raises(ProtocolError, match="a request where a reply was expected"):
        jk_pb.parse_reply(bytes.fromhex(f["request_hex"]))


ACK_FRAMES = [f["id"] for f in FIXTURE["frames"] if f["id"].startswith("eggcho-") and f["response_hex"]]
BLOCK_REGISTER = {"0x1620 cell info": 0x1620, "0x161E settings": 0x161E}


@pytest.mark.parametrize("frame_id", ACK_FRAMES)
def test_acks_name_the_pack(frame_id):
    f = FRAMES[frame_id]  # source: f["source"]
    e = f["expected"]
    ack = jk_pb.parse_reply(bytes.fromhex(f["response_hex"]))
    assert isinstance(ack, jk_pb.Ack) and ack.address == e["source_pack_address"]
    register = BLOCK_REGISTER.get(e.get("block"), 0x161C)
    assert ack == jk_pb.Ack(e["source_pack_address"], register, 1)
    assert jk_pb.build_ack(ack.address, register).hex() == f["response_hex"]


def test_exception_replies_carry_the_refused_function_and_why():
    frame = jk_pb.build_exception(2, jk_pb.FC_WRITE, 2)
    assert frame[:3].hex() == "029002"
    reply = jk_pb.parse_reply(frame)
    assert reply == jk_pb.ExceptionReply(2, jk_pb.FC_WRITE, 2) and reply.reason == "illegal register address"
    assert jk_pb.ExceptionReply(1, 3, 9).reason == "exception code 9"
    with pytest.raises(ProtocolError, match="good CRC"):
        jk_pb.parse_reply(frame[:-1] + bytes([frame[-1] ^ 1]))


def test_builders_refuse_what_modbus_cannot_carry():
    with pytest.raises(ValueError, match="whole registers"):
        jk_pb.build_write(1, 0x1070, b"\x01")
    with pytest.raises(ValueError, match="1 to 125 registers"):
        jk_pb.build_read(1, 0x1200, 126)


# --- Records and who sent them ---------------------------------------------------------------------


@pytest.mark.parametrize("frame_id", RECORD_FRAMES)
def test_every_captured_record_decodes_and_its_ack_names_its_pack(frame_id):
    f = FRAMES[frame_id]  # source: f["source"]
    found = attributed(wire(frame_id))
    record = record_of(frame_id)
    assert record[4] == KIND_OF_TYPE[f["record_type"]]
    if f["transport"] == "ble":  # a bare record: no ack, so no sender
        assert found == []
    else:
        assert found == [jk_pb.Attributed(f["address"], record[4], record)]
        assert f["checksum_detail"]["trailing_ack_address"] == f["address"]
    decoded = jk_pb.decode_record(record)
    assert isinstance(decoded, {CELL: Sample, SETTINGS: jk_pb.PbSettings, DEVICE: DeviceInfo}[record[4]])
    if isinstance(decoded, Sample):
        # The devices' descriptions give their cell counts (16S; the fw 15.10 pack 8 cells).
        assert len(decoded.cell_voltages) == (8 if "8 cells" in f["device"] else 16)
        assert sum(decoded.cell_voltages) == pytest.approx(decoded.voltage, abs=0.05)


def test_pad_bytes_are_skipped_and_counted():
    f = FRAMES["mm-status-addr3"]  # source: dbus-serialbattery's fw 15.41 capture: record, 00, ack
    assert f["checksum_detail"]["pad_before_ack_hex"] == "00"
    stream = jk_pb.PbStream()
    stream.feed(wire("mm-status-addr3") + b"\x00")  # the capture's doc adds a pad after the ack too
    assert [type(e) for e in stream.events()] == [jk_pb.Request, jk_pb.Record, jk_pb.Ack]
    assert stream.discarded_bytes == 1  # the last pad could still begin a frame
    stream.feed(jk_pb.build_trigger(1, CELL))
    assert list(stream.events()) == [jk_pb.Request(1, 0x1620)] and stream.discarded_bytes == 2


def test_the_fw_1541_settings_record_states_every_value():
    f = FRAMES["mm-settings-addr3"]  # source: JKBMS-PB.md's verified settings table
    e = f["expected"]
    values = jk_pb.settings_fields(record_of("mm-settings-addr3"))
    volts = {"smart_sleep_voltage": "smart_sleep_mV", "cell_uvp": "cell_uvp_mV", "cell_uvp_recovery": "cell_uvpr_mV",
             "cell_ovp": "cell_ovp_mV", "cell_ovp_recovery": "cell_ovpr_mV", "balance_trigger_voltage": "balance_trigger_mV",
             "soc_100_voltage": "soc100_mV", "soc_0_voltage": "soc0_mV", "cell_request_charge_voltage": "cell_rcv_mV",
             "cell_request_float_voltage": "cell_rfv_mV", "power_off_voltage": "power_off_mV",
             "balance_start_voltage": "balance_start_mV", "max_charge_current": "max_charge_current_mA",
             "max_discharge_current": "max_discharge_current_mA", "max_balance_current": "max_balance_current_mA",
             "nominal_capacity": "capacity_mAh"}
    seconds = {"charge_ocp_delay": "charge_ocp_delay_s", "charge_ocp_recovery": "charge_ocp_recovery_s",
               "discharge_ocp_delay": "discharge_ocp_delay_s", "discharge_ocp_recovery": "discharge_ocp_recovery_s",
               "scp_recovery": "scp_recovery_s", "cell_count": "cell_count", "charge_switch": "charge_enabled",
               "discharge_switch": "discharge_enabled", "balancer_switch": "balance_enabled"}
    tenths = {"charge_otp": "charge_ot_0p1C", "charge_otp_recovery": "charge_otr_0p1C", "discharge_otp": "discharge_ot_0p1C",
              "discharge_otp_recovery": "discharge_otr_0p1C", "charge_utp": "charge_ut_0p1C",
              "charge_utp_recovery": "charge_utr_0p1C", "mosfet_otp": "mos_ot_0p1C", "mosfet_otp_recovery": "mos_otr_0p1C"}
    for name, key in volts.items():
        assert values[name] == pytest.approx(e[key] / 1000), name
    for name, key in seconds.items():
        assert values[name] == e[key], name
    for name, key in tenths.items():
        assert values[name] == pytest.approx(e[key] / 10), name
    assert values["scp_delay"] == pytest.approx(e["scp_delay_us"] / 1e6)
    stated = set(volts.values()) | set(seconds.values()) | set(tenths.values()) | {"scp_delay_us", "frame_type_bytes_4_5"}
    assert stated == set(e), "a stated value without an assertion"
    assert int.from_bytes(record_of("mm-settings-addr3")[4:6], "little") == int(e["frame_type_bytes_4_5"], 16)
    s = jk_pb.decode_settings(record_of("mm-settings-addr3"))
    assert (s.cell_ovp, s.cell_uvp, s.max_charge_current, s.max_discharge_current) == (3.65, 2.7, 60.0, 100.0)
    assert (s.cell_count, s.charge_switch, s.balancer_switch, s.nominal_capacity) == (16, True, True, 280.0)
    assert s.device_address == f["address"] == 3  # DevAddr at 270, the same pack the ack names


def test_the_fw_1420_settings_record_states_its_leading_values():
    f = FRAMES["tx442-settings-addr1"]  # source: txubelaxu's annotated decode in mpp-solar#460
    e = f["expected"]
    record = record_of("tx442-settings-addr1")
    values = jk_pb.settings_fields(record)
    assert record[5] == e["counter"]
    for name, key in {"smart_sleep_voltage": "smart_sleep_mV", "cell_uvp": "cell_uvp_mV", "cell_uvp_recovery": "cell_uvpr_mV",
                      "cell_ovp": "cell_ovp_mV", "cell_ovp_recovery": "cell_ovpr_mV",
                      "balance_trigger_voltage": "balance_trigger_mV", "soc_100_voltage": "soc100_mV",
                      "soc_0_voltage": "soc0_mV", "cell_request_charge_voltage": "cell_rcv_mV",
                      "cell_request_float_voltage": "cell_rfv_mV", "power_off_voltage": "power_off_mV",
                      "max_charge_current": "max_charge_current_mA"}.items():
        assert values[name] == pytest.approx(e[key] / 1000), name
    assert values["charge_ocp_delay"] == e["charge_ocp_delay_s"]
    assert jk_pb.decode_settings(record).device_address == f["address"]


def test_device_info_takes_the_factory_serial_never_the_owners_name():
    f = FRAMES["mm-about-addr3"]  # source: dbus-serialbattery's fw 15.41 capture; values: JKBMS-PB.md
    e = f["expected"]
    record = record_of("mm-about-addr3")
    info = jk_pb.decode_record(record)
    assert info.model == e["manufacturer_device_id"] and info.sw_version == e["software_version"]
    assert int.from_bytes(record[4:6], "little") == int(e["frame_type_bytes_4_5"], 16)
    # Offset 46 holds the name the owner set ("BB02"); the factory serial sits at 86.
    assert record[46:50] == b"BB02"
    assert info.serial == "40119491480"
    assert info == DeviceInfo("JK_PB2A16S20P", "15A", "15.41", "40119491480")
    other = jk_pb.decode_record(record_of("mpp-about-addr1"))  # its description: hw 15.XA sw 15.10
    assert (other.model, other.hw_version, other.sw_version) == ("JK_PB2A16S15P", "15.XA", "15.10")
    assert other.serial != info.serial


@pytest.mark.parametrize("frame_id, block, kind, next_poll",
                         [("eggcho-probe-cellinfo-addr2", 0x1620, CELL, 4), ("eggcho-probe-about-addr2", 0x161C, DEVICE, 13)])
def test_a_probe_on_a_bus_with_a_master_gets_the_masters_next_poll_too(frame_id, block, kind, next_poll):
    f = FRAMES[frame_id]  # source: eggcho's jk-bms-active-probe output; the record bytes are elided
    e = f["expected"]
    assert jk_pb.build_trigger(2, kind).hex() == f["request_hex"]
    assert e["response_len"] == jk02.RECORD_LEN + jk_pb.ACK_LEN + jk_pb.TRIGGER_LEN
    head = bytes.fromhex(f["response_partial"]["head_hex"])
    stream = jk_pb.PbStream()
    stream.feed(head)
    assert stream.next_event() is None and bytes(stream.buf) == head  # a record's start waits for the rest
    if kind == DEVICE:
        assert head[6:].decode() == e["manufacturer_device_id"]
    tail = bytes.fromhex(f["response_partial"]["tail_hex"])
    assert [e for e in events(tail) if not isinstance(e, ProtocolError)] == [
        jk_pb.Ack(2, block), jk_pb.Request(next_poll, 0x1620)]


def test_a_pb_record_decodes_as_jk02_32s_with_victrons_current_sign():
    charging = jk_pb.decode_record(record_of("mpp-cellinfo-addr1"))
    assert charging.current > 0 and charging.capacity_full == 220.0  # the 8-cell 220 Ah pack, charging
    rig = jk_pb.decode_record(record_of("mm-status-addr3"))
    assert (rig.soc, rig.capacity_full) == (55, 280.0)  # JKBMS-PB.md: the rig at 55 %, 280 Ah
    assert rig == jk02.decode(record_of("mm-status-addr3"), "32s")


# --- A listening bus, and attribution ---------------------------------------------------------------


def listening_capture() -> bytes:
    """A master's cycle put together from captured frames of one bus (fw 14.20): its poll of an empty
    address, its own broadcast and ack-shaped frame, a slave's answers to its polls."""
    return (bytes.fromhex(FRAMES["tx-master-poll-addr2"]["request_hex"])
            + wire("tx460-master-broadcast-cellinfo")
            + wire("tx442-cellinfo-addr1-a")
            + wire("tx442-settings-addr1")
            + bytes.fromhex(FRAMES["tx-master-poll-addr15"]["request_hex"])
            + wire("mpp-utils-jk-response3-master-broadcast"))


@pytest.mark.parametrize("chunk", [None, 1, 7, 64, 299, 300, 301])
def test_a_listener_attributes_every_record_of_a_captured_cycle_whatever_the_chunking(chunk):
    attribution = jk_pb.Attribution()
    found = [a for a in map(attribution.feed, events(listening_capture(), chunk)) if a is not None]
    assert [(a.address, a.kind) for a in found] == [(0, CELL), (1, CELL), (1, SETTINGS), (0, CELL)]
    assert found[1].record == record_of("tx442-cellinfo-addr1-a")
    assert attribution.unattributed == 0


def test_a_record_without_its_ack_is_nobodys():
    attribution = jk_pb.Attribution()
    cell, settings_record = record_of("tx442-cellinfo-addr1-a"), record_of("tx442-settings-addr1")
    stream = (
        [jk_pb.Record(CELL, cell), jk_pb.Request(2, 0x1620)]  # the ack never came: the next poll did
        + [jk_pb.Record(CELL, cell), jk_pb.Ack(1, 0x161E)]  # an ack, but of another register
        + [jk_pb.Record(SETTINGS, settings_record), ProtocolError("corrupt"), jk_pb.Ack(1, 0x161E)]
        + [jk_pb.Record(CELL, cell), jk_pb.Record(CELL, cell), jk_pb.Ack(1, 0x1620)]  # the first one is lost
    )
    assert [a for a in map(attribution.feed, stream) if a] == [jk_pb.Attributed(1, CELL, cell)]
    assert attribution.unattributed == 4


def test_master_mode_takes_only_the_answer_it_asked_for():
    attribution = jk_pb.Attribution()
    cell = record_of("tx442-cellinfo-addr1-a")
    attribution.feed(jk_pb.Record(CELL, cell))  # stale: in the input before we asked
    attribution.expect(1, CELL)
    assert attribution.unattributed == 1
    assert attribution.feed(jk_pb.Ack(1, 0x1620)) is None  # the stale record's ack
    for item in (jk_pb.Request(1, 0x1620), jk_pb.Record(CELL, cell), jk_pb.Ack(2, 0x1620)):
        assert attribution.feed(item) is None  # another pack answered
    assert attribution.foreign == 1
    for item in (jk_pb.Record(CELL, cell), jk_pb.Ack(1, 0x1620)):
        found = attribution.feed(item)
    assert found == jk_pb.Attributed(1, CELL, cell)


# --- The stream ------------------------------------------------------------------------------------


def test_echo_stale_bytes_and_an_earlier_ack_in_front_of_a_record_are_skipped():
    request = bytes.fromhex(FRAMES["mpp-cellinfo-addr1"]["request_hex"])
    stale_ack = bytes.fromhex(FRAMES["eggcho-delimiter-0210161e"]["response_hex"])
    junk = request[3:] + b"\x00\xff\x55\xaa"  # a partial echo, noise, a broken header
    found = events(stale_ack + junk + request + bytes.fromhex(FRAMES["mpp-cellinfo-addr1"]["response_hex"]), chunk=5)
    assert [type(e) for e in found] == [jk_pb.Ack, jk_pb.Request, jk_pb.Record, jk_pb.Ack]
    stream = jk_pb.PbStream()
    stream.feed(junk)
    assert list(stream.events()) == [] and stream.discarded_bytes == len(junk) - 2  # 55 AA may begin a header


def test_a_corrupt_record_is_one_error_and_the_stream_resyncs():
    good = wire("tx442-cellinfo-addr1-a")
    bad = bytearray(good)
    bad[11 + 100] ^= 0x01  # one bit of the record
    found = events(bytes(bad) + good)
    # The corrupt record's ack still comes through; with no record before it, it names no one's.
    assert [type(e) for e in found] == [jk_pb.Request, ProtocolError, jk_pb.Ack, jk_pb.Request, jk_pb.Record, jk_pb.Ack]
    truncated = good[: 11 + 287]  # an FT232R adapter cuts records short
    found = events(truncated + good, chunk=16)
    assert [type(e) for e in found][-3:] == [jk_pb.Request, jk_pb.Record, jk_pb.Ack]


@FUZZ
@given(st.binary(max_size=1500), st.lists(st.integers(1, 400), min_size=1, max_size=10))
def test_any_bytes_in_any_chunks_never_raise_and_never_pile_up(noise, cuts):
    data = noise + listening_capture() + noise
    stream = jk_pb.PbStream()
    found, i, n = [], 0, 0
    while i < len(data):
        size = cuts[n % len(cuts)]
        stream.feed(data[i : i + size])
        found += [e for e in stream.events() if not isinstance(e, ProtocolError)]
        assert len(stream.buf) < jk02.RECORD_LEN
        i, n = i + size, n + 1
    # The captured cycle comes through whatever the noise around it; noise may add frames of its own.
    records = [e.record for e in found if isinstance(e, jk_pb.Record)]
    for record in (record_of("tx460-master-broadcast-cellinfo"), record_of("tx442-settings-addr1")):
        assert record in records


@FUZZ
@given(st.binary(max_size=800))
def test_the_same_bytes_give_the_same_events_in_any_chunks(data):
    whole = events(data)
    assert [repr(e) for e in events(data, chunk=1)] == [repr(e) for e in whole]


# --- dbus-bms decode --protocol jk_pb ---------------------------------------------------------------


def test_decode_takes_a_record_with_or_without_its_ack_and_pads():
    bare = record_of("mm-status-addr3").hex()
    framed = FRAMES["mm-status-addr3"]["response_hex"] + "00"
    assert decode_frames("jk_pb", [bytes.fromhex(bare)]) == decode_frames("jk_pb", [bytes.fromhex(framed)])
    sample = decode_frames("jk_pb", [wire("mm-about-addr3"), wire("mm-settings-addr3"), wire("mm-status-addr3")])
    assert sample.device == DeviceInfo("JK_PB2A16S20P", "15A", "15.41", "40119491480")
    assert (sample.bms_settings.max_charge_current, sample.bms_settings.max_discharge_current) == (60.0, 100.0)
    assert sample.switches == {"charge": True, "discharge": True, "balance": True}
    assert sample.soc == 55 and len(sample.cell_voltages) == 16
    with pytest.raises(ProtocolError, match="no complete JK PB record"):
        decode_frames("jk_pb", [bytes.fromhex(FRAMES["eggcho-delimiter-02101620"]["response_hex"])])
    with pytest.raises(ProtocolError, match="bad checksum"):
        decode_frames("jk_pb", [bytes.fromhex(bare[:-2] + "00")])


def test_decode_command_line(capsys):
    assert cli.main(["decode", "--protocol", "jk_pb", FRAMES["mpp-cellinfo-addr1"]["response_hex"], "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["cell_voltages"]) == 8 and out["capacity_full"] == 220.0
    assert cli.main(["decode", "--list"]) == 0
    assert "jk_pb" in capsys.readouterr().out
