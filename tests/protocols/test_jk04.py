"""JK 300-byte records in the JK04 layout (float32 cells) on tests/fixtures/jk_ble_jk04.json, and the
encoders for it."""

from __future__ import annotations

import re
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbus_bms.model import DeviceInfo, Sample
from dbus_bms.protocols import jk02, jk04

from ..conftest import load_fixture

FIXTURE = load_fixture("jk_ble_jk04.json")
FRAMES = {f["id"]: f for f in FIXTURE["frames"]}

# A JK-B5A24S (hw 8.X, sw 8.0.3M) settings record: syssi/esphome-jk-bms
# tests/components/jk_bms_ble/frames_jk04_b5a24s.h@2fa4323bdd (SETTINGS_JK04_B5A24S), replayed from a
# capture; jk_bms_ble_jk04_b5a24s_test.cpp asserts 16 cells, balance trigger 0.008 V (±0.0001),
# balancing start 4.25 V (±0.001), balancer on.
SETTINGS_B5A24S = bytes.fromhex(
    "55aaeb9001720000803f00000000000000000000000000000000000000000000000010000000cdcc4c40"
    + "00" * 32
    + "c91e4240"
    + "00" * 22
    + "88409a9959406f12033c000090400100"
    + "00" * 183
    + "6f"
)


def first_record(data: bytes) -> bytes:
    asm = jk02.RecordAssembler()
    asm.feed(data)
    rec = asm.next_frame()
    assert rec is not None
    return rec


def record(frame_id: str) -> bytes:
    return first_record(bytes.fromhex(FRAMES[frame_id]["response_hex"]))


def seconds(dhms: str) -> int:
    d, h, m, s = map(int, re.fullmatch(r"(\d+)D(\d+)H(\d+)M(\d+)S", dhms).groups())
    return ((d * 24 + h) * 60 + m) * 60 + s


def test_esphome_device_info_matches():
    e = FRAMES["esphome-jk_bms_ble-frames_jk04-DEVICE_INFO_JK04"]["expected"]
    info = jk02.decode(record("esphome-jk_bms_ble-frames_jk04-DEVICE_INFO_JK04"), "jk04")
    assert (info.hw_version, info.sw_version) == (e["hardware_version"], e["software_version"])
    assert jk02.layout_for_firmware(info.sw_version, info.hw_version) == "jk04"


def test_mppsolar_device_info_matches():
    f = FRAMES["mppsolar-jk02-getInfo"]  # source: jblance/mpp-solar test_protocol_jk02.py (getInfo)
    e = f["expected"]
    rec = record(f["id"])
    info = jk02.decode(rec, "jk04")
    assert (rec[:4].hex(), rec[4], rec[5]) == (e["Header"], int(e["Record Type"]), e["Record Counter"])
    assert (info.model, info.hw_version) == (e["Device Model"], e["Hardware Version"])
    assert info.sw_version == e["Software Version"]
    assert info.serial is None and e["Serial Number"] == ""
    assert jk02.layout_for_firmware(info.sw_version, info.hw_version) == "jk04"
    # Not carried: Device Name, Device Passcode, Manufacturing Date, Passcode, Power-on Times,
    # Up Time, User Data, Setup Passcode.


def test_esphome_b5a24s_cell_info_matches():
    f = FRAMES["esphome-jk_bms_ble-frames_jk04_b5a24s-CELL_INFO_JK04_B5A24S"]
    e, c = f["expected"], f["expected_from_comment"]
    s = jk02.decode(record(f["id"]), "jk04")
    raw = jk02.cell_info_fields(record(f["id"]), "jk04")
    assert raw["runtime"] == e["total_runtime"] == c["uptime"]
    assert raw["balance_current"] == pytest.approx(e["balancing_current"], abs=0.05)  # esphome's tolerance
    assert s.balancing is e["balancing"] is c["balancing"]
    assert len(s.cell_voltages) == 16  # "16S LFP" in the source's comment
    # The pair the balancer works on, as the record names it (0-based 7 and 2).
    assert [i for i, on in enumerate(s.cell_balancing) if on] == [2, 7]


