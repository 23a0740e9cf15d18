"""JK 300-byte records, JK02_32S and JK02_24S layouts, on tests/fixtures/jk_ble_jk02_{32s,24s}.json;
the settings record, the layout choice, and encoders that our decoders read back."""

from __future__ import annotations

import re
import statistics
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.model import ALARM_ALARM, DeviceInfo, Sample
from dbus_bms.protocols import jk02
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.framing import drain

from ..conftest import load_fixture

FIXTURE = load_fixture("jk_ble_jk02_32s.json")
FRAMES = {f["id"]: f for f in FIXTURE["frames"]}
FIXTURE_24S = load_fixture("jk_ble_jk02_24s.json")
FRAMES_24S = {f["id"]: f for f in FIXTURE_24S["frames"]}
ALL_FRAMES = {**FRAMES, **FRAMES_24S}
LAYOUT_OF = {**{k: "32s" for k in FRAMES}, **{k: "24s" for k in FRAMES_24S}}


def record(frame_id: str) -> bytes:
    asm = jk02.RecordAssembler()
    asm.feed(bytes.fromhex(ALL_FRAMES[frame_id]["response_hex"]))
    rec = asm.next_frame()
    assert rec is not None
    return rec


def decoded(frame_id: str):
    return jk02.decode(record(frame_id), LAYOUT_OF[frame_id])


def fields(frame_id: str) -> dict[str, float]:
    return jk02.cell_info_fields(record(frame_id), LAYOUT_OF[frame_id])


def seconds(dhms: str) -> int:
    """mpp-solar's uptime text ("16D18H39M52S") in seconds."""
    d, h, m, s = map(int, re.fullmatch(r"(\d+)D(\d+)H(\d+)M(\d+)S", dhms).groups())
    return ((d * 24 + h) * 60 + m) * 60 + s


def test_requests_are_the_documented_bytes():
    assert jk02.build_command(0x96).hex() == "aa5590eb960000000000000000000000000000" + "10"
    assert jk02.build_command(0x97).hex() == "aa5590eb970000000000000000000000000000" + "11"


def test_requests_are_read_back_through_junk_and_a_corrupt_one_is_refused():
    rx = jk02.CommandAssembler()
    bad = bytearray(jk02.build_command(0x96))
    bad[-1] ^= 0xFF
    stream = b"AT\r\n" + jk02.build_command(0x97) + bytes(bad) + jk02.build_command(0x96)
    for i in range(0, len(stream), 7):
        rx.feed(stream[i : i + 7])
    assert rx.next_frame() == jk02.build_command(0x97)
    with pytest.raises(ProtocolError, match="bad checksum"):
        rx.next_frame()
    assert rx.next_frame() == jk02.build_command(0x96) and rx.next_frame() is None


