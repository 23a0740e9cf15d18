"""End to end: three simulated JKs on ptys as one group, ``dbus-bms run`` publishing them as one battery
service, each pack under /Packs/<k>/, and what the group does when a pack goes quiet; in process, what
it does when its own update fails."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import subprocess
import sys

import pytest
from dbus_fast.aio import MessageBus

from dbus_bms.app import Battery
from dbus_bms.charge.config import ChargeConfig
from dbus_bms.config import BatteryConfig, GroupConfig
from dbus_bms.devices.registry import create_device
from dbus_bms.group_battery import GroupBattery
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.sim.jk_nw import JkNwSimulator
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.pty_server import PtyServer
from dbus_bms.victron.connection import connect
from dbus_bms.victron.reader import battery_services, get_items, name_owner, watch_items_changed

from .waiting import until

FAST = "poll_interval: 0.2\ncharge:\n  stale_after: 2.0\n  current_recovery_hold: 1.0\n"
# Each pack takes its own steady charge current: the group's current is their sum, and its split the shares.
CURRENTS = (10.0, 20.0, 30.0)


def group_config(min_members: int = 1) -> str:
    return FAST + f"groups:\n  - alias: bank\n    members: [jk0, jk1, jk2]\n    min_members: {min_members}\n"


async def started(private_bus, tmp_path, min_members: int = 1) -> DaemonHarness:
    h = DaemonHarness(private_bus, tmp_path, count=3, extra_config=group_config(min_members))
    for sim, amps in zip(h.sims, CURRENTS):
        sim.pack.current_override = amps
    await h.start()
    return h


def all_online(items) -> bool:
    return (items.get("/Connected") == 1 and items.get("/System/NrOfModulesOnline") == 3
            and all(items.get(f"/Packs/{k}/Dc/0/Current") == CURRENTS[k - 1] for k in (1, 2, 3))
            and items.get("/Info/MaxChargeCurrent", 0) > 0)


def pack(items, k: int, path: str):
    return items[f"/Packs/{k}{path}"]


def bound(items, packs: tuple[int, ...], limit: str, shares: list[float]) -> float:
    """The largest group current at which no pack's share exceeds its own published limit."""
    return min(pack(items, k, limit) / s for k, s in zip(packs, shares))


async def test_three_packs_are_one_battery_service_with_each_pack_under_packs(private_bus, tmp_path):
    h = await started(private_bus, tmp_path)
    try:
        items = await h.wait_for(all_online, "bank")
        assert await battery_services(h.bus) == [h.service("bank")]  # no member has a service of its own
        assert items["/Dc/0/Current"] == pytest.approx(sum(CURRENTS), abs=0.01)
        volts = [pack(items, k, "/Dc/0/Voltage") for k in (1, 2, 3)]
        assert items["/Dc/0/Voltage"] == pytest.approx(sum(volts) / 3, abs=0.01)
        capacities = [pack(items, k, "/InstalledCapacity") for k in (1, 2, 3)]
        assert items["/InstalledCapacity"] == pytest.approx(sum(capacities))
        assert [items[f"/System/{p}"] for p in ("NrOfBatteries", "BatteriesParallel", "BatteriesSeries")] == [3, 3, 1]
        assert (items["/System/NrOfModulesOffline"], items["/Alarms/BmsCable"]) == (0, 0)
        assert items["/System/NrOfCellsPerBattery"] == 16
        # localsettings gives the group the first battery instance: no member asked for one.
        assert items["/DeviceInstance"] == 512
        assert items["/Mgmt/ProcessName"] == "dbus-bms"
        assert "/Voltages/Cell1" not in items  # a group has no one string of cells; its packs have theirs

        cells = {(k, i): pack(items, k, f"/Voltages/Cell{i}") for k in (1, 2, 3) for i in range(1, 17)}
        assert all(2.5 < v < 3.7 for v in cells.values())
        for k in (1, 2, 3):
            assert pack(items, k, "/Name") == f"jk{k - 1}"
            assert pack(items, k, "/Online") == 1
            assert pack(items, k, "/Mgmt/Connection").startswith(f"Serial {tmp_path / f'ttyJK{k - 1}'} ok")
            assert pack(items, k, "/System/MinCellVoltage") == min(cells[k, i] for i in range(1, 17))
            # The path is there; a JK NW reports no balancing per cell, so it is invalid.
            assert pack(items, k, "/Balances/Cell16") is None
        low = min(cells, key=cells.get)
        high = max(cells, key=cells.get)
        assert items["/System/MinCellVoltage"] == cells[low]
        assert items["/System/MinVoltageCellId"] == f"jk{low[0] - 1} C{low[1]}"
        assert items["/System/MaxCellVoltage"] == cells[high]
        assert items["/System/MaxVoltageCellId"] == f"jk{high[0] - 1} C{high[1]}"

        # CVL: the lowest pack's; CCL: the measured split, no pack's share above its own CCL.
        assert items["/Info/MaxChargeVoltage"] == min(pack(items, k, "/Info/MaxChargeVoltage") for k in (1, 2, 3))
        shares = [amps / sum(CURRENTS) for amps in CURRENTS]
        ccl = bound(items, (1, 2, 3), "/Info/MaxChargeCurrent", shares)
        assert ccl - 0.1 <= items["/Info/MaxChargeCurrent"] <= ccl
        assert items["/Info/MaxChargeCurrent"] < sum(pack(items, k, "/Info/MaxChargeCurrent") for k in (1, 2, 3))
        assert items["/History/MaximumCellVoltage"] >= cells[high]

        # The three packs poll on one tick and the group is updated once for them, not once each. With
        # their currents on the move, every reading of every pack changes a path of the group.
        for sim in h.sims:
            sim.pack.current_override = None
        owner = await name_owner(h.bus, h.service("bank"))
        updates = []

        def count(msg):
            if msg.member == "ItemsChanged" and msg.sender == owner:
                updates.append(msg)

        h.bus.add_message_handler(count)
        await watch_items_changed(h.bus)
        asked = sum(sim.requests for sim in h.sims)
        await until(lambda: sum(sim.requests for sim in h.sims) >= asked + 30)
        assert 0 < len(updates) < 20
    finally:
        await h.stop()


