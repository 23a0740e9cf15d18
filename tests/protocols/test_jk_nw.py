"""JK NW codec on the recorded frames of tests/fixtures/jk_serial_nw.json, plus fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.model import DeviceInfo, Sample
from dbus_bms.protocols import jk_nw
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.framing import drain

from ..conftest import load_fixture

FIXTURE = load_fixture("jk_serial_nw.json")
FRAMES = {f["id"]: f for f in FIXTURE["frames"]}


def _decode_hex(hex_text: str) -> Sample:
    asm = jk_nw.NwAssembler()
    asm.feed(bytes.fromhex(hex_text))
    frame = asm.next_frame()
    assert frame is not None
    return jk_nw.decode(frame)


def test_read_all_request_is_the_documented_bytes():
    assert jk_nw.READ_ALL_REQUEST.hex() == "4e5700130000000006030000000000006800000129"
    for f in FIXTURE["frames"]:
        if f["request_hex"] and f["request_hex"].startswith("4e57001300"):
            assert jk_nw.READ_ALL_REQUEST.hex() == f["request_hex"], f["source"]


def test_esphome_14s_frame_matches_every_stated_value():
    f = FRAMES["esphome-jk_bms-common-STATUS_FRAME_14S"]  # source: syssi/esphome-jk-bms common.h
    e = f["expected"]
    s = _decode_hex(f["response_hex"])
    cells = s.cell_voltages
    assert len(cells) == e["cell_count"]
    for key, value in e.items():
        if key.startswith("cell_voltage_"):
            assert cells[int(key.rsplit("_", 1)[1]) - 1] == pytest.approx(value)
    assert min(cells) == pytest.approx(e["min_cell_voltage"])
    assert max(cells) == pytest.approx(e["max_cell_voltage"])
    assert cells.index(min(cells)) + 1 == e["min_voltage_cell"]
    assert cells.index(max(cells)) + 1 == e["max_voltage_cell"]
    assert max(cells) - min(cells) == pytest.approx(e["delta_cell_voltage"])
    assert sum(cells) / len(cells) == pytest.approx(e["average_cell_voltage"], abs=0.001)
    assert s.voltage == pytest.approx(e["total_voltage"])
    assert s.current == pytest.approx(e["current"])  # charging: positive, as Victron's sign
    # esphome rounds power to 2 decimals (111.47); we keep V × A.
    assert s.power == pytest.approx(e["power"], abs=0.01)
    assert s.mosfet_temperature == e["mosfet_temperature"]
    assert s.temperatures == [e["temperature_sensor_1"], e["temperature_sensor_2"]]
    assert len(s.temperatures) == e["temperature_sensor_count"]
    assert s.soc == e["state_of_charge"]
    assert s.capacity_full == e["full_charge_capacity"]
    assert s.capacity_remaining == pytest.approx(e["capacity_remaining"])
    assert s.cycles == e["charging_cycles"]
    assert s.alarms == {} and e["errors_bitmask"] == 0
    assert (s.charge_enabled, s.discharge_enabled, s.balancing) == (
        e["charging_switch"], e["discharging_switch"], e["balancing_switch"]
    )
    assert s.device.sw_version == e["software_version"]


def test_mpp_solar_14s_frame_matches_every_stated_value():
    f = FRAMES["mppsolar-jkserial-getBalancerData-tr1"]  # source: jblance/mpp-solar jkserial.py
    e = f["expected"]
    s = _decode_hex(f["response_hex"])
    assert [round(v * 1000) for v in s.cell_voltages] == e["cell_voltages_mv"]
    assert s.voltage == pytest.approx(e["voltage"])
    assert s.current == pytest.approx(e["current"])
    assert s.soc == e["soc"]
    assert s.cycles == e["num_cycles"]
    assert s.capacity_full == e["capacity"]
    assert s.temperatures == e["temperatures"]
    assert s.mosfet_temperature == e["mos_temperature"]
    sw = e["switches"]
    assert (s.charge_enabled, s.discharge_enabled, s.balancing) == (sw["charge"], sw["discharge"], sw["balance"])
    info = e["device_info"]
    assert s.device.sw_version == info["software_version"]
    # 0xBA is the factory user data followed by the factory device name: it names the model and
    # identifies nothing, like the 8-character device id "Input Us" that every such JK carries.
    assert info["manufacturer"] == "Input Userda" + s.device.model and s.device.model == "JK_B1A20S15P"
    assert info["device_id"] == "Input Us" and s.device.serial is None


def test_no_recorded_frame_gives_a_factory_text_as_serial():
    # Three different JKs among the captures carry the same 0xBA text of older firmware.
    for f in FIXTURE["frames"]:
        if f["checksum_ok"] and f.get("response_hex"):
            assert _decode_hex(f["response_hex"]).device.serial is None, f["id"]


def test_two_packs_whose_ids_share_their_first_8_characters_have_different_serials():
    def serial(name: str) -> str | None:
        sample = Sample(cell_voltages=[3.3] * 4, device=DeviceInfo(serial=name))
        return jk_nw.decode(jk_nw.encode_status(sample)).device.serial

    assert (serial("Shed bank 1"), serial("Shed bank 2")) == ("Shed bank 1", "Shed bank 2")
    # 0xB4, which holds only the first 8 characters, is the same for both.
    frames = [jk_nw.encode_status(Sample(cell_voltages=[3.3] * 4, device=DeviceInfo(serial=n)))
              for n in ("Shed bank 1", "Shed bank 2")]
    assert all(b"\xb4Shed ban" in f for f in frames)


@pytest.mark.parametrize("frame_id", [f["id"] for f in FIXTURE["frames"] if f["checksum_ok"] and not f["expected"]])
def test_frames_without_stated_values_decode(frame_id):
    s = _decode_hex(FRAMES[frame_id]["response_hex"])
    assert len(s.cell_voltages) == 13  # both are 13S packs (register 0x8A = 13)
    assert 40 < s.voltage < 56 and s.device.sw_version


def test_frame_with_a_bad_checksum_is_dropped_and_reported():
    f = FRAMES["esphome-jk-pdus-JK-BD6A17S6P-7.1.0H-1"]  # the source dump has a typo
    assert f["checksum_ok"] is False
    asm = jk_nw.NwAssembler()
    asm.feed(bytes.fromhex(f["response_hex"]))
    with pytest.raises(ProtocolError):
        asm.next_frame()


def test_frames_are_found_between_garbage_and_across_splits():
    good = bytes.fromhex(FRAMES["esphome-jk_bms-common-STATUS_FRAME_14S"]["response_hex"])
    stream = b"\x00\x4e\xff" + good + b"noise\x4e\x57\x00" + good
    asm = jk_nw.NwAssembler()
    found = []
    for i in range(0, len(stream), 7):
        asm.feed(stream[i : i + 7])
        found += [f for f in drain(asm) if isinstance(f, bytes)]
    assert found == [good, good]
    assert asm.discarded_bytes >= 3


def test_old_protocol_current_uses_the_offset():
    sample = Sample(current=-12.34, cell_voltages=[3.3] * 4)
    frame = jk_nw.encode_status(sample, protocol_version=0)
    assert jk_nw.decode(frame).current == pytest.approx(-12.34)


def test_truncated_register_list_is_a_protocol_error():
    good = bytes.fromhex(FRAMES["esphome-jk_bms-common-STATUS_FRAME_14S"]["response_hex"])
    data = good[11:-9]
    cut = jk_nw.build_frame(0x06, data[:-3], source=0x00, transport=1)
    with pytest.raises(ProtocolError):
        jk_nw.decode(cut)


samples = st.builds(
    Sample,
    voltage=st.floats(0, 650, allow_nan=False).map(lambda v: round(v, 2)),
    current=st.floats(-327, 327, allow_nan=False).map(lambda v: round(v, 2)),
    soc=st.integers(0, 100).map(float),
    capacity_full=st.integers(1, 2000).map(float),
    cycles=st.integers(0, 65535),
    cell_voltages=st.lists(st.floats(2.0, 4.3).map(lambda v: round(v, 3)), min_size=1, max_size=32),
    temperatures=st.lists(st.integers(-40, 100).map(float), min_size=2, max_size=2),
    mosfet_temperature=st.integers(-40, 100).map(float),
    charge_enabled=st.booleans(),
    discharge_enabled=st.booleans(),
    balancing=st.booleans(),
    alarms=st.sampled_from([{}, {"HighCellVoltage": 2}, {"LowSoc": 1, "CellImbalance": 2}]),
    device=st.just(DeviceInfo(model="JK-B2A24S15P", sw_version="10.XW_S10.08_", serial="ABCD1234")),
)


@given(samples)
def test_encode_then_decode_is_the_identity(sample):
    back = jk_nw.decode(jk_nw.encode_status(sample))
    for name in ("cycles", "cell_voltages", "temperatures", "mosfet_temperature", "charge_enabled",
                 "discharge_enabled", "balancing", "alarms", "soc", "capacity_full"):
        assert getattr(back, name) == getattr(sample, name), name
    assert (back.device.serial, back.device.sw_version) == (sample.device.serial, sample.device.sw_version)
    assert back.voltage == pytest.approx(sample.voltage, abs=0.006)
    assert back.current == pytest.approx(sample.current, abs=0.006)


@settings(max_examples=300)
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=20))
def test_any_bytes_in_any_chunks_only_ever_raise_protocol_error(data, cuts):
    asm = jk_nw.NwAssembler()
    pos = 0
    for cut in [*cuts, len(data)]:
        asm.feed(data[pos : pos + cut])
        pos += cut
        for frame in drain(asm):
            if isinstance(frame, bytes):
                try:
                    jk_nw.decode(frame)
                except ProtocolError:
                    pass


@given(st.binary(max_size=400))
def test_decode_of_arbitrary_bytes_only_raises_protocol_error(data):
    try:
        jk_nw.decode(data)
    except ProtocolError:
        pass
