"""The command line as a user runs it: ``python -m dbus_bms ...`` in a child process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import load_fixture

NW = {f["id"]: f for f in load_fixture("jk_serial_nw.json")["frames"]}
JK02 = {f["id"]: f for f in load_fixture("jk_ble_jk02_32s.json")["frames"]}


def dbus_bms(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbus_bms", *args], capture_output=True, text=True, timeout=60)


def test_decode_jk_nw_json_prints_the_sample():
    r = dbus_bms("decode", "--protocol", "jk_nw", NW["esphome-jk_bms-common-STATUS_FRAME_14S"]["response_hex"], "--json")
    assert r.returncode == 0, r.stderr
    sample = json.loads(r.stdout)
    assert sample["voltage"] == 53.59 and sample["current"] == 2.08 and len(sample["cell_voltages"]) == 14
    assert sample["device"]["sw_version"] == "H6.X__S6.1.3S__"


def test_decode_prints_the_conditions_and_the_bms_settings_for_a_person():
    r = dbus_bms("decode", "--protocol", "jk_nw", NW["esphome-jk_bms-common-STATUS_FRAME_14S"]["response_hex"])
    assert r.returncode == 0, r.stderr
    assert "conditions   none" in r.stdout
    assert "BMS settings cell OVP 4.050 V, UVP 3.050 V, charge OCP 5 A, discharge OCP 7 A" in r.stdout


def test_decode_jk02_32s_merges_device_info_and_cell_info():
    dev = JK02["aiobmsble-JK02_32S_v15-devinfo"]["response_hex"]
    cells = JK02["aiobmsble-JK02_32S-cellinfo"]["response_hex"]
    r = dbus_bms("decode", "--protocol", "jk02_32s", "41540d0a" + dev, cells, "--json")
    assert r.returncode == 0, r.stderr
    sample = json.loads(r.stdout)
    assert sample["voltage"] == 26.509 and sample["soc"] == 68
    assert sample["device"] == {"model": "JK_PB2A16S20P", "hw_version": "15A", "sw_version": "15.38", "serial": "41018492555"}


def test_decode_jk02_24s_with_its_device_info():
    frames = {f["id"]: f for f in load_fixture("jk_ble_jk02_24s.json")["frames"]}
    dev = frames["aiobmsble-JK02_24S-devinfo"]["response_hex"]
    cells = frames["aiobmsble-JK02_24S-cellinfo"]["response_hex"]
    r = dbus_bms("decode", "--protocol", "jk02_24s", dev, cells, "--json")
    assert r.returncode == 0, r.stderr
    sample = json.loads(r.stdout)
    assert sample["voltage"] == 52.971 and len(sample["cell_voltages"]) == 16
    assert sample["device"]["sw_version"] == "10.08"


def test_decode_jk04_cell_info():
    frames = {f["id"]: f for f in load_fixture("jk_ble_jk04.json")["frames"]}
    r = dbus_bms("decode", "--protocol", "jk04", frames["mppsolar-jk04-getCellData"]["response_hex"], "--json")
    assert r.returncode == 0, r.stderr
    sample = json.loads(r.stdout)
    assert sample["cell_voltages"] and sample["voltage"] == pytest.approx(sum(sample["cell_voltages"]), abs=0.01)
    assert sample["current"] is None and sample["soc"] is None  # JK04 sends neither


def test_decode_human_output():
    r = dbus_bms("decode", "--protocol", "jk_nw", NW["mppsolar-jkserial-getBalancerData-tr1"]["response_hex"])
    assert r.returncode == 0
    assert "55.78 V" in r.stdout and "cells        14" in r.stdout


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["decode", "--protocol", "nope", "00"], 1, "unknown protocol 'nope'; known: jk_nw, jk02_32s, jk02_24s, jk04"),
        (["decode", "--protocol", "jk_nw", "zz"], 2, "not hexadecimal"),
        (["decode", "--protocol", "jk_nw", "4e5700"], 1, "no complete JK NW reply"),
        (["read", "--type", "jk-nw", "--address", "AA:BB:CC:DD:EE:FF"], 2, "type 'jk-nw' needs --port (the serial port)"),
        (["read", "--type", "jk", "--port", "/dev/ttyUSB0"], 2, "type 'jk' needs --address (the BLE MAC or advertised name)"),
        (["read", "--type", "jk", "--address", "x", "--protocol", "jk05"], 2, "type 'jk' has no protocol 'jk05'"),
        (["simulate", "jk", "--pty"], 2, "type 'jk' is served with --ble"),
        (["simulate", "jk", "--tcp", "5000"], 2, "type 'jk' is served with --ble"),
        (["simulate", "jk-nw", "--pty", "--tcp", "5000"], 2, "type 'jk-nw' is served with --pty or --tcp PORT"),
        (["simulate", "jk-nw", "--tcp", "70000"], 2, "--tcp 70000 is out of range 0 to 65535"),
    ],
)
def test_errors_are_clear_and_exit_non_zero(args, code, message):
    r = dbus_bms(*args)
    assert r.returncode == code
    assert message in r.stderr


def test_decode_list():
    r = dbus_bms("decode", "--list")
    assert r.returncode == 0 and "jk_nw" in r.stdout and "jk02_32s" in r.stdout


def test_read_once_from_a_simulated_jk(tmp_path):
    link = tmp_path / "ttyJK"
    sim = subprocess.Popen([sys.executable, "-m", "dbus_bms", "simulate", "jk-nw", "--pty", "--link", str(link)],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout.readline().strip() == str(link)
        r = dbus_bms("read", "--type", "jk-nw", "--port", str(link), "--json")
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)["cell_voltages"]) == 16
        r = dbus_bms("read", "--type", "jk-nw", "--port", str(tmp_path / "missing"))
        assert r.returncode == 1 and "cannot open" in r.stderr
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def test_check_config_names_line_and_key(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("batteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n    pol_interval: 2\n")
    r = dbus_bms("check-config", str(cfg))
    assert r.returncode == 1
    assert f"{cfg}:4: batteries[0].pol_interval: unknown key; did you mean 'poll_interval'?" in r.stderr
    cfg.write_text("batteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n")
    r = dbus_bms("check-config", str(cfg))
    assert r.returncode == 0 and "ttyUSB0: jk-nw on /dev/ttyUSB0" in r.stdout


def test_a_reader_that_stops_early_is_not_an_error():
    # `dbus-bms ... | head -1`: the reader is gone before the output is written.
    proc = subprocess.Popen([sys.executable, "-m", "dbus_bms", "simulate-charge", "--hours", "2", "--profile",
                             "solar-day", "--cells", "4", "--dt", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "BrokenPipeError" not in err, err