# aiobmsble keys → our Sample: the values aiobmsble's own tests assert for the same record.
@pytest.mark.parametrize("frame_id", ["aiobmsble-JK02_32S-cellinfo", "aiobmsble-JK02_24S-cellinfo"])
def test_aiobmsble_cell_info_matches(frame_id):
    e = ALL_FRAMES[frame_id]["expected"]  # source: patman15/aiobmsble tests
    s = decoded(frame_id)
    assert s.voltage == pytest.approx(e["voltage"])
    assert s.current == pytest.approx(e["current"])
    assert s.soc == e["battery_level"]
    assert s.soh == e["battery_health"]
    assert s.capacity_remaining == pytest.approx(e["cycle_charge"])
    assert s.capacity_full == e["design_capacity"]
    assert s.cycles == e["cycles"]
    assert s.cell_voltages == e["cell_voltages"] and len(s.cell_voltages) == e["cell_count"]
    # aiobmsble reads the record's own cell delta, which in the 24s record (5 mV) is older than
    # its cell voltages (6 mV apart).
    assert fields(frame_id)["delta_cell_voltage"] == e["delta_voltage"]
    assert (s.charge_enabled, s.discharge_enabled) == (e["chrg_mosfet"], e["dischrg_mosfet"])
    assert s.balancing == e["balancer"]
    assert s.alarms == {} and e["problem_code"] == 0 and e.get("problem", False) is False
    assert s.power == pytest.approx(e["power"], abs=0.01)
    assert (s.current > 0) == e.get("battery_charging", s.current > 0)
    # aiobmsble computes these from values it read: Wh from Ah × V, the mean of its temperatures.
    if "cycle_capacity" in e:
        assert s.capacity_remaining * s.voltage == pytest.approx(e["cycle_capacity"], abs=0.01)
    assert fields(frame_id)["balance_current"] == pytest.approx(e.get("balance_current", 0.0))
    if "runtime" in e:  # aiobmsble's time to empty: remaining charge over the discharge current
        assert int(s.capacity_remaining / -s.current * 3600) == e["runtime"]
    # aiobmsble's temperatures in its order: 32s MOSFET, T1, T2 and a second MOSFET sensor (byte
    # 254, which we do not carry); 24s T1, T2, MOSFET. It reports the sensors present (temp_sensors)
    # by a mask; we tell an absent sensor by its -200 °C reading.
    mosfet = [s.mosfet_temperature]
    ours = mosfet + s.temperatures if LAYOUT_OF[frame_id] == "32s" else s.temperatures + mosfet
    assert e["temp_values"][:3] == ours
    if len(e["temp_values"]) == 3:  # its mean temperature, where we carry every sensor it averages
        assert statistics.mean(ours) == pytest.approx(e["temperature"], abs=1e-3)


@pytest.mark.parametrize("frame_id", [k for k in ALL_FRAMES if k.startswith("aiobmsble") and "devinfo" in k])
def test_aiobmsble_device_info_matches(frame_id):
    e = ALL_FRAMES[frame_id]["expected"]
    info = decoded(frame_id)
    assert isinstance(info, DeviceInfo)
    assert (info.model, info.hw_version, info.sw_version) == (e["model"], e["hw_version"], e["sw_version"])
    # aiobmsble cuts the serial field to 8 bytes; the record holds 11 and users with several packs
    # need all of them to tell packs apart. Its "name" (the Bluetooth name) we do not carry.
    assert info.serial.startswith(e["serial_number"]) and len(info.serial) >= len(e["serial_number"])
    assert jk02.layout_for_firmware(info.sw_version, info.hw_version) == LAYOUT_OF[frame_id]


@pytest.mark.parametrize("frame_id", [k for k in ALL_FRAMES if k.startswith("esphome") and "DEVICE_INFO" in k])
def test_esphome_device_info_matches(frame_id):
    e = ALL_FRAMES[frame_id]["expected"]
    info = decoded(frame_id)
    assert (info.hw_version, info.sw_version) == (e["hardware_version"], e["software_version"])
    assert jk02.layout_for_firmware(info.sw_version, info.hw_version) == LAYOUT_OF[frame_id]


# esphome's sensors that we carry outside a Sample's fields (read from the record by cell_info_fields).
ESPHOME_FIELDS = {"total_runtime": "runtime"}
# Stated values we do not carry: logbook count and battery type (JK02_32S only).
ESPHOME_NOT_CARRIED = {"detail_log_entry_count", "battery_type_id", "battery_type"}


@pytest.mark.parametrize("frame_id", [k for k in ALL_FRAMES if k.startswith("esphome") and "CELL_INFO" in k])
def test_esphome_cell_info_matches(frame_id):
    e = ALL_FRAMES[frame_id]["expected"]  # source: syssi/esphome-jk-bms jk_bms_ble tests
    s = decoded(frame_id)
    raw = fields(frame_id)
    cells = s.cell_voltages
    checks = {
        "total_voltage": s.voltage, "current": s.current, "mosfet_temperature": s.mosfet_temperature,
        "temperature_1": s.temperatures[0], "temperature_2": s.temperatures[1], "state_of_charge": s.soc,
        "capacity_remaining": s.capacity_remaining, "full_charge_capacity": s.capacity_full,
        "charging_cycles": s.cycles, "charging": s.charge_enabled, "discharging": s.discharge_enabled,
        "min_cell_voltage": min(cells), "max_cell_voltage": max(cells),
        "min_voltage_cell": cells.index(min(cells)) + 1, "max_voltage_cell": cells.index(max(cells)) + 1,
        "delta_cell_voltage": max(cells) - min(cells), "heating": bool(raw["heating"]),
        **{key: raw[name] for key, name in ESPHOME_FIELDS.items()},
    }
    for key, value in e.items():
        if key.startswith("cell_voltage_"):
            assert cells[int(key.rsplit("_", 1)[1]) - 1] == pytest.approx(value), key
        elif key not in ESPHOME_NOT_CARRIED:
            assert checks[key] == pytest.approx(value, abs=1e-3), key


