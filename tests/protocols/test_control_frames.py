"""The switch commands of the JK protocols, against the bytes public sources document, and the
switch states the replies carry back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbus_bms.model import Sample
from dbus_bms.protocols import jk02, jk_nw
from dbus_bms.sim.jk_records import JkRecordSimulator

FIXTURES = Path(__file__).parent.parent / "fixtures"

# The frames a JK NW user posted as working to switch the charge MOS on and off without the
# parameter password (diysolarforum.com, "Writing data to JKBMS USB-TTL / RS-485").
NW_CHARGE_ON = bytes.fromhex("4e 57 00 14 00 00 00 00 02 03 02 ab 01 00 00 00 00 68 00 00 01 d4")
NW_CHARGE_OFF = bytes.fromhex("4e 57 00 14 00 00 00 00 02 03 02 ab 00 00 00 00 00 68 00 00 01 d3")


def test_nw_charge_switch_frames_are_the_documented_ones():
    assert jk_nw.build_switch("charge", True) == NW_CHARGE_ON
    assert jk_nw.build_switch("charge", False) == NW_CHARGE_OFF


def test_nw_discharge_switch_writes_register_ac_in_the_same_frame():
    frame = jk_nw.build_switch("discharge", False)
    assert frame[8:13] == bytes([jk_nw.CMD_WRITE, jk_nw.SOURCE_HOST, 0x02, 0xAC, 0x00])
    assert frame[-4:] == (sum(frame[:-4]) & 0xFFFF).to_bytes(4, "big")


def test_nw_refuses_to_write_a_register_that_is_not_one_byte():
    with pytest.raises(ValueError, match="0x83"):
        jk_nw.build_write(0x83, 1)
    with pytest.raises(KeyError):
        jk_nw.build_switch("balance", True)  # firmware ignores the balancer write: not offered


def test_nw_read_all_carries_the_switches_back():
    frames = {f["id"]: f for f in json.loads((FIXTURES / "jk_serial_nw.json").read_text())["frames"]}
    # The documented 14S capture: 9D 01 (balancer on), AB 01 (charge on), AC 01 (discharge on).
    frame = bytes.fromhex(frames["esphome-jk_bms-common-STATUS_FRAME_14S"]["response_hex"])
    assert jk_nw.decode(frame).switches == {"charge": True, "discharge": True, "balance": True}
    sample = Sample(cell_voltages=[3.3] * 4, switches={"charge": False, "discharge": True, "balance": False})
    assert jk_nw.decode(jk_nw.encode_status(sample)).switches == sample.switches


@pytest.mark.parametrize("which, register", [("charge", 0x1D), ("discharge", 0x1E), ("balance", 0x1F)])
@pytest.mark.parametrize("on", [True, False])
def test_jk02_switch_command_is_a_4_byte_register_write(which, register, on):
    # Header, the setting's register as the command, length 4, the value little-endian, zeros, sum8.
    body = bytes.fromhex("aa5590eb") + bytes([register, 4, int(on), 0, 0, 0]) + bytes(9)
    assert jk02.build_switch(which, on) == body + bytes([sum(body) & 0xFF])


def test_jk02_settings_carry_the_switches():
    settings = jk02.JkSettings(cell_count=16, charge_switch=False, discharge_switch=True, balancer_switch=False)
    for layout in ("24s", "32s"):
        decoded = jk02.decode_settings(jk02.encode_settings(settings, layout), layout)
        assert decoded.switches() == {"charge": False, "discharge": True, "balance": False}
    assert jk02.JkSettings().switches() == {}


@pytest.mark.parametrize("on", [True, False])
def test_jk04_switches_only_its_balancer_with_a_1_byte_write(on):
    body = bytes.fromhex("aa5590eb") + bytes([0x6C, 1, int(on), 0, 0, 0]) + bytes(9)
    assert jk02.build_switch("balance", on, "jk04") == body + bytes([sum(body) & 0xFF])
    assert set(jk02.switch_registers("jk04")) == {"balance"}
    with pytest.raises(KeyError):
        jk02.build_switch("charge", on, "jk04")


@pytest.mark.parametrize("layout, which", [("32s", "charge"), ("24s", "discharge"), ("jk04", "balance")])
def test_a_simulated_jk_takes_its_switch_writes_and_reports_them_in_its_settings(layout, which):
    sim = JkRecordSimulator(layout=layout)
    sim.handle(jk02.build_switch(which, False, layout))
    out = sim.handle(jk02.build_command(jk02.CMD_CELL_INFO))
    settings = jk02.decode_settings(out[: jk02.RECORD_LEN], layout)
    assert settings.switches()[which] is False
    assert all(on for other, on in settings.switches().items() if other != which)
