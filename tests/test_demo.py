"""``dbus-bms demo`` as a user runs it: values read back from D-Bus, and nothing left behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from dbus_bms.demo import CYCLE, SILENT_FROM, scenario
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