async def test_a_quiet_pack_leaves_the_group_online_on_the_two_others(private_bus, tmp_path):
    h = await started(private_bus, tmp_path)
    try:
        await h.wait_for(all_online, "bank")
        h.sims[2].fault = Fault.SILENT
        items = await h.wait_for(lambda it: it.get("/System/NrOfModulesOffline") == 1, "bank")
        assert (items["/Connected"], items["/System/NrOfModulesOnline"], items["/Alarms/BmsCable"]) == (1, 2, 1)
        assert pack(items, 3, "/Online") == 0 and pack(items, 3, "/Dc/0/Voltage") is None
        assert pack(items, 3, "/Info/MaxChargeCurrent") == 0  # its own fail-safe's
        assert pack(items, 3, "/Mgmt/Connection").startswith(f"Serial {tmp_path / 'ttyJK2'} FAILING")
        assert items["/Dc/0/Current"] == pytest.approx(CURRENTS[0] + CURRENTS[1], abs=0.01)
        caps = [pack(items, k, "/InstalledCapacity") for k in (1, 2)]
        assert items["/InstalledCapacity"] == pytest.approx(sum(caps))
        # The two that remain carry the group's current: the charge by their measured split, the
        # discharge (none flows) by their capacities.
        ccl = bound(items, (1, 2), "/Info/MaxChargeCurrent", [1 / 3, 2 / 3])
        assert ccl - 0.1 <= items["/Info/MaxChargeCurrent"] <= ccl
        dcl = bound(items, (1, 2), "/Info/MaxDischargeCurrent", [c / sum(caps) for c in caps])
        assert dcl - 0.1 <= items["/Info/MaxDischargeCurrent"] <= dcl
        assert items["/Info/MaxChargeCurrent"] > 0 and items["/Io/AllowToCharge"] == 1
        assert "jk2" in items["/Mgmt/Connection"]

        h.sims[2].fault = Fault.NONE
        await h.wait_for(all_online, "bank")
    finally:
        await h.stop()


