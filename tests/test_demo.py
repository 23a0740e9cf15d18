"""``dbus-bms demo`` as a user runs it: values read back from D-Bus, and nothing left behind."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbus_bms.demo import CYCLE, SILENT_FROM, choose, demo_types, render_line, scenario
from dbus_bms.sim.faults import Fault


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path("/proc", pid, "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline)
    return found


def test_demo_shows_live_values_from_dbus_and_cleans_up():
    r = subprocess.run([sys.executable, "-m", "dbus_bms", "demo", "--seconds", "6"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "com.victronenergy.battery.jk0" in r.stdout
    assert "com.victronenergy.battery.jkble0" in r.stdout and "link: BLE C8:47:8C:00:00:01" in r.stdout
    assert re.search(r"SoC \d+ %\s+5\d\.\d\d V", r.stdout)
    # CVL starts just above the cells' sum and climbs towards 16 × 3.45 V.
    cvls = [float(v) for v in re.findall(r"CVL (\d+\.\d\d) V", r.stdout)]
    assert cvls and all(52.0 < v <= 55.20 for v in cvls) and "connected 1" in r.stdout
    bus_dir = re.search(r"unix:path=(/tmp/dbus-bms-bus-[^/]+)/", r.stdout)[1]
    demo_dir = re.search(r"(/tmp/dbus-bms-demo-[^/]+)/ttyJK0", r.stdout)[1]
    assert not Path(bus_dir).exists() and not Path(demo_dir).exists()
    assert _processes_mentioning(demo_dir) == [] and _processes_mentioning(bus_dir) == []


def test_the_story_alternates_answering_and_silence():
    assert scenario(0)[0] is Fault.NONE
    assert scenario(SILENT_FROM + 1)[0] is Fault.SILENT
    assert scenario(CYCLE + 1)[0] is Fault.NONE


def _screens_until(proc: subprocess.Popen, done, timeout: float = 60.0) -> list[str]:
    """The demo's screens (the lines after each story line) as it prints them, until ``done`` holds
    for one; the bound only guards against a hang."""
    end = time.monotonic() + timeout
    screens: list[list[str]] = []
    while time.monotonic() < end:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if not ready:
            continue
        line = proc.stdout.readline()
        if not line:
            break
        if re.match(r"simulated BMS \S+ ", line):
            if screens and done(screens[-1]):
                return screens[-1]
            screens.append([])
        elif screens and line.strip():
            screens[-1].append(line.rstrip("\n"))
    raise AssertionError(f"no screen showed every battery; the last:\n{screens[-1] if screens else '-'}")


def test_demo_shows_one_battery_of_each_family_named_two_lines_each_in_80_columns():
    products = {"jbd": "JBD JBD-", "daly": "Daly", "ant": "ANT BMS", "seplos": "Seplos", "jk0": "JK BMS"}
    # Each family's BLE type too, where it has one.
    products |= {t.replace("-", "_"): products[family] for t, family in demo_types().items() if t.endswith("-ble")}

    def everyone_online(screen: list[str]) -> bool:
        return sum(" online " in text for text in screen) == len(products)

    proc = subprocess.Popen([sys.executable, "-m", "dbus_bms", "demo", "--bms", "jbd,daly,ant,seplos,jk-nw"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        screen = _screens_until(proc, everyone_online)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    for alias, product in products.items():
        line = next(n for n, text in enumerate(screen) if text.startswith(f"{alias} "))
        assert re.match(rf"{alias} +{product}.* online +SoC +\d+ % +5\d\.\d\d V", screen[line])
        assert re.match(r"  CVL 5\d\.\d\d V  CCL \d+ A  DCL \d+ A  cells 16", screen[line + 1])
    assert all(len(text) <= 80 for text in screen)
    assert len(screen) == 2 * len(products)


def test_demo_refuses_a_name_it_does_not_know_with_the_ones_it_knows():
    r = subprocess.run([sys.executable, "-m", "dbus_bms", "demo", "--bms", "jbd,victron"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2
    assert "no simulated BMS 'victron'; known: " in r.stderr and "jk-nw" in r.stderr and "daly" in r.stderr


def test_a_family_is_each_of_its_types_and_a_type_itself():
    types = demo_types()
    assert choose("jk") == ("jk-nw", "jk")
    assert choose("jk-nw, jbd-ble,jk-nw") == ("jk-nw", "jbd-ble")
    ble = [t for t, family in types.items() if family == "jbd" and t != "jbd"]
    assert choose("jbd") == ("jbd", *ble)
    with pytest.raises(ValueError, match="names no BMS"):
        choose(" , ")


def test_the_two_lines_of_a_battery_keep_to_80_columns_whatever_it_publishes():
    items = {"/ProductName": "A very long product name indeed", "/Connected": 0, "/Soc": 100, "/Dc/0/Voltage": 812.25,
             "/Dc/0/Current": -1234.5, "/Dc/0/Temperature": -20.5, "/Info/MaxChargeVoltage": 812.5,
             "/Info/MaxChargeCurrent": 0.0, "/Info/MaxDischargeCurrent": 1500.0, "/Info/ChargeMode": "Fail-safe",
             "/Info/ChargeLimitation": "Fail-safe: no reading for 12 s, the BMS cable may be loose or the BMS off",
             "/Voltages/Cell1": 3.3}
    first, second = render_line("com.victronenergy.battery.a_long_alias", items).splitlines()
    assert len(first) <= 80 and len(second) <= 80
    assert "OFFLINE" in first and "-1234.50 A" in first and "Fail-safe: no reading" in second
    items["/Alarms/BmsCable"] = 2
    assert "alarms BmsCable" in render_line("com.victronenergy.battery.x", items)
