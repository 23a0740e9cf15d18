"""End to end: ``dbus-bms run`` with ``type: auto`` on ptys served by simulators of two families and
on a pty where nothing answers: each found family is a battery on D-Bus under its own name, the
family found is kept per port, the silent port is no service but says in the log what was tried, and
a family that falls silent is probed for again in the fail-safe. ``dbus-bms read --type auto`` says
what it found."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dbus_bms.devices.auto import cache_path
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.victron.reader import battery_services

FAMILIES = ("daly", "ant")
FAST = "poll_interval: 0.5\ncharge:\n  stale_after: 2.0\n"


class AutoHarness(DaemonHarness):
    """The harness's family batteries configured as ``type: auto``, and one more on ``silent``."""

    silent = ""

    def config_text(self) -> str:
        text = super().config_text()
        for family in FAMILIES:
            text = text.replace(f"  - type: {family}\n", "  - type: auto\n    timeout: 0.3\n")
        return text + f"  - type: auto\n    port: {self.silent}\n    alias: nothing\n    timeout: 0.1\n"


def online(items) -> bool:
    return items.get("/Connected") == 1 and items.get("/Soc") is not None


async def test_auto_finds_each_family_publishes_it_under_its_name_and_keeps_it(private_bus, tmp_path):
    h = AutoHarness(private_bus, tmp_path, count=0, families=FAMILIES, extra_config=FAST)
    master, slave = os.openpty()
    h.silent = os.ttyname(slave)
    await h.start(log_level="info")
    try:
        daly = await h.wait_for(online, "daly")
        ant = await h.wait_for(online, "ant")
        assert daly["/ProductName"].startswith("Daly") and ant["/ProductName"].startswith("ANT BMS")
        for items, family in ((daly, "daly"), (ant, "ant")):
            sim = h.family_sims[family]
            assert items["/Voltages/Cell1"] == pytest.approx(sim.pack.cell_voltages()[0], abs=0.01)
            assert items["/Mgmt/Connection"].startswith(f"Serial {tmp_path / f'tty_{family}'} (auto: {family})")
            kept = json.loads(cache_path(tmp_path / "state", str(tmp_path / f"tty_{family}")).read_text())
            assert kept["type"] == family
        await h.wait_for_log("found the daly family (Daly) at 9600 baud in")
        await h.wait_for_log("found the ant family (ANT BMS) at 19200 baud in")
        await h.wait_for_log(f"{h.silent}: no BMS family answered in")
        assert h.service("nothing") not in await battery_services(h.bus)

        # The Daly falls silent: after stale_after the port is probed again, in the fail-safe, and
        # the link says so; once it answers again it is found again.
        h.family_sims["daly"].fault = Fault.SILENT
        probing = await h.wait_for(lambda it: "(auto: probing; tried daly, jk-nw" in it["/Mgmt/Connection"], "daly")
        assert probing["/Info/MaxChargeCurrent"] == 0 and probing["/Io/AllowToCharge"] == 0 and probing["/Connected"] == 0
        await h.wait_for_log("the daly BMS has not answered for 2 s: probing the families again")
        h.family_sims["daly"].fault = Fault.NONE
        await h.wait_for(lambda it: "(auto: daly) ok" in it["/Mgmt/Connection"] and it["/Connected"] == 1, "daly")
        await h.wait_for_log("daly: BMS answers again")
    finally:
        await h.stop()
        os.close(master)
        os.close(slave)


def test_read_type_auto_says_what_it_found(tmp_path):
    link = tmp_path / "ttyBMS"
    sim = subprocess.Popen([sys.executable, "-m", "dbus_bms", "simulate", "jbd", "--pty", "--link", str(link)],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout.readline().strip() == str(link)
        r = subprocess.run([sys.executable, "-m", "dbus_bms", "read", "--type", "auto", "--port", str(link), "--json",
                            "--timeout", "0.3"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)["cell_voltages"]) == 16
        assert f"Serial {link} (auto: jbd)" in r.stderr
    finally:
        sim.terminate()
        sim.wait(timeout=10)