COMMENTED = [k for k, f in ALL_FRAMES.items() if "CELL_INFO" in k and f.get("expected_from_comment")]


@pytest.mark.parametrize("frame_id", COMMENTED)
def test_esphome_frame_comments_match(frame_id):
    c = ALL_FRAMES[frame_id]["expected_from_comment"]  # the human summary above each esphome frame
    s = decoded(frame_id)
    raw = fields(frame_id)
    cells = s.cell_voltages
    ours = {
        "total": s.voltage, "current": s.current, "cell_min": min(cells), "cell_max": max(cells),
        "delta": max(cells) - min(cells), "T1": s.temperatures[0], "T2": s.temperatures[1],
        "MOS": s.mosfet_temperature, "SOC": s.soc, "SOH": s.soh, "cap_rem": s.capacity_remaining,
        "nom_cap": s.capacity_full, "cycles": s.cycles, "runtime": raw["runtime"],
        "charging": s.charge_enabled, "discharging": s.discharge_enabled, "heating": bool(raw["heating"]),
    }
    assert set(c) == set(ours)
    for key, value in c.items():
        assert ours[key] == pytest.approx(value, abs=1e-3), key


def test_mppsolar_24s_cell_data_matches():
    f = FRAMES_24S["mppsolar-jk02-getCellData"]  # source: jblance/mpp-solar test_protocol_jk02.py
    e = f["expected"]
    rec = record(f["id"])
    s = decoded(f["id"])
    raw = fields(f["id"])
    cells = s.cell_voltages
    assert (rec[:4].hex(), rec[4], rec[5]) == (e["Header"], int(e["Record_Type"]), e["Record_Counter"])
    for n in range(1, 25):
        stated = e[f"Voltage_Cell{n:02d}"]
        assert (cells[n - 1] if n <= len(cells) else 0.0) == stated  # mpp-solar lists empty slots as 0 V
    assert statistics.mean(cells) == pytest.approx(e["Average_Cell_Voltage"], abs=1e-3)
    assert max(cells) - min(cells) == pytest.approx(e["Delta_Cell_Voltage"])
    # mpp-solar's "Current_Balancer" is bytes 62-63 read as one u16 / 1000: the record's highest
    # (0-based 4) and lowest (2) cell numbers, 0x0204 → 0.516.
    assert (raw["max_cell"] + 256 * raw["min_cell"]) / 1000 == e["Current_Balancer"]
    assert (cells.index(max(cells)), cells.index(min(cells))) == (raw["max_cell"], raw["min_cell"])
    assert s.voltage == e["Battery_Voltage"]
    assert s.power == e["Battery_Power"]
    assert s.current == e["Balance_Current"]  # mpp-solar names the signed current at 126 "Balance_Current"
    assert (s.temperatures, s.mosfet_temperature) == ([e["Battery_T1"], e["Battery_T2"]], e["MOS_Temp"])
    assert s.soc == e["Percent_Remain"]
    assert (s.capacity_remaining, s.capacity_full) == (e["Capacity_Remain"], e["Nominal_Capacity"])
    assert s.cycles == e["Cycle_Count"]
    assert raw["cycle_capacity"] == e["Cycle_Capacity"]
    assert raw["runtime"] == seconds(e["Time"])
    # Not compared: Resistance_CellNN (not carried), and Current_Charge / Current_Discharge, which
    # mpp-solar reads from bytes 189-192, across the boundaries of esphome's fields there
    # (correction factor at 188, current-sensor voltages at 190 and 192); no decoder confirms them.


