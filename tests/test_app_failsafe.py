"""The app's own guarantees, in process, with real JK NW devices on ptys and a private bus: the
watchdog ages readings whatever the polls do, and one battery's fault stays that battery's."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re

import pytest
from dbus_fast.aio import MessageBus

from dbus_bms.app import WATCHDOG_TICK, Battery
from dbus_bms.charge.config import ChargeConfig
from dbus_bms.config import BatteryConfig
from dbus_bms.devices.registry import create_device
from dbus_bms.sim.jk_nw import JkNwSimulator
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.pty_server import PtyServer
from dbus_bms.victron.connection import connect
from dbus_bms.victron.reader import get_items

CHARGE = ChargeConfig(stale_after=2.0, current_recovery_hold=0.5)


@pytest.fixture
async def rig(private_bus, tmp_path, monkeypatch):
    """Starts batteries on simulated JKs; yields a function that adds one, and a client bus."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", private_bus.address)
    client = await MessageBus(bus_address=private_bus.address).connect()
    servers: list[PtyServer] = []
    batteries: list[Battery] = []
    tasks: list[asyncio.Task] = []
    claims: dict[str, str] = {}

    async def add(alias: str, *, interval: float = 0.2, serial: str | None = None) -> tuple[Battery, PtyServer]:
        sim = JkNwSimulator(SimPack(seed=len(servers) + 1), serial=serial or f"SIM-{alias}")
        server = PtyServer(sim, link=str(tmp_path / f"tty{alias}"))
        server.start()
        cfg = BatteryConfig(type="jk-nw", port=server.link, alias=alias, poll_interval=interval, charge=CHARGE)
        battery = Battery(cfg, create_device(cfg), await connect(), tmp_path, settings_wait=0.0, claims=claims)
        servers.append(server)
        batteries.append(battery)
        tasks.append(asyncio.create_task(battery.run(interval)))
        return battery, server

    yield add, client
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for b in batteries:
        await b.close()
    for server in servers:
        server.stop()
    client.disconnect()


async def wait_for(client, alias, predicate, timeout=20.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    last = None
    while loop.time() < end:
        try:
            last = await get_items(client, f"com.victronenergy.battery.{alias}")
        except RuntimeError:
            last = None
        if last is not None and predicate(last):
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"{alias}: condition not reached; last published {last}")


def online(items):
    return items.get("/Connected") == 1 and (items.get("/Info/MaxChargeCurrent") or 0) > 0


def age(items) -> int:
    return int(re.search(r"last reading (\d+) s ago", items["/Mgmt/Connection"])[1])


async def test_the_watchdog_trips_the_fail_safe_while_no_poll_returns(rig):
    add, client = rig
    # A 30 s poll interval stands for a poll that does not return for 30 s: only the watchdog can
    # see the reading age past its bound in between.
    battery, server = await add("slow", interval=30.0)
    await wait_for(client, "slow", online)
    server.stop()
    last = battery.charge_state.last_time
    loop = asyncio.get_running_loop()
    items = await wait_for(client, "slow", lambda it: it["/Info/MaxChargeCurrent"] == 0)
    tripped = loop.time() - last
    assert CHARGE.stale_after < tripped <= CHARGE.stale_after + 2 * WATCHDOG_TICK
    assert (items["/Io/AllowToCharge"], items["/Connected"], items["/Alarms/BmsCable"]) == (0, 0, 2)
    assert items["/Soc"] is None and items["/Dc/0/Voltage"] is None
    # The link text tells the true age of the last reading while no poll returns.
    seen = await wait_for(client, "slow", lambda it: age(it) >= 4)
    assert age(seen) == pytest.approx(loop.time() - last, abs=1.0)


async def test_a_fault_in_one_batterys_charge_control_leaves_the_others_publishing(rig, caplog):
    add, client = rig
    broken, _ = await add("broken")
    await add("healthy")
    await wait_for(client, "broken", online)
    await wait_for(client, "healthy", online)
    # A table with no points (the config parser refuses it) makes charge control raise IndexError
    # at the next reading that has a MOSFET temperature: a bug in our own code, in one battery.
    good = broken.cfg
    broken.cfg = dataclasses.replace(good, charge=dataclasses.replace(CHARGE, ccl_mosfet_temperature=()))
    caplog.set_level(logging.ERROR, logger="dbus_bms")
    items = await wait_for(client, "broken", lambda it: it["/Connected"] == 0)
    assert (items["/Info/MaxChargeCurrent"], items["/Io/AllowToCharge"], items["/Alarms/BmsCable"]) == (0, 0, 2)
    assert "internal error" in items["/Info/ChargeLimitation"]
    loop = asyncio.get_running_loop()
    end = loop.time() + 3.0
    while loop.time() < end:  # the healthy battery goes on without a gap
        healthy = await get_items(client, "com.victronenergy.battery.healthy")
        assert online(healthy) and age(healthy) <= 1
        await asyncio.sleep(0.1)
    tracebacks = [r for r in caplog.records if r.exc_info and "broken" in r.getMessage()]
    assert len(tracebacks) == 1 and tracebacks[0].exc_info[0] is IndexError
    broken.cfg = good
    await wait_for(client, "broken", online)


async def test_a_second_battery_with_the_same_bms_id_is_refused_naming_both(rig, caplog):
    add, client = rig
    caplog.set_level(logging.ERROR, logger="dbus_bms")
    await add("first", serial="SAME-ID")
    await wait_for(client, "first", online)
    second, _ = await add("second", serial="SAME-ID")
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while not second.refused and loop.time() < end:
        await asyncio.sleep(0.05)
    assert second.refused and second.service is None
    assert any("second" in r.getMessage() and "first" in r.getMessage() and "jk-nw_SAME-ID" in r.getMessage()
               for r in caplog.records)
    await wait_for(client, "first", online)


async def test_a_healthy_battery_keeps_its_watchdog_beyond_the_next_poll(rig):
    """While polls return, each reading moves the watchdog's timer past the next poll, so it never
    fires and a healthy battery costs no wake-up of its own; once polls stop it fires by the bound."""
    add, client = rig
    battery, server = await add("calm", interval=0.2)
    await wait_for(client, "calm", online)
    loop = asyncio.get_running_loop()
    for _ in range(10):
        timer = battery._watch_timer
        assert timer is not None and timer.when() - loop.time() > battery.cfg.poll_interval
        await asyncio.sleep(0.1)
    server.stop()
    last = battery.charge_state.last_time
    await wait_for(client, "calm", lambda it: it["/Info/MaxChargeCurrent"] == 0)
    assert loop.time() - last > CHARGE.stale_after
