"""``dbus-bms demo`` as a user runs it: values read back from D-Bus, and nothing left behind."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from dbus_bms.demo import ANSWERS_AGAIN, CYCLE, SILENT_FROM, choose, demo_types, render, render_line, scenario
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
    assert cvls and all(52.0 < v <= 55.20 for v in cvls) and " online" in r.stdout
    bus_dir = re.search(r"unix:path=(/tmp/dbus-bms-bus-[^/]+)/", r.stdout)[1]
    demo_dir = re.search(r"(/tmp/dbus-bms-demo-[^/]+)/ttyJK0", r.stdout)[1]
    assert not Path(bus_dir).exists() and not Path(demo_dir).exists()
    assert _processes_mentioning(demo_dir) == [] and _processes_mentioning(bus_dir) == []


def test_the_story_alternates_answering_silence_and_recovery():
    assert scenario(0)[0] is Fault.NONE
    assert scenario(SILENT_FROM + 1)[0] is Fault.SILENT
    fault, story = scenario(ANSWERS_AGAIN + 1, "jk0's BMS")
    assert fault is Fault.NONE and story.startswith("jk0's BMS answers again: its limits recover")
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
        if re.match(r"\S+'s BMS ", line):
            if screens and done(screens[-1]):
                return screens[-1]
            screens.append([])
        elif screens and line.strip():
            screens[-1].append(line.rstrip("\n"))
    raise AssertionError(f"no screen showed every battery; the last:\n{screens[-1] if screens else '-'}")


def test_demo_shows_one_battery_of_each_family_named_two_lines_each_in_80_columns():
    products = {"jbd": "JBD JBD-", "daly": "Daly", "ant": "ANT BMS", "seplos": "Seplos", "jk0": "JK BMS"}
    # Each family's BLE type too, where it has one.
    products |= {t.replace("-", "_"): products[family] for t, family in demo_types().items() if t.endswith("-ble") and family in products}

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


class Screen:
    """The few things a terminal does with what the demo writes: home, clear, carriage return,
    newline, and characters that wrap at the last column and scroll the screen at the last row."""

    def __init__(self, rows: int = 24, columns: int = 80) -> None:
        self.rows, self.columns = rows, columns
        self.lines = [[" "] * columns for _ in range(rows)]
        self.row = self.column = 0
        self.scrolled = 0

    def feed(self, text: str) -> None:
        for token in re.findall(r"\x1b\[[0-9;]*[A-Za-z]|.", text, re.S):
            if token in ("\x1b[H", "\x1b[1;1H"):
                self.row = self.column = 0
            elif token in ("\x1b[2J", "\x1b[J"):
                self.lines = [[" "] * self.columns for _ in range(self.rows)]
            elif token == "\r":
                self.column = 0
            elif token == "\n":
                self._down()
            elif not token.startswith("\x1b"):
                if self.column == self.columns:
                    self.column = 0
                    self._down()
                self.lines[self.row][self.column] = token
                self.column += 1

    def _down(self) -> None:
        if self.row == self.rows - 1:
            self.lines = [*self.lines[1:], [" "] * self.columns]
            self.scrolled += 1
        else:
            self.row += 1

    def text(self) -> list[str]:
        return ["".join(line).rstrip() for line in self.lines]


def test_ctrl_c_in_a_terminal_stops_the_demo_cleanly_and_its_screen_fits_80_by_24():
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    # A session of its own, as a shell gives a job: Ctrl-C is SIGINT to the whole process group.
    proc = subprocess.Popen([sys.executable, "-m", "dbus_bms", "demo"], stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    raw, screen = b"", Screen()

    def read(wait: float) -> bool:
        nonlocal raw
        ready, _, _ = select.select([master], [], [], wait)
        try:
            chunk = os.read(master, 65536) if ready else b""
        except OSError:  # EIO: every process holding the terminal has gone
            return False
        raw += chunk
        screen.feed(chunk.decode(errors="replace"))  # whole screens arrive in one write, so seams are rare
        return not ready or bool(chunk)

    def both_shown(lines: list[str]) -> bool:
        return all(any(line.startswith(f"com.victronenergy.battery.{alias} ") and " online" in line
                       for line in lines) for alias in ("jk0", "jkble0")) and \
            sum(bool(re.match(r"  CVL \d+\.\d\d V   CCL \d+\.\d A", line)) for line in lines) == 2

    try:
        end = time.monotonic() + 60
        while not both_shown(screen.text()) and time.monotonic() < end and read(1.0):
            pass
        shown = screen.text()
        os.killpg(proc.pid, signal.SIGINT)
        end = time.monotonic() + 30
        while time.monotonic() < end and read(1.0):
            pass
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        os.close(master)
    output = raw.decode(errors="replace")
    assert both_shown(shown), "\n".join(shown)
    assert code == 0 and "Traceback" not in output, output[-3000:]
    assert shown[0].startswith("Ctrl-C stops · jk0's BMS alone answers; it falls silent in ")
    assert sum(bool(re.match(r"  SoC \d+ % ", line)) for line in shown) == 2, "\n".join(shown)
    assert sum(line.startswith("  cells 16: min 3.") for line in shown) == 2
    assert screen.scrolled == 0, "a line of the demo's wrapped or its screen ran past 24 rows"
    demo_dir = re.search(r"(/tmp/dbus-bms-demo-[^/]+)/ttyJK0", output)[1]
    assert not Path(demo_dir).exists() and _processes_mentioning(demo_dir) == []


def test_a_battery_without_a_reading_shows_no_cells_and_every_line_fits_80_columns():
    items = {"/ProductName": "JK BMS", "/Connected": 0, "/DeviceInstance": 512, "/Info/ChargeMode": "Fail-safe",
             "/Info/ChargeLimitation": "Fail-safe: no BMS data for 12 s, the BMS cable may be loose or the BMS off",
             "/Mgmt/Connection": "Serial /dev/ttyUSB0: no reply for 12 s, last reading long ago, and more words"}
    lines = render("com.victronenergy.battery.jk0", items).splitlines()
    assert "  cells --: no reading" in lines and not any("None" in line for line in lines)
    assert "OFFLINE" in lines[0] and all(len(line) <= 80 for line in lines)
    items |= {f"/Voltages/Cell{i}": 3.3 for i in range(1, 33)}
    lines = render("com.victronenergy.battery.jkble0", items).splitlines()
    assert sum(line.startswith("  mV 3300") for line in lines) == 3 and all(len(line) <= 80 for line in lines)