def test_batmon_24s_status_matches_with_its_settings():
    f = FRAMES_24S["batmon-jk_legacy_8s_fw_pre11-status"]  # source: fl4p/batmon-ha test data
    e = f["expected"]
    s = decoded(f["id"])
    raw = fields(f["id"])
    kept = decoded("batmon-jk_legacy_8s_fw_pre11-settings")  # batmon reads capacity and switches here
    assert isinstance(kept, jk02.JkSettings)
    assert s.voltage == pytest.approx(e["voltage"])
    # batmon-ha counts discharge as positive current (bmslib/bms.py); Victron counts charge.
    assert s.current == pytest.approx(-e["current"])
    assert s.capacity_remaining == pytest.approx(e["charge"])
    assert kept.nominal_capacity == e["capacity"] == s.capacity_full
    # batmon re-derives SoC as charge / capacity (65.83 %); the record's own byte says 65.
    assert round(100 * s.capacity_remaining / kept.nominal_capacity, 2) == e["soc"] and s.soc == 65
    assert raw["cycle_capacity"] == pytest.approx(e["total_charge_throughput"])
    assert s.cycles == e["num_cycles"]
    assert s.temperatures == e["temperatures"] and s.mosfet_temperature == e["mos_temperature"]
    assert raw["balance_current"] == e["balance_current"]
    switches = {"charge": kept.charge_switch, "discharge": kept.discharge_switch, "balance": kept.balancer_switch}
    assert switches == e["switches"]
    assert raw["runtime"] == e["uptime"]
    assert [round(v * 1000) for v in s.cell_voltages] == e["voltages_mv"] and kept.cell_count == 8


def test_batmon_status_matches_where_it_reads_the_record():
    f = FRAMES["batmon-jk_issue365_b2a8s20p_fw_11_50-status"]  # source: fl4p/batmon-ha test data
    e = f["expected"]
    s = decoded(f["id"])
    kept = decoded("batmon-jk_issue365_b2a8s20p_fw_11_50-settings")
    assert s.voltage == pytest.approx(e["voltage"])
    assert s.capacity_remaining == pytest.approx(e["charge"])
    assert s.cycles == e["num_cycles"]
    assert s.soh == e["soh"]
    # batmon re-derives SoC as charge / aged capacity (65.87); the record's own byte says 66.
    assert round(100 * s.capacity_remaining / s.capacity_full, 2) == e["soc"] and s.soc == round(e["soc"])
    # The record's full-charge capacity is the aged one; batmon's "capacity" is the settings' one.
    assert s.capacity_full == pytest.approx(e["aged_capacity"])
    assert kept.nominal_capacity == e["capacity"]
    assert fields(f["id"])["cycle_capacity"] == pytest.approx(e["total_charge_throughput"])
    # batmon-ha counts discharge as positive current (bmslib/bms.py); Victron counts charge.
    assert s.current == pytest.approx(-e["current"])


def test_batmon_16s_cells_match():
    f = FRAMES["batmon-jk_new11_16s_cells-status"]
    s = decoded(f["id"])
    assert [round(v * 1000) for v in s.cell_voltages] == f["expected"]["voltages_mv"]


def test_settings_without_stated_values_match_their_status_record():
    # batmon-ha issue #377: settings and status from one 8-cell JK_B2A8S30P (sw 19.04).
    kept = decoded("batmon-issue377-FRAME_01_SETTINGS")
    s = decoded("batmon-issue377-FRAME_02_STATUS")
    assert kept.cell_count == len(s.cell_voltages) == 8
    assert kept.cell_uvp < kept.cell_uvp_recovery < min(s.cell_voltages) <= max(s.cell_voltages) < kept.cell_ovp
    assert kept.cell_ovp_recovery < kept.cell_ovp
    assert (kept.charge_switch, kept.discharge_switch) == (s.charge_enabled, s.discharge_enabled)
    assert 0 < kept.balance_trigger_voltage < 0.1 and kept.nominal_capacity == 280.0


