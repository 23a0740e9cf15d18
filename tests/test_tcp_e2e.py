"""End to end: ``dbus-bms run`` reads a simulated JK NW behind a simulated RS485-TCP gateway
(``port: tcp://127.0.0.1:PORT``), and rides out the gateway dropping the connection or going down."""

from __future__ import annotations

import pytest

from dbus_bms.sim.harness import DaemonHarness

from .waiting import until

# The fail-safe blocks discharge at once too (by default it allows 20 A for a while).
FAST = "poll_interval: 0.2\ncharge:\n  stale_after: 2.0\n  current_recovery_hold: 1.0\n  failsafe_discharge_current: 0\n"


@pytest.fixture
async def daemon(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, extra_config=FAST, tcp=True)
    await h.start()
    yield h
    await h.stop()


def online(items):
    return items.get("/Connected") == 1 and items.get("/Soc") is not None


async def test_a_jk_behind_a_gateway_is_published_and_a_dropped_connection_is_made_again(daemon):
    gateway, sim = daemon.servers[0], daemon.sims[0]
    items = await daemon.wait_for(online)
    assert items["/Serial"] == "SIM0000"
    assert items["/Mgmt/Connection"].startswith(f"TCP 127.0.0.1:{gateway.port} ok")
    assert items["/Info/MaxChargeCurrent"] > 0
    assert gateway.accepted == 1

    gateway.drop_connections()
    await until(lambda: gateway.accepted == 2 and gateway.clients == 1)
    answered = sim.requests
    await until(lambda: sim.requests >= answered + 3)  # polls answered over the new connection
    items = await daemon.wait_for(lambda it: online(it) and "reconnects 1," in it["/Mgmt/Connection"])
    assert items["/Serial"] == "SIM0000"

    gateway.fragment = True  # replies in pieces from now on
    answered = sim.requests
    await until(lambda: sim.requests >= answered + 3)
    items = await daemon.wait_for(online)
    assert "bad frames 0, timeouts 0" in items["/Mgmt/Connection"]


async def test_a_gateway_down_past_stale_after_trips_the_fail_safe_until_it_is_back(daemon):
    gateway = daemon.servers[0]
    await daemon.wait_for(lambda it: online(it) and it["/Info/MaxChargeCurrent"] > 0)

    gateway.refuse(True)
    items = await daemon.wait_for(lambda it: it.get("/Connected") == 0)
    assert items["/Info/MaxChargeCurrent"] == 0
    assert items["/Info/MaxDischargeCurrent"] == 0
    assert items["/Io/AllowToCharge"] == 0
    assert items["/Alarms/BmsCable"] == 2
    assert items["/Soc"] is None

    gateway.refuse(False)
    items = await daemon.wait_for(lambda it: online(it) and it["/Info/MaxChargeCurrent"] > 0)
    assert items["/Info/MaxDischargeCurrent"] > 0
    assert items["/Io/AllowToCharge"] == 1
    assert "reconnects 1," in items["/Mgmt/Connection"]
    await daemon.wait_for_log("BMS answers again")


async def test_a_gateway_that_is_down_at_start_is_read_once_it_comes_up(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, extra_config=FAST, tcp=True)
    await h.start(serve=False)
    try:
        gateway = h.servers[0]
        await h.wait_for_log(f"cannot connect to 127.0.0.1:{gateway.port}: Connection refused")
        assert gateway.accepted == 0
        gateway.refuse(False)
        items = await h.wait_for(online)
        assert items["/Serial"] == "SIM0000"
    finally:
        await h.stop()
