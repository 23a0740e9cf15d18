"""The command line as a user runs it: ``python -m dbus_bms ...`` in a child process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dbus_bms.cli import GX_CONFIG

from .conftest import load_fixture

NW = {f["id"]: f for f in load_fixture("jk_serial_nw.json")["frames"]}
JK02 = {f["id"]: f for f in load_fixture("jk_ble_jk02_32s.json")["frames"]}


def dbus_bms(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbus_bms", *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize("protocol", ["jk_nw", "jk-nw"])  # the protocol's name, and the config type's spelling
def test_decode_jk_nw_json_prints_the_sample(protocol):
    r = dbus_bms("decode", "--protocol", protocol, NW["esphome-jk_bms-common-STATUS_FRAME_14S"]["response_hex"], "--json")
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
        (["decode", "--protocol", "jk_nw", "4e5"], 2, "frame 1 has an odd number of hex digits (3)"),
        (["decode", "--protocol", "jk02_24s", JK02["aiobmsble-JK02_32S-cellinfo"]["response_hex"]], 1,
         "the bytes decode as jk02_24s, but the reading cannot be true (voltage = 0.00 V is not above 0 V"),
        (["read", "--type", "jk", "--address", "x", "--pin", "abc"], 2,
         "dbus-bms read: argument --pin: expected up to 6 digits, not 'abc' (see dbus-bms read --help)"),
        (["read", "--type", "jk-nw", "--port", "x", "--timeout", "-1"], 2,
         "argument --timeout: expected a number of seconds above 0, not '-1'"),
        (["demo", "--seconds", "0"], 2, "argument --seconds: expected a number of seconds above 0"),
        (["simulate", "jk-nw", "--pty", "--cells", "0"], 2, "--cells 0: a simulated jk-nw has 1 to 32 cells"),
        (["simulate", "jk-nw", "--pty", "--cells", "40"], 2, "--cells 40: a simulated jk-nw has 1 to 32 cells"),
        (["simulate", "jk", "--ble", "--layout", "24s", "--cells", "32"], 2, "a simulated jk has 1 to 24 cells"),
        (["simulate", "jk-nw", "--pty", "--link", "/nonexistent/ttyJK"], 2, "--link /nonexistent/ttyJK: there is no folder /nonexistent"),
        (["simulate", "jk", "--ble", "--bus", "unix:path=/nonexistent/bus"], 1,
         "cannot connect to the D-Bus at unix:path=/nonexistent/bus: No such file or directory"),
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
    assert len(r.stderr.splitlines()) == 1 and r.stdout == "", r.stderr  # one line, never a traceback


def test_help_lists_the_names_and_the_exit_statuses():
    for command, option, names in [("read", "--type TYPE", ["jk-nw,", "jbd-ble,"]),
                                   ("decode", "--protocol PROTOCOL", ["jk_nw,", "jk02_32s,"]),
                                   ("simulate", "type", ["jk-nw,", "daly-ble,"])]:
        r = dbus_bms(command, "--help")
        assert r.returncode == 0 and option in r.stdout and all(name in r.stdout.split() for name in names), r.stdout
        assert ("exit status: 0 ok, 1 failed (no reply, undecodable bytes, a reading that cannot be true, invalid "
                "config), 2 bad usage") in " ".join(r.stdout.split())
    r = dbus_bms("run", "--help")
    assert f"(default {GX_CONFIG}, the GX's)" in " ".join(r.stdout.split())


@pytest.mark.skipif(GX_CONFIG.exists(), reason="this machine has a GX config")
def test_run_without_a_config_names_the_gx_one():
    r = dbus_bms("run")
    assert r.returncode == 1
    assert r.stderr == f"dbus-bms run: no {GX_CONFIG}: give --config FILE, or write that one (see examples/dbus-bms.yaml)\n"


def test_run_without_a_bus_says_which_bus_it_tried(tmp_path):
    cfg = tmp_path / "dbus-bms.yaml"
    cfg.write_text(f"state_dir: {tmp_path}\nbatteries:\n  - type: jk-nw\n    port: {tmp_path / 'ttyUSB0'}\n")
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    r = dbus_bms("run", "--config", str(cfg), env=env | {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/none"})
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert (f"cannot connect to the D-Bus system bus at unix:path={tmp_path}/none: No such file or directory; "
            "is dbus-daemon running?") in r.stderr


def test_a_single_ble_read_without_a_system_bus_says_so_and_no_retry(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    r = dbus_bms("read", "--type", "jk", "--address", "C8:47:8C:00:00:01",
                 env=env | {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/none"})
    assert r.returncode == 1
    assert r.stderr == (f"dbus-bms read: BLE C8:47:8C:00:00:01: cannot connect (no D-Bus system bus at "
                        f"unix:path={tmp_path}/none: No such file or directory; is dbus-daemon running?)\n")


def _old_python() -> str | None:
    """A Python that dbus-bms refuses, 3.8 (as Venus OS before v3.60 ships) first; one that runs."""
    found = [str(p) for minor in (8, 9, 10, 7) for p in Path.home().glob(f".pyenv/versions/3.{minor}.*/bin/python")]
    found += [p for minor in (8, 9, 10, 7) if (p := shutil.which(f"python3.{minor}"))]
    return next((p for p in found if subprocess.run([p, "-c", ""], capture_output=True).returncode == 0), None)


@pytest.mark.skipif(_old_python() is None, reason="no Python older than 3.11 here")
def test_an_old_python_is_refused_with_the_version_it_needs():
    python = _old_python()
    r = subprocess.run([python, "-m", "dbus_bms", "--version"], capture_output=True, text=True, timeout=60,
                       cwd=Path(__file__).parent.parent)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "dbus-bms needs 3.11 or later (Venus OS v3.60 and later ship 3.12)" in r.stderr


def _simulator(link: Path, *args: str) -> subprocess.Popen:
    sim = subprocess.Popen([sys.executable, "-m", "dbus_bms", "simulate", "jk-nw", "--pty", "--link", str(link), *args],
                           stdout=subprocess.PIPE, text=True)
    assert sim.stdout.readline().strip() == str(link)
    return sim


@pytest.mark.parametrize("fault, saw", [("garbage", "garbage, no frame in it"),
                                        ("bad-checksum", "1 frame with a bad checksum or length"),
                                        ("truncated", "a frame that never ended")])
def test_read_names_what_came_instead_of_a_reply(tmp_path, fault, saw):
    link = tmp_path / "ttyJK"
    sim = _simulator(link, "--fault", fault)
    try:
        # A reply timeout that a loaded machine's simulator keeps to; the bytes come at once.
        r = dbus_bms("read", "--type", "jk-nw", "--port", str(link), "--timeout", "3")
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    assert r.returncode == 1
    assert r.stderr.startswith(f"dbus-bms read: no reply from {link} within 3 s: "), r.stderr
    assert r.stderr.endswith(f" bytes came, {saw}; check the baud rate, the A/B wires and the type\n"), r.stderr


def test_a_simulators_link_is_its_own(tmp_path):
    link = tmp_path / "ttyJK"
    sim = _simulator(link)
    try:
        r = dbus_bms("simulate", "jk-nw", "--pty", "--link", str(link))
        assert r.returncode == 2 and f"--link {link}: in use, it leads to /dev/" in r.stderr, r.stderr
        assert link.is_symlink() and link.exists()
    finally:
        sim.send_signal(signal.SIGTERM)
        assert sim.wait(timeout=10) == 0
    assert not link.is_symlink()  # stopped by SIGTERM, it removed what it made
    link.symlink_to(tmp_path / "a pty long gone")
    sim = _simulator(link)  # a stale link is replaced
    sim.terminate()
    assert sim.wait(timeout=10) == 0 and not link.is_symlink()


def test_decode_shows_a_reading_whose_values_disagree_with_a_note():
    update = load_fixture("daly_ble_modbus.json")["frames"][0]["sequence"]
    r = dbus_bms("decode", "--protocol", "daly_modbus", *(step["response_hex"] for step in update))
    assert r.returncode == 0 and "voltage      14.00 V" in r.stdout
    assert r.stderr == ("dbus-bms decode: note: the daemon would refuse this reading (sum of cells 16.57 V against "
                        "pack 14.00 V (more than 1.00 V apart))\n")


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