def test_mppsolar_cell_data_matches():
    f = FRAMES["mppsolar-jk04-getCellData"]  # source: jblance/mpp-solar test_protocol_jk04.py
    e = f["expected"]
    rec = record(f["id"])
    s = jk02.decode(rec, "jk04")
    raw = jk02.cell_info_fields(rec, "jk04")
    cells = s.cell_voltages
    assert (rec[:4].hex(), rec[4], rec[5]) == (e["Header"], int(e["Record Type"]), e["Record Counter"])
    assert rec[-1] == int(e["Checksum"], 16)
    # mpp-solar keeps the float32 as read; we keep millivolts.
    assert cells == pytest.approx([e[f"Voltage Cell{n:02d}"] for n in range(1, 25)], abs=5e-4)
    assert statistics.mean(cells) == pytest.approx(e["Average Cell Voltage"], abs=1e-3)
    # mpp-solar reads the record's own delta (0.1789 V), older than its cells (0.1804 V apart).
    assert raw["delta_cell_voltage"] == pytest.approx(e["Delta Cell Voltage"], abs=5e-4)
    assert (raw["max_cell"] + 1, raw["min_cell"] + 1) == (e["Highest Cell"], e["Lowest Cell"])
    assert max(cells) == pytest.approx(e["Highest Cell Voltage"][0], abs=5e-4)
    assert min(cells) == pytest.approx(e["Lowest Cell Voltage"][0], abs=5e-4)
    assert rec[220:222].hex() == e["Flags"] and s.balancing  # byte 220: the balancer is on
    assert [i + 1 for i, on in enumerate(s.cell_balancing) if on] == [e["Highest Cell"], e["Lowest Cell"]]
    assert raw["runtime"] == seconds(e["uptime"])
    # Not carried: Resistance CellNN.


def test_the_pack_voltage_is_the_sum_of_the_cells():
    s = jk02.decode(record("mppsolar-jk04-getCellData-tr0"), "jk04")
    assert s.voltage == round(sum(s.cell_voltages), 3)
    assert s.current is None and s.soc is None and s.temperatures is None and s.power is None


@pytest.mark.parametrize("frame_id", [k for k, f in FRAMES.items() if not f["expected"]])
def test_records_without_stated_values_decode(frame_id):
    result = jk02.decode(record(frame_id), "jk04")
    if isinstance(result, Sample):
        assert result.cell_voltages and all(2.0 < v < 4.5 for v in result.cell_voltages)
    else:
        assert isinstance(result, DeviceInfo) and result.model.startswith("JK-")


def test_esphome_b5a24s_settings_match():
    kept = jk02.decode(first_record(SETTINGS_B5A24S), "jk04")
    assert kept == jk02.JkSettings(
        cell_count=16, balance_trigger_voltage=0.008, balance_start_voltage=4.25, balancer_switch=True
    )


@st.composite
def jk04_samples(draw: st.DrawFn) -> Sample:
    cells = [mv / 1000 for mv in draw(st.lists(st.integers(1000, 4500), min_size=1, max_size=jk04.CELL_SLOTS))]
    balancing = draw(st.booleans())
    pair = set(draw(st.lists(st.integers(0, len(cells) - 1), min_size=1, max_size=2))) if balancing else set()
    return Sample(
        voltage=round(sum(cells), 3),
        cell_voltages=cells,
        cell_balancing=[i in pair for i in range(len(cells))],
        balancing=balancing,
    )


@given(jk04_samples(), st.integers(0, 255))
def test_cell_info_round_trips(sample, counter):
    rec = first_record(jk02.encode_cell_info(sample, "jk04", counter))
    assert rec[5] == counter
    assert jk02.decode(rec, "jk04") == sample


@given(
    st.integers(1, 24),
    st.integers(0, 5000).map(lambda mv: mv / 1000),
    st.integers(0, 1000).map(lambda mv: mv / 1000),
    st.booleans(),
)
def test_settings_round_trip_as_far_as_jk04_has_them(cells, start, trigger, balancer):
    full = jk02.JkSettings(
        cell_count=cells, cell_ovp=3.65, cell_uvp=2.7, max_charge_current=100.0, charge_switch=True,
        balance_start_voltage=start, balance_trigger_voltage=trigger, balancer_switch=balancer,
        nominal_capacity=280.0,
    )
    assert jk02.decode(first_record(jk02.encode_settings(full, "jk04")), "jk04") == jk02.JkSettings(
        cell_count=cells, balance_start_voltage=start, balance_trigger_voltage=trigger, balancer_switch=balancer
    )
