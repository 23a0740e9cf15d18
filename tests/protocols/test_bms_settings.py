"""The BMS's own protection settings, decoded from real frames of every JK protocol that carries
them, and round-tripped through the encoders the simulators use."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from dbus_bms.model import BmsSettings
from dbus_bms.protocols import jk_nw, jk_pb
from dbus_bms.protocols.framing import good_frames
from dbus_bms.sim.jk_nw import JkNwSimulator

FIXTURES = Path(__file__).parent.parent / "fixtures"


def frames(name: str) -> dict[str, dict]:
    return {f["id"]: f for f in json.loads((FIXTURES / name).read_text())["frames"]}


def nw_reply(hex_text: str) -> bytes:
    rx = jk_nw.NwAssembler()
    rx.feed(bytes.fromhex(hex_text))
    return next(good_frames(rx))


def test_an_nw_read_all_reply_carries_the_bms_protections():
    frame = frames("jk_serial_nw.json")["esphome-jk_bms-common-STATUS_FRAME_14S"]
    settings = jk_nw.decode(nw_reply(frame["response_hex"])).bms_settings
    stated = frame["expected"]
    # Stated by the frame's source:
    assert settings.balance_start_voltage == stated["balancing_start_voltage"]
    assert settings.balance_trigger_voltage == stated["balancing_delta_voltage"]
    assert settings.cell_count == stated["cell_count"]
    # The registers as JK's NW protocol defines them (0x90 cell OVP 4050 mV ... 0xA5 0xFFEC = -20 °C):
    assert (settings.cell_ovp, settings.cell_ovp_recovery, settings.cell_uvp, settings.cell_uvp_recovery) == (
        4.05, 4.0, 3.05, 3.1)
    assert (settings.max_discharge_current, settings.max_charge_current) == (7.0, 5.0)
    assert (settings.charge_max_temperature, settings.discharge_max_temperature) == (70.0, 70.0)
    assert (settings.charge_min_temperature, settings.discharge_min_temperature) == (-20.0, -20.0)
    assert settings.nominal_capacity == 14.0


def test_an_nw_reply_without_settings_registers_has_none():
    sim = JkNwSimulator()
    sim.settings = None
    assert jk_nw.decode(nw_reply(sim.reply().hex())).bms_settings is None


def test_nw_settings_round_trip_through_the_simulator():
    sim = JkNwSimulator()
    sim.settings = BmsSettings(cell_ovp=3.50, cell_ovp_recovery=3.40, cell_uvp=2.80, cell_uvp_recovery=3.0,
                               max_charge_current=80.0, max_discharge_current=120.0, charge_max_temperature=45.0,
                               discharge_max_temperature=55.0, charge_min_temperature=2.0,
                               discharge_min_temperature=-15.0, balance_start_voltage=3.35,
                               balance_trigger_voltage=0.008, cell_count=16)
    decoded = jk_nw.decode(nw_reply(sim.reply().hex())).bms_settings
    # The capacity is the pack's own register (0xAA), not one of the settings the simulator was given.
    assert dataclasses.replace(decoded, nominal_capacity=None) == sim.settings
    assert decoded.nominal_capacity == sim.pack.sample().capacity_full


def test_a_pb_settings_record_gives_every_protection_its_source_states():
    frame = frames("jk_pb_rs485.json")["mm-settings-addr3"]
    stream = jk_pb.PbStream()
    stream.feed(bytes.fromhex(frame["response_hex"]))
    record = next(e for e in stream.events() if isinstance(e, jk_pb.Record)).record
    settings = jk_pb.decode_record(record).protections()
    e = frame["expected"]
    assert settings == BmsSettings(
        cell_ovp=e["cell_ovp_mV"] / 1000, cell_ovp_recovery=e["cell_ovpr_mV"] / 1000, cell_uvp=e["cell_uvp_mV"] / 1000,
        cell_uvp_recovery=e["cell_uvpr_mV"] / 1000, max_charge_current=e["max_charge_current_mA"] / 1000,
        max_discharge_current=e["max_discharge_current_mA"] / 1000, charge_max_temperature=e["charge_ot_0p1C"] / 10,
        charge_min_temperature=e["charge_ut_0p1C"] / 10, discharge_max_temperature=e["discharge_ot_0p1C"] / 10,
        balance_start_voltage=e["balance_start_mV"] / 1000, balance_trigger_voltage=e["balance_trigger_mV"] / 1000,
        cell_count=e["cell_count"], nominal_capacity=e["capacity_mAh"] / 1000,
    )