@pytest.mark.parametrize(
    "frame_id",
    [
        k for k, f in ALL_FRAMES.items()
        if f["checksum_ok"] and not f["expected"] and f["response_hex"].startswith(jk02.HEADER.hex())
    ],
)
def test_records_without_stated_values_decode(frame_id):
    result = decoded(frame_id)
    if isinstance(result, Sample):
        assert result.cell_voltages and all(2.0 < v < 4.5 for v in result.cell_voltages)
        assert result.temperatures is None or all(-40 < t < 100 for t in result.temperatures)


def test_an_absent_temperature_sensor_is_none_not_minus_200():
    s = decoded("mppsolar-jk02-getCellData-tr2")  # a 3-cell pack with only the MOSFET sensor
    raw = fields("mppsolar-jk02-getCellData-tr2")
    assert raw["temperature_1"] == raw["temperature_2"] == jk02.ABSENT_TEMPERATURE
    assert s.temperatures is None and s.mosfet_temperature == 33.9


def test_the_balancing_cells_are_the_pair_the_record_names():
    f = "mppsolar-jk02_32-getCellData-tr1"
    s, raw = decoded(f), fields(f)
    assert s.balancing and raw["balance_action"] == 2  # the discharging balancer
    assert [i for i, on in enumerate(s.cell_balancing) if on] == sorted({raw["max_cell"], raw["min_cell"]}) == [0, 3]


@pytest.mark.parametrize(
    "sw, hw, layout",
    [
        ("11.261", "11.XW", "32s"),
        ("V11.24", "V11.XW", "32s"),
        ("19.27", "19A", "32s"),
        ("10.07D30", "10.XG", "24s"),
        ("8.1.2H", "8.x", "24s"),
        ("9.01M3", "9.x", "24s"),
        ("3.3.0", "3.0", "jk04"),
        ("3.0.7", "3", "jk04"),  # JK-B1A24S, batmon-ha issue #170
        (None, "3.0", "jk04"),
        (None, "10.XW", "24s"),
        ("", None, "32s"),
        (None, None, "32s"),
    ],
)
def test_layout_for_firmware(sw, hw, layout):
    assert jk02.layout_for_firmware(sw, hw) == layout


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="unknown JK record layout"):
        jk02.decode(record("aiobmsble-JK02_24S-cellinfo"), "48s")


@settings(max_examples=300)
@given(st.binary(max_size=900), st.lists(st.integers(1, 128), max_size=12), st.sampled_from(jk02.LAYOUTS))
def test_any_bytes_in_any_chunks_only_ever_raise_protocol_error(data, cuts, layout):
    asm = jk02.RecordAssembler()
    pos = 0
    for cut in [*cuts, len(data)]:
        asm.feed(data[pos : pos + cut])
        pos += cut
        for rec in drain(asm):
            if isinstance(rec, bytes):
                try:
                    jk02.decode(rec, layout)
                except ProtocolError:
                    pass


# Encoders: what the simulator sends must come back from our own decoder unchanged.

TEMPERATURES = st.integers(-400, 1000).map(lambda t: t / 10)  # -200.0 would mean "no sensor"


def milli(low: int, high: int) -> st.SearchStrategy[float]:
    return st.integers(low, high).map(lambda n: n / 1000)


