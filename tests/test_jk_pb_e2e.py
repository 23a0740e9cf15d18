"""End to end: ``dbus-bms run`` reads JK PB packs sharing one RS485 bus, each as its own battery: as
the bus master on a pty and behind a gateway that drops its connection, and listening to a master
pack's cycle without sending a byte."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dbus_bms.sim.faults import Fault
from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.sim.jk_pb import JkPbBus
from dbus_bms.victron.reader import name_owner, watch_items_changed

from .waiting import until

# Three polls fit in stale_after; the fail-safe blocks discharge at once too.
MASTER = "poll_interval: 1.0\ncharge:\n  stale_after: 3.0\n  current_recovery_hold: 1.0\n  failsafe_discharge_current: 0\n"


def online(items):
    return items.get("/Connected") == 1 and items.get("/Soc") is not None


def pb_bus(**kwargs) -> JkPbBus:
    # With the pad byte after each ack, every request drops the last reply's pad: the junk count in
    # /Mgmt/Connection changes with every poll, so each one is an update on D-Bus.
    return JkPbBus(addresses=(1, 2, 3), pad=True, **kwargs)


async def published(h: DaemonHarness) -> list[dict]:
    return [await h.wait_for(online, i) for i in range(len(h.pb_addresses))]


async def test_three_packs_on_one_pty_are_three_batteries_and_a_silent_one_trips_only_its_fail_safe(private_bus, tmp_path):
    bus = pb_bus(echo=True)
    h = DaemonHarness(private_bus, tmp_path, count=0, pb_bus=bus, extra_config=MASTER)
    await h.start()
    try:
        first = await published(h)
        assert [it["/Serial"] for it in first] == [bus.slaves[a].device.serial for a in (1, 2, 3)]
        instances = [it["/DeviceInstance"] for it in first]
        assert len(set(instances)) == 3
        for address, items in zip((1, 2, 3), first):
            assert items["/Voltages/Cell1"] == pytest.approx(bus.slaves[address].pack.sample().cell_voltages[0], abs=0.002)
            assert items["/Mgmt/Connection"].startswith(f"Serial {tmp_path / 'ttyPB'} address {address} ok")

        updates: dict[str, int] = {}
        owners = {await name_owner(h.bus, h.service(i)): h.aliases[i] for i in range(3)}

        def count(msg):
            if msg.member == "ItemsChanged" and msg.sender in owners:
                updates[owners[msg.sender]] = updates.get(owners[msg.sender], 0) + 1

        h.bus.add_message_handler(count)
        await watch_items_changed(h.bus)
        bus.slaves[2].fault = Fault.SILENT
        items = await h.wait_for(lambda it: it.get("/Connected") == 0, 1)
        assert (items["/Info/MaxChargeCurrent"], items["/Io/AllowToCharge"], items["/Alarms/BmsCable"]) == (0, 0, 2)
        # From here on, every tick asks each pack once: while the silent one misses four polls the
        # others answer theirs and are published each time.
        updates.clear()
        asked = dict(bus.requests)
        await until(lambda: bus.requests[2] >= asked[2] + 4)
        for address, alias in ((1, "pb1"), (3, "pb3")):
            assert bus.requests[address] - asked[address] >= 3
            assert updates.get(alias, 0) >= 3, updates
        for i in (0, 2):
            items = await h.items(i)
            assert online(items) and items["/Info/MaxChargeCurrent"] > 0 and items["/Alarms/BmsCable"] == 0
        bus.slaves[2].fault = Fault.NONE
        await h.wait_for(online, 1)
    finally:
        await h.stop()

    # The same packs after a restart: the same three device instances, each on its own pack.
    again = DaemonHarness(private_bus, tmp_path, count=0, pb_bus=pb_bus(), extra_config=MASTER)
    await again.start()
    try:
        assert [it["/DeviceInstance"] for it in await published(again)] == instances
    finally:
        await again.stop()


async def test_listening_publishes_the_master_and_its_slaves_without_sending_a_byte(private_bus, tmp_path):
    bus = JkPbBus.with_packs(3, master=True, pad=True, pace=0.1)
    # The shortest stale_after a listening battery may have: a master's cycle is 7 s at most.
    listening = "charge:\n  stale_after: 7.5\n  failsafe_discharge_current: 0\n"
    h = DaemonHarness(private_bus, tmp_path, count=0, pb_bus=bus, extra_config=listening)
    await h.start()
    try:
        assert h.pb_addresses == [0, 1, 2]
        found = await published(h)
        for address, items in zip(h.pb_addresses, found):
            pack = bus.master if address == 0 else bus.slaves[address]
            assert items["/Voltages/Cell1"] == pytest.approx(pack.pack.sample().cell_voltages[0], abs=0.002)
            assert items["/Mgmt/Connection"].startswith(f"Serial {tmp_path / 'ttyPB'} address {address} (listening) ok")
            assert items["/Serial"] in (None, "")  # a master never carries device info
        assert len({it["/DeviceInstance"] for it in found}) == 3
        # The settings follow each pack's cell info in the cycle: the BMS's limits show once seen.
        await h.wait_for(lambda it: online(it) and it["/Info/MaxChargeCurrent"] > 0, 2)

        # A slave the master no longer hears from trips its own fail-safe; the others go on.
        bus.slaves[1].fault = Fault.SILENT
        items = await h.wait_for(lambda it: it.get("/Connected") == 0, 1)
        assert (items["/Info/MaxChargeCurrent"], items["/Io/AllowToCharge"], items["/Alarms/BmsCable"]) == (0, 0, 2)
        for i in (0, 2):
            assert online(await h.items(i))
        bus.slaves[1].fault = Fault.NONE
        await h.wait_for(online, 1)
        assert bus.received_bytes == 0
    finally:
        await h.stop()
    assert bus.received_bytes == 0


async def test_packs_behind_a_gateway_that_drops_the_connection_are_read_again(private_bus, tmp_path):
    bus = pb_bus()
    h = DaemonHarness(private_bus, tmp_path, count=0, pb_bus=bus, extra_config=MASTER, tcp=True)
    await h.start()
    try:
        gateway = h.pb_server
        first = await published(h)
        assert first[0]["/Mgmt/Connection"].startswith(f"TCP 127.0.0.1:{gateway.port} address 1 ok")
        assert gateway.accepted == 1  # one connection for the three packs

        gateway.drop_connections()
        await until(lambda: gateway.accepted == 2 and gateway.clients == 1)
        asked = dict(bus.requests)
        await until(lambda: all(bus.requests[a] >= asked[a] + 3 for a in (1, 2, 3)))
        for i in range(3):
            items = await h.wait_for(online, i)
            assert items["/Serial"] == first[i]["/Serial"]
            assert items["/DeviceInstance"] == first[i]["/DeviceInstance"]
        assert gateway.accepted == 2
        # The pack whose turn found the connection gone made it again; the others just used it.
        texts = [(await h.items(i))["/Mgmt/Connection"] for i in range(3)]
        assert sum("reconnects 1," in t for t in texts) == 1 and sum("reconnects 0," in t for t in texts) == 2
    finally:
        await h.stop()


def dbus_bms(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbus_bms", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("master", [False, True], ids=["polled", "listening"])
def test_read_one_pack_of_a_simulated_bus(tmp_path, master):
    link = tmp_path / "ttyPB"
    sim = subprocess.Popen(
        [sys.executable, "-m", "dbus_bms", "simulate", "jk-pb", "--pty", "--link", str(link), "--packs", "3",
         *(["--master"] if master else [])],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert sim.stdout.readline().strip() == str(link)
        listen = ["--listen"] if master else []
        r = dbus_bms("read", "--type", "jk-pb", "--port", str(link), "--address", "2", *listen, "--json")
        assert r.returncode == 0, r.stderr
        sample = json.loads(r.stdout)
        assert len(sample["cell_voltages"]) == 16
        assert sample.get("device", {}).get("serial") == (None if master else "40119490002")
        r = dbus_bms("read", "--type", "jk-pb", "--port", str(link), "--address", "7", *listen, "--timeout", "0.5")
        assert r.returncode == 1 and "pack 7" in r.stderr
    finally:
        sim.terminate()
        sim.wait(timeout=10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--address", "0"], "type 'jk-pb' needs --address N, the pack's RS485 address (1-15)"),
        ([], "type 'jk-pb' needs --address N, the pack's RS485 address (1-15)"),
        (["--address", "16", "--listen"], "(0-15, 0 the master)"),
    ],
)
def test_read_refuses_a_pack_address_that_cannot_be(args, message):
    r = dbus_bms("read", "--type", "jk-pb", "--port", "/dev/ttyUSB0", *args)
    assert r.returncode == 2 and message in r.stderr
    r = dbus_bms("read", "--type", "jk-nw", "--port", "/dev/ttyUSB0", "--listen")
    assert r.returncode == 2 and "--listen is for packs on a shared RS485 bus" in r.stderr