async def test_with_every_pack_required_a_quiet_one_puts_the_group_in_its_fail_safe(private_bus, tmp_path):
    h = await started(private_bus, tmp_path, min_members=3)
    try:
        await h.wait_for(all_online, "bank")
        h.sims[1].fault = Fault.SILENT
        items = await h.wait_for(lambda it: it.get("/Connected") == 0, "bank")
        assert (items["/Info/MaxChargeCurrent"], items["/Io/AllowToCharge"], items["/Alarms/BmsCable"]) == (0, 0, 2)
        assert items["/Info/ChargeLimitation"].startswith("Fail-safe: only 2 of 3 packs online (at least 3 needed)")
        await h.wait_for_log("bank: Fail-safe: only 2 of 3 packs online")
        assert items["/Info/MaxChargeVoltage"] is not None  # stays valid: the GX keeps the group as its BMS
        assert items["/Soc"] is None and items["/System/MinCellVoltage"] is None  # nothing shown as live
        assert pack(items, 1, "/Online") == 1 and pack(items, 2, "/Online") == 0
        h.sims[1].fault = Fault.NONE
        await h.wait_for(all_online, "bank")
        await h.wait_for_log("bank: 3 of 3 packs online: the group is online again")
    finally:
        await h.stop()


async def test_at_a_stop_the_group_holds_no_charging_with_discharge_as_it_was(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=3, extra_config=group_config(), stop_hold=2.0)
    for sim, amps in zip(h.sims, CURRENTS):
        sim.pack.current_override = amps
    await h.start()
    try:
        before = await h.wait_for(all_online, "bank")
        h.proc.terminate()
        items = await h.wait_for(lambda it: it.get("/Info/ChargeLimitation") == "dbus-bms is stopping", "bank")
        assert (items["/Info/MaxChargeCurrent"], items["/Io/AllowToCharge"]) == (0, 0)
        assert items["/Info/MaxDischargeCurrent"] == before["/Info/MaxDischargeCurrent"] > 0
    finally:
        await h.stop()


async def test_a_series_stack_adds_up_the_voltages_and_needs_every_pack(private_bus, tmp_path):
    stack = FAST + "groups:\n  - alias: stack\n    wiring: series\n    members: [jk0, jk1, jk2]\n"
    h = DaemonHarness(private_bus, tmp_path, count=3, extra_config=stack)
    for sim in h.sims:
        sim.pack.current_override = 12.0  # one current through the string
    await h.start()
    try:
        items = await h.wait_for(lambda it: it.get("/Connected") == 1 and it.get("/System/NrOfModulesOnline") == 3
                                 and (it.get("/Info/MaxChargeCurrent") or 0) > 0, "stack")
        volts = [pack(items, k, "/Dc/0/Voltage") for k in (1, 2, 3)]
        assert items["/Dc/0/Voltage"] == pytest.approx(sum(volts), abs=0.02)
        assert items["/Dc/0/Current"] == pytest.approx(12.0, abs=0.01)
        assert [items[f"/System/{p}"] for p in ("NrOfBatteries", "BatteriesParallel", "BatteriesSeries")] == [3, 1, 3]
        cvls = [pack(items, k, "/Info/MaxChargeVoltage") for k in (1, 2, 3)]
        # No pack above its own CVL with the others where they are now, never above the CVLs' sum.
        assert items["/Info/MaxChargeVoltage"] <= min(sum(cvls), *(c + sum(volts) - v for c, v in zip(cvls, volts))) + 0.01
        assert items["/Info/MaxChargeCurrent"] == min(pack(items, k, "/Info/MaxChargeCurrent") for k in (1, 2, 3))
        h.sims[0].fault = Fault.SILENT
        items = await h.wait_for(lambda it: it.get("/Connected") == 0, "stack")
        assert (items["/Info/MaxChargeCurrent"], items["/Alarms/BmsCable"]) == (0, 2)
        assert items["/Info/ChargeLimitation"].startswith("Fail-safe: only 2 of 3 packs online (at least 3 needed)")
    finally:
        await h.stop()


