"""Every alarm and status bit of every JK layout, set in a real captured frame: the Victron alarm
and level it raises and the text it names, as the README documents them; and the text path."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from dbus_fast.aio import MessageBus

from dbus_bms.charge.types import Limits
from dbus_bms.model import ALARM_ALARM, ALARM_WARNING, Sample
from dbus_bms.protocols import jk02, jk_nw
from dbus_bms.protocols.alarm_bits import AlarmBit, BitTable
from dbus_bms.victron.battery_service import BatteryService
from dbus_bms.victron.reader import get_items

from ..conftest import load_fixture

FRAMES = {
    f["id"]: f
    for name in ("jk_ble_jk02_32s.json", "jk_ble_jk02_24s.json", "jk_ble_jk04.json", "jk_serial_nw.json")
    for f in load_fixture(name)["frames"]
}
# Real cell-info records whose highest and lowest cell (bytes 78/79 in 32s, 62/63 in 24s) differ,
# so a text that names the wrong one fails.
JK02_32S = "mppsolar-jkv11-getCellData-tr0"  # source: jblance/mpp-solar jkv11.py; highest 6, lowest 11
JK02_24S = "mppsolar-jk02-getCellData"  # source: jblance/mpp-solar test_protocol_jk02.py; highest 5, lowest 3
NW_14S = "esphome-jk_bms-common-STATUS_FRAME_14S"  # source: syssi/esphome-jk-bms common.h

A, W = ALARM_ALARM, ALARM_WARNING
# The documented table (README "Alarms and conditions"), written out here rather than read from
# the codec: bit → (text, Victron alarm or None, level).
JK02_BITS = {
    0: ("balance wire resistance too high", "InternalFailure", W),
    1: ("MOSFET over-temperature protection", "HighInternalTemperature", A),
    2: ("cell count differs from the setting", "InternalFailure", A),
    3: ("current sensor fault", "InternalFailure", A),
    4: ("cell over-voltage protection, cell {highest}", "HighCellVoltage", A),
    5: ("pack over-voltage protection", "HighVoltage", A),
    6: ("charge over-current protection", "HighChargeCurrent", A),
    7: ("charge short-circuit protection", "HighChargeCurrent", A),
    8: ("charge over-temperature protection", "HighChargeTemperature", A),
    9: ("charge under-temperature protection", "LowChargeTemperature", A),
    10: ("internal communication fault", "InternalFailure", A),
    11: ("cell under-voltage protection, cell {lowest}", "LowCellVoltage", A),
    12: ("pack under-voltage protection", "LowVoltage", A),
    13: ("discharge over-current protection", "HighDischargeCurrent", A),
    14: ("discharge short-circuit protection", "HighDischargeCurrent", A),
    15: ("discharge over-temperature protection", "HighTemperature", A),
    16: ("charge MOSFET fault", "InternalFailure", A),
    17: ("discharge MOSFET fault", "InternalFailure", A),
    18: ("GPS module disconnected", None, 0),
    19: ("password should be changed", None, 0),
    20: ("discharge switch-on failed", "InternalFailure", A),
    21: ("battery over-temperature", "HighTemperature", A),
    22: ("temperature sensor fault", "InternalFailure", A),
    23: ("parallel current limiter fault", "InternalFailure", A),
    24: ("short-circuit protection release failed", "HighDischargeCurrent", A),
    25: ("discharge over-current protection (level 2)", "HighDischargeCurrent", A),
    26: ("discharge over-current protection (level 3)", "HighDischargeCurrent", A),
    27: ("discharge under-temperature protection", "LowTemperature", A),
    28: ("locked remotely over GPS", None, 0),
    **{bit: (f"unknown alarm bit {bit}", None, 0) for bit in (29, 30, 31)},
}
NW_WARNING_BITS = {
    0: ("low capacity", "LowSoc", W),
    1: ("MOSFET over-temperature alarm", "HighInternalTemperature", A),
    2: ("pack over-voltage alarm", "HighVoltage", A),
    3: ("pack under-voltage alarm", "LowVoltage", A),
    4: ("battery over-temperature alarm", "HighTemperature", A),
    5: ("charge over-current alarm", "HighChargeCurrent", A),
    6: ("discharge over-current alarm", "HighDischargeCurrent", A),
    7: ("cell voltage difference alarm", "CellImbalance", A),
    8: ("battery box over-temperature alarm", "HighTemperature", A),
    9: ("battery under-temperature alarm", "LowTemperature", A),
    10: ("cell over-voltage alarm, cell {highest}", "HighCellVoltage", A),
    11: ("cell under-voltage alarm, cell {lowest}", "LowCellVoltage", A),
    12: ("protection 309_A", "InternalFailure", A),
    13: ("protection 309_B", "InternalFailure", A),
    14: ("unknown alarm bit 14", None, 0),
    15: ("unknown alarm bit 15", None, 0),
}
NW_STATUS_BITS = {
    3: ("battery disconnected", None, 0),
    **{bit: (f"unknown status bit {bit}", None, 0) for bit in range(4, 16)},
}


def expected(entry: tuple[str, str | None, int], **cells: int) -> tuple[dict[str, int], tuple[str, ...]]:
    text, alarm, level = entry
    return ({alarm: level} if alarm else {}), (text.format(**cells),)


# JK 300-byte records.

def jk_record(frame_id: str) -> bytearray:
    asm = jk02.RecordAssembler()
    asm.feed(bytes.fromhex(FRAMES[frame_id]["response_hex"]))
    record = asm.next_frame()
    assert record is not None
    return bytearray(record)


def with_field(record: bytearray, offset: int, value: int, size: int) -> bytes:
    """``record`` with ``value`` little-endian at ``offset`` and its checksum made valid again."""
    record = bytearray(record)
    record[offset : offset + size] = value.to_bytes(size, "little")
    record[-1] = jk02.checksum(record[:-1])
    return bytes(record)


# layout → (record, offset and size of the error bits, of the balance wire bits, of the highest cell)
JK02_LAYOUTS = {"32s": (JK02_32S, 166, 4, 146, 78), "24s": (JK02_24S, 136, 2, 114, 62)}


@pytest.mark.parametrize(
    "layout, bit", [("32s", b) for b in range(32)] + [("24s", b) for b in range(16)]
)
def test_each_jk02_error_bit_raises_its_alarm_and_names_its_condition(layout, bit):
    frame_id, offset, size, _, cell_at = JK02_LAYOUTS[layout]
    clean = with_field(jk_record(frame_id), offset, 0, size)
    # The BMS's own pick of its highest and lowest cell, 0-based in the record.
    highest, lowest = clean[cell_at] + 1, clean[cell_at + 1] + 1
    s = jk02.decode(with_field(bytearray(clean), offset, 1 << bit, size), layout)
    assert (s.alarms, s.conditions) == expected(JK02_BITS[bit], highest=highest, lowest=lowest)


@pytest.mark.parametrize("layout", ["32s", "24s"])
def test_the_balance_wire_notice_names_the_cells_the_bms_flags(layout):
    frame_id, offset, size, wires_at, _ = JK02_LAYOUTS[layout]
    record = with_field(jk_record(frame_id), wires_at, (1 << 2) | (1 << 4), 4)
    s = jk02.decode(with_field(bytearray(record), offset, 1, size), layout)
    assert s.alarms == {"InternalFailure": W}
    assert s.conditions == ("balance wire resistance too high, cells 3, 5",)


def test_two_bits_on_one_alarm_raise_the_higher_level_and_both_are_named():
    record = with_field(jk_record(JK02_32S), 166, (1 << 0) | (1 << 3) | (1 << 19), 4)
    s = jk02.decode(record, "32s")
    assert s.alarms == {"InternalFailure": A}  # the wiring warning and the sensor fault's alarm
    assert s.conditions == ("balance wire resistance too high", "current sensor fault", "password should be changed")


def test_24s_has_only_16_error_bits():
    # Bytes 138-139 of a 24s record are the balance current, not error bits 16-31.
    record = with_field(jk_record(JK02_24S), 136, 0xFFFF_0000, 4)
    s = jk02.decode(record, "24s")
    assert s.alarms == {} and s.conditions == ()


@pytest.mark.parametrize("frame_id", ["mppsolar-jkv11-getCellData-tr0", "batmon-jk_issue365_b2a8s20p_fw_11_50-status"])
def test_real_captures_with_the_password_notice_raise_no_alarm(frame_id):
    s = jk02.decode(bytes(jk_record(frame_id)), "32s")  # sources: jblance/mpp-solar, fl4p/batmon-ha
    assert s.alarms == {} and s.conditions == ("password should be changed",)


@pytest.mark.parametrize("frame_id, layout", [
    ("esphome-jk_bms_ble-frames_jk02_32s_v14-CELL_INFO_JK02_32S_V14", "32s"),
    ("esphome-jk_bms_ble-frames_jk02_24s_v10-CELL_INFO_JK02_24S_V10", "24s"),
])
def test_a_clean_record_has_no_conditions_but_says_so(frame_id, layout):
    s = jk02.decode(bytes(jk_record(frame_id)), layout)  # source: syssi/esphome-jk-bms
    assert s.alarms == {} and s.conditions == ()


def test_jk04_sends_no_alarm_bits_so_its_conditions_are_unknown():
    s = jk02.decode(bytes(jk_record("mppsolar-jk04-getCellData")), "jk04")  # source: jblance/mpp-solar
    assert s.cell_voltages and s.alarms == {} and s.conditions is None


@pytest.mark.parametrize("layout, alarms, conditions", [
    ("32s", {"InternalFailure": W}, ("balance wire resistance too high",)),
    ("32s", {"InternalFailure": A, "LowTemperature": A}, ("cell count differs from the setting",
                                                          "discharge under-temperature protection")),
    ("24s", {"LowTemperature": A, "HighVoltage": A}, ("pack over-voltage protection",)),  # bit 27 has no room
])
def test_encoded_alarms_come_back_at_their_level(layout, alarms, conditions):
    sample = Sample(cell_voltages=[3.3, 3.31], alarms=alarms)
    s = jk02.decode(jk02.encode_cell_info(sample, layout), layout)
    assert s.conditions == conditions
    assert s.alarms == {k: v for k, v in alarms.items() if layout == "32s" or k != "LowTemperature"}


# JK NW replies.

def nw_frame(frame_id: str) -> bytes:
    asm = jk_nw.NwAssembler()
    asm.feed(bytes.fromhex(FRAMES[frame_id]["response_hex"]))
    frame = asm.next_frame()
    assert frame is not None
    return frame


def with_register(frame: bytes, rid: int, value: int) -> bytes:
    """``frame`` with register ``rid`` set to ``value`` and its checksum made valid again."""
    data = bytearray(frame[11:-9])
    i = 2 + data[1]
    while data[i] != rid:
        i += 1 + jk_nw.WIDTHS[data[i]]
    width = jk_nw.WIDTHS[rid]
    data[i + 1 : i + 1 + width] = value.to_bytes(width, "big")
    body = frame[:11] + bytes(data) + frame[-9:-4]
    return body + (sum(body) & 0xFFFF).to_bytes(4, "big")


def nw_cells() -> tuple[int, int]:
    cells = jk_nw.decode(nw_frame(NW_14S)).cell_voltages
    return cells.index(max(cells)) + 1, cells.index(min(cells)) + 1


def test_the_nw_capture_names_distinct_highest_and_lowest_cells():
    assert nw_cells() == (12, 9)  # 3.835 V (cells 12 and 13: the first), 3.811 V


@pytest.mark.parametrize("bit", range(16))
def test_each_nw_warning_bit_raises_its_alarm_and_names_its_condition(bit):
    highest, lowest = nw_cells()
    s = jk_nw.decode(with_register(nw_frame(NW_14S), 0x8B, 1 << bit))
    assert (s.alarms, s.conditions) == expected(NW_WARNING_BITS[bit], highest=highest, lowest=lowest)


@pytest.mark.parametrize("bit", range(3, 16))
def test_each_nw_status_bit_beyond_the_switches_is_named(bit):
    s = jk_nw.decode(with_register(nw_frame(NW_14S), 0x8C, 0x7 | 1 << bit))
    assert (s.alarms, s.conditions) == expected(NW_STATUS_BITS[bit])
    assert (s.charge_enabled, s.discharge_enabled, s.balancing) == (True, True, True)


@pytest.mark.parametrize("status, switches", [(0x0, (False, False, False)), (0x1, (True, False, False)),
                                               (0x2, (False, True, False)), (0x4, (False, False, True))])
def test_nw_switch_states_are_no_conditions(status, switches):
    s = jk_nw.decode(with_register(nw_frame(NW_14S), 0x8C, status))
    assert s.conditions == () and s.alarms == {}
    assert (s.charge_enabled, s.discharge_enabled, s.balancing) == switches


def test_nw_conditions_of_both_registers_in_register_order():
    frame = with_register(with_register(nw_frame(NW_14S), 0x8B, (1 << 0) | (1 << 10)), 0x8C, 0x8)
    s = jk_nw.decode(frame)
    assert s.alarms == {"LowSoc": W, "HighCellVoltage": A}
    assert s.conditions == ("low capacity", "cell over-voltage alarm, cell 12", "battery disconnected")


def test_a_nw_reply_without_warning_and_status_registers_has_unknown_conditions():
    data = b"\x79\x06\x01\x0c\xe4\x02\x0c\xe5" + b"\x83\x05\x2d"  # two cells and the pack voltage
    s = jk_nw.decode(jk_nw.build_frame(jk_nw.CMD_READ_ALL, data, source=jk_nw.SOURCE_BMS, transport=1))
    assert s.cell_voltages == [3.3, 3.301] and s.alarms == {} and s.conditions is None


def test_nw_encoded_alarms_come_back_at_their_level():
    s = jk_nw.decode(jk_nw.encode_status(Sample(cell_voltages=[3.3, 3.5], alarms={"LowSoc": W, "HighCellVoltage": A})))
    assert s.alarms == {"LowSoc": W, "HighCellVoltage": A}
    assert s.conditions == ("low capacity", "cell over-voltage alarm, cell 2")


# The tables themselves.

def test_a_table_refuses_what_victron_cannot_show():
    with pytest.raises(ValueError, match="not a Victron alarm name"):
        AlarmBit("x", "HighCurrentish")
    with pytest.raises(ValueError, match="neither warning nor alarm"):
        AlarmBit("x", "HighCurrent", 0)
    with pytest.raises(ValueError, match="outside its 16-bit word"):
        BitTable(16, {16: AlarmBit("x")})


# Where the conditions go: --json and D-Bus.

def test_decode_json_carries_the_conditions():
    frame = with_register(nw_frame(NW_14S), 0x8B, 1 << 11)
    r = subprocess.run([sys.executable, "-m", "dbus_bms", "decode", "--protocol", "jk_nw", frame.hex(), "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    sample = json.loads(r.stdout)
    assert sample["conditions"] == ["cell under-voltage alarm, cell 9"] and sample["alarms"] == {"LowCellVoltage": 2}


LIVE = Limits(55.2, 100.0, 150.0, True, True, "Bulk", "Max charge current", "Max discharge current", False)
STALE = Limits(55.2, 0.0, 20.0, False, True, "Bulk (fail-safe)", "Fail-safe: BMS silent 12 s", "Fail-safe", True)


async def test_the_text_path_carries_the_joined_conditions(private_bus, tmp_path):
    bus = await MessageBus(bus_address=private_bus.address).connect()
    client = await MessageBus(bus_address=private_bus.address).connect()
    svc = BatteryService(bus, unique_id="jk_AA", service_suffix="house", product_name="JK BMS",
                         process_name="dbus-bms", connection="BLE AA", device_instance_fallback=300,
                         state_dir=tmp_path, cell_count=None, settings_wait=0.0)
    await svc.start()
    name = "com.victronenergy.battery.house"
    assert (await get_items(client, name))["/Info/BmsConditions"] is None  # no reading yet

    record = with_field(jk_record(JK02_32S), 166, (1 << 4) | (1 << 1), 4)
    svc.publish(jk02.decode(record, "32s"), LIVE)
    items = await get_items(client, name)
    assert items["/Info/BmsConditions"] == "MOSFET over-temperature protection; cell over-voltage protection, cell 6"
    assert items["/Alarms/HighCellVoltage"] == 2 and items["/Alarms/HighInternalTemperature"] == 2

    svc.publish(jk02.decode(with_field(bytearray(record), 166, 0, 4), "32s"), LIVE)
    assert (await get_items(client, name))["/Info/BmsConditions"] == ""

    svc.publish(jk02.decode(bytes(jk_record("mppsolar-jk04-getCellData")), "jk04"), LIVE)
    assert (await get_items(client, name))["/Info/BmsConditions"] is None  # JK04 does not tell

    svc.publish(jk02.decode(record, "32s"), STALE)
    assert (await get_items(client, name))["/Info/BmsConditions"] is None  # stale: no reading to show
    await svc.stop()
    bus.disconnect()
    client.disconnect()