@st.composite
def jk02_samples(draw: st.DrawFn, slots: int, error_bits: int) -> Sample:
    cells = draw(st.lists(milli(1000, 4500), min_size=1, max_size=slots))
    balancing = draw(st.booleans())
    pair = set(draw(st.lists(st.integers(0, len(cells) - 1), min_size=1, max_size=2))) if balancing else set()
    return Sample(
        voltage=draw(milli(0, 200_000)),
        current=draw(milli(-500_000, 500_000)),
        soc=float(draw(st.integers(0, 100))),
        soh=float(draw(st.integers(0, 100))),
        capacity_remaining=draw(milli(0, 2_000_000)),
        capacity_full=draw(milli(0, 2_000_000)),
        cycles=draw(st.integers(0, 100_000)),
        cell_voltages=cells,
        cell_balancing=[i in pair for i in range(len(cells))],
        temperatures=draw(st.none() | st.lists(TEMPERATURES, min_size=1, max_size=2)),
        mosfet_temperature=draw(st.none() | TEMPERATURES),
        charge_enabled=draw(st.booleans()),
        discharge_enabled=draw(st.booleans()),
        balancing=balancing,
        # 24s has 16 error bits, so only the alarms with a bit among those can travel in it.
        alarms={name: ALARM_ALARM for name in draw(st.sets(st.sampled_from(sorted(
            {e.alarm for bit, e in jk02.ERRORS.bits.items() if bit < error_bits and e.alarm}))))},
    )


def through_assembler(data: bytes) -> bytes:
    asm = jk02.RecordAssembler()
    asm.feed(data)
    rec = asm.next_frame()
    assert rec is not None and asm.discarded_bytes == 0
    return rec


@pytest.mark.parametrize("layout, slots, error_bits", [("24s", 24, 16), ("32s", 32, 32)])
@given(data=st.data(), counter=st.integers(0, 255))
def test_cell_info_round_trips(layout, slots, error_bits, data, counter):
    sample = data.draw(jk02_samples(slots, error_bits))
    rec = through_assembler(jk02.encode_cell_info(sample, layout, counter))
    assert rec[5] == counter
    back = jk02.decode(rec, layout)
    assert replace(back, conditions=None) == sample
    assert len(back.conditions) == len(sample.alarms)  # one error bit per alarm


text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=8)


@given(st.builds(DeviceInfo, model=st.none() | text, hw_version=st.none() | text, sw_version=st.none() | text,
                 serial=st.none() | text), st.sampled_from(jk02.LAYOUTS))
def test_device_info_round_trips(info, layout):
    assert jk02.decode(through_assembler(jk02.encode_device_info(info, layout)), layout) == info


@pytest.mark.parametrize("layout", ["24s", "32s"])
@given(
    st.builds(
        jk02.JkSettings,
        cell_count=st.integers(1, 32),
        cell_ovp=milli(0, 5000),
        cell_ovp_recovery=milli(0, 5000),
        cell_uvp=milli(0, 5000),
        cell_uvp_recovery=milli(0, 5000),
        max_charge_current=milli(0, 1_000_000),
        max_discharge_current=milli(0, 1_000_000),
        balance_trigger_voltage=milli(0, 1000),
        balance_start_voltage=milli(0, 5000),
        charge_switch=st.booleans(),
        discharge_switch=st.booleans(),
        balancer_switch=st.booleans(),
        nominal_capacity=milli(0, 2_000_000),
        charge_max_temperature=st.integers(-400, 1200).map(lambda t: t / 10),
        discharge_max_temperature=st.integers(-400, 1200).map(lambda t: t / 10),
        charge_min_temperature=st.integers(-400, 1200).map(lambda t: t / 10),
    )
)
def test_settings_round_trip(layout, kept):
    assert jk02.decode(through_assembler(jk02.encode_settings(kept, layout)), layout) == kept


def test_encoders_refuse_what_the_record_cannot_hold():
    with pytest.raises(ValueError, match="25 cells"):
        jk02.encode_cell_info(Sample(cell_voltages=[3.3] * 25), "24s")
    with pytest.raises(ValueError, match="longer than"):
        jk02.encode_device_info(DeviceInfo(model="X" * 17), "32s")
    with pytest.raises(ValueError, match="unknown JK record layout"):
        jk02.encode_settings(jk02.JkSettings(), "jk05")


def test_an_encoded_sample_without_values_reads_as_empty_sensors():
    s = jk02.decode(jk02.encode_cell_info(Sample(cell_voltages=[3.3, 3.4]), "32s"), "32s")
    assert s.temperatures is None and s.mosfet_temperature is None
    assert s.voltage == 0.0 and s.cell_balancing == [False, False] and not s.balancing