async def test_a_fault_in_combining_puts_the_group_in_its_fail_safe_and_the_members_go_on(
    private_bus, tmp_path, monkeypatch, caplog
):
    # In process, with the app's own batteries on simulated JKs: the group's spec made one that
    # combine refuses is a fault inside the group's update.
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", private_bus.address)
    caplog.set_level(logging.INFO, logger="dbus_bms")
    charge = ChargeConfig(stale_after=2.0, current_recovery_hold=0.5)
    servers = [PtyServer(JkNwSimulator(SimPack(seed=i + 1), serial=f"SIM-{i}"), link=str(tmp_path / f"tty{i}"))
               for i in range(2)]
    for server in servers:
        server.start()
    members = []
    for i, server in enumerate(servers):
        cfg = BatteryConfig(type="jk-nw", port=server.link, alias=f"pack{i}", poll_interval=0.2, charge=charge)
        members.append(Battery(cfg, create_device(cfg), await connect(), tmp_path, settings_wait=0.0, claims={}))
    group = GroupBattery(GroupConfig("bank", ("pack0", "pack1")), members, await connect(), tmp_path, settings_wait=0.0,
                         claims={}, process_name="dbus-bms")
    tasks = [asyncio.create_task(b.run(0.2)) for b in members]
    client = await MessageBus(bus_address=private_bus.address).connect()

    async def published(predicate):
        last = None
        for _ in range(400):
            with contextlib.suppress(RuntimeError):
                last = await get_items(client, "com.victronenergy.battery.bank")
                if predicate(last):
                    return last
            await asyncio.sleep(0.05)
        raise AssertionError(f"condition not reached; last published {last}")

    try:
        await published(lambda it: it["/Connected"] == 1 and it["/System/NrOfModulesOnline"] == 2)
        good = group.spec
        group.spec = dataclasses.replace(good, wiring="star")
        items = await published(lambda it: it["/Connected"] == 0)
        assert (items["/Info/MaxChargeCurrent"], items["/Io/AllowToCharge"], items["/Alarms/BmsCable"]) == (0, 0, 2)
        assert items["/Info/ChargeLimitation"] == "Fail-safe: internal error while combining the group"
        assert items["/Info/MaxDischargeCurrent"] <= charge.failsafe_discharge_current
        # The members go on reading, and the group's fault is logged once however often it recurs.
        polls = [b.charge_state.last_time for b in members]
        await until(lambda: all(b.charge_state.last_time > t + 1.0 for b, t in zip(members, polls)))
        faults = [r for r in caplog.records if r.exc_info and r.getMessage().startswith("bank:")]
        assert len(faults) == 1 and faults[0].exc_info[0] is ValueError
        group.spec = good
        await published(lambda it: it["/Connected"] == 1 and it["/System/NrOfModulesOnline"] == 2)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for b in (*members, group):
            await b.close()
        for server in servers:
            server.stop()
        client.disconnect()


def test_the_demo_shows_three_packs_as_one_group_in_80_columns():
    r = subprocess.run([sys.executable, "-m", "dbus_bms", "demo", "--group", "--seconds", "5"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "com.victronenergy.battery.bank" in r.stdout and "battery.jk0" not in r.stdout
    assert re.search(r"packs 3 of 3 online: min cell 3\.\d{3} V \(jk\d C\d+\)", r.stdout)
    for alias in ("jk0", "jk1", "jk2"):
        assert re.search(rf"^  {alias} +online +SoC +\d+ % 5\d\.\d\d V .* CCL \d+ A$", r.stdout, re.MULTILINE)
    assert max(len(line) for line in r.stdout.splitlines() if not line.startswith("dbus-bms demo:")) <= 80


async def test_two_members_reading_one_bms_are_refused_not_counted_twice(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=3, extra_config=group_config())
    h.sims[2].device = h.sims[1].device  # the third port wired to the second pack's BMS
    await h.start()
    try:
        await h.wait_for_log("refused: its BMS has the unique id")
        items = await h.wait_for(lambda it: it.get("/System/NrOfModulesOnline") == 2
                                 and it.get("/System/NrOfModulesOffline") == 1, "bank")
        # Whichever of the two answered second is refused, once.
        (refused,) = re.findall(r"(jk[12]): refused: its BMS has the unique id jk-nw_SIM0001, which battery jk[12] "
                                r"already has; the group would count one pack twice", h.daemon_log())
        k = int(refused[-1]) + 1
        assert items["/Connected"] == 1 and pack(items, k, "/Online") == 0
        online = [j for j in (1, 2, 3) if j != k]
        assert items["/InstalledCapacity"] == pytest.approx(sum(pack(items, j, "/InstalledCapacity") for j in online))
        await asyncio.sleep(3.0)  # past stale_after: the refused one is not refused again
        assert h.daemon_log().count("refused: its BMS") == 1
    finally:
        await h.stop()
