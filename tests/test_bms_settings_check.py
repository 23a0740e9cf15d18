"""The BMS's own settings: published by the daemon, warned about once, saved, and held against the
config by check-config."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

from dbus_bms.bms_settings_store import BmsSettingsStore, load, settings_path
from dbus_bms.model import BmsSettings
from dbus_bms.sim.harness import DaemonHarness


def check_config(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbus_bms", "check-config", str(path)], capture_output=True,
                          text=True, timeout=60)


def config(tmp_path, charge: str = "") -> object:
    cfg = tmp_path / "dbus-bms.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\n{charge}batteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n"
                   "    alias: shed\n")
    return cfg


def test_check_config_warns_where_the_config_goes_beyond_the_bms_as_last_read(tmp_path):
    cfg = config(tmp_path, "charge:\n  cell_max_voltage: 3.55\n  max_charge_current: 200\n")
    r = check_config(cfg)
    assert r.returncode == 0 and "warning" not in r.stdout  # nothing read from the BMS yet
    (tmp_path / "state").mkdir()
    store = BmsSettingsStore(settings_path(tmp_path / "state", "shed"))
    assert store.save(BmsSettings(cell_ovp=3.50, max_charge_current=150.0))
    r = check_config(cfg)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if "warning" in line]
    assert len(lines) == 2
    assert "shed: cell_max_voltage 3.55 V" in lines[0] and "charging stops at 3.47 V per cell" in lines[0]
    assert "max_charge_current 200 A" in lines[1] and "150 A" in lines[1]
    assert "the BMS's settings as read" in lines[0]


def test_the_store_writes_only_a_change_and_survives_a_restart(tmp_path):
    path = settings_path(tmp_path, "shed")
    first = BmsSettings(cell_ovp=3.65, cell_count=16)
    assert BmsSettingsStore(path).save(first)
    again = BmsSettingsStore(path)  # a restart: what the file holds is not written again
    assert not again.save(first)
    assert again.save(BmsSettings(cell_ovp=3.60, cell_count=16))
    assert load(path)[0] == BmsSettings(cell_ovp=3.60, cell_count=16)


def test_a_damaged_settings_file_is_a_warning_not_a_failure(tmp_path):
    cfg = config(tmp_path)
    (tmp_path / "state").mkdir()
    settings_path(tmp_path / "state", "shed").write_text('{"settings": {"cell_ovp": "high"}}')
    r = check_config(cfg)
    assert r.returncode == 0
    assert "cannot read the BMS's saved settings (cell_ovp is 'high', not a number)" in r.stdout


async def test_the_daemon_publishes_the_bms_settings_warns_and_saves_them_for_check_config(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, extra_config="charge:\n  cell_max_voltage: 3.55")
    h.sims[0].settings = dataclasses.replace(h.sims[0].settings, cell_ovp=3.50, cell_ovp_recovery=3.40)
    await h.start()
    try:
        items = await h.wait_for(lambda it: it.get("/Bms/CellOverVoltageProtection") == 3.5)
        assert items["/Bms/CellCount"] == 16 and items["/Bms/ChargeOverCurrentProtection"] == 150.0
        assert items["/Info/MaxChargeVoltage"] < 16 * 3.50
        await h.wait_for_log("cell_max_voltage 3.55 V is not 0.03 V under the BMS's cell over-voltage protection 3.5 V")
    finally:
        await h.stop()
    assert (tmp_path / "daemon.log").read_text().count("over-voltage protection 3.5 V") == 1  # once, not per poll
    r = check_config(tmp_path / "dbus-bms.yaml")
    assert r.returncode == 0, r.stderr
    assert "warning: jk0: cell_max_voltage 3.55 V" in r.stdout and "charging stops at 3.47 V per cell" in r.stdout
