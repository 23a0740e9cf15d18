"""The BLE transport through the real bleak against the fake BlueZ: connect, notify, write, drops,
refusals with backoff, and one discovery at a time however many links connect at once."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient

from dbus_bms.protocols import jk02
from dbus_bms.sim.jk_ble import JkBlePeripheral, ble_address
from dbus_bms.sim.jk_records import JkRecordSimulator
from dbus_bms.sim.pack import SimPack
from dbus_bms.transports.backoff import Backoff
from dbus_bms.transports.ble import BleTransport
from dbus_bms.transports.ble_discovery import Discovery
from dbus_bms.transports.errors import TransportError


def jk(i: int = 0, layout: str = "32s") -> JkBlePeripheral:
    return JkBlePeripheral(JkRecordSimulator(SimPack(seed=i + 1), layout=layout), address=ble_address(i), seed=i + 1)


def link(target: str, **kw) -> BleTransport:
    return BleTransport(target, notify_uuid=jk02.CHAR_UUID, write_uuid=jk02.CHAR_UUID, scan_timeout=2.0, **kw)


async def read_record(t: BleTransport) -> bytes:
    rx = jk02.RecordAssembler()
    while True:
        rx.feed(await t.read(5.0))
        record = rx.next_frame()
        if record is not None:
            return record


async def test_request_and_notified_reply_by_mac_and_by_name(bluez):
    sim = jk()
    bluez.add_peripheral(sim)
    for target in (ble_address(0), sim.name):
        t = link(target)
        await t.write(jk02.build_command(jk02.CMD_DEVICE_INFO))
        record = await read_record(t)
        assert record[4] == jk02.TYPE_DEVICE_INFO
        assert t.address == ble_address(0) and t.opens == 1
        await t.close()
        assert not t.is_open


async def test_a_drop_by_the_device_ends_the_read_and_the_next_open_reconnects(bluez):
    sim = jk()
    bluez.add_peripheral(sim)
    t = link(ble_address(0))
    await t.open()
    reading = asyncio.create_task(t.read(10.0))
    await asyncio.sleep(0.05)
    sim.drop_connection()
    with pytest.raises(TransportError, match="dropped"):
        await reading
    assert t.drops == 1 and not t.is_open
    await t.open()
    assert t.is_open and t.opens == 2 and sim.connected
    await t.close()


async def test_a_stream_nobody_reads_keeps_only_the_newest_bytes_and_counts_the_rest(bluez):
    sim = jk()
    sim.stream_interval = 0.02
    bluez.add_peripheral(sim)
    t = link(ble_address(0), max_buffered=1000)
    await t.write(jk02.build_command(jk02.CMD_CELL_INFO))
    dropped = 0
    for _ in range(250):  # settings and a few cell-info records: well over 1000 bytes
        await asyncio.sleep(0.02)
        dropped += t.take_overflowed()
        if dropped:
            break
    assert dropped > 0
    kept = await t.read(1.0)
    assert 0 < len(kept) <= 1000
    await t.close()


async def test_refused_connects_back_off_and_a_success_resets_the_wait(bluez):
    sim = jk()
    sim.connectable = False
    bluez.add_peripheral(sim)
    now = [100.0]
    t = link(ble_address(0), backoff=Backoff(base=1.0, jitter=0.0), clock=lambda: now[0])
    with pytest.raises(TransportError, match="cannot connect .*; next attempt in"):
        await t.open()
    assert t.retry_in == 1.0
    with pytest.raises(TransportError, match="next attempt in 1.0 s"):
        await t.open()  # inside the wait nothing is tried
    now[0] += 1.0
    with pytest.raises(TransportError, match="cannot connect .*; next attempt in"):
        await t.open()
    assert t.retry_in == 2.0 and t.failed_connects == 2
    sim.connectable = True
    now[0] += 2.0
    await t.open()
    assert t.is_open and t.backoff.failures == 0 and t.retry_in == 0
    await t.close()


async def test_an_absent_device_is_reported_with_the_scan_time(bluez):
    t = link("C8:47:8C:99:99:99")
    with pytest.raises(TransportError, match="not found within 2 s"):
        await t.open()


async def test_many_links_connecting_at_once_share_one_discovery(bluez):
    sims = [jk(i) for i in range(4)]
    for sim in sims:
        bluez.add_peripheral(sim)
    links = [link(ble_address(i)) for i in range(4)]
    await asyncio.gather(*(t.open() for t in links))
    assert all(t.is_open for t in links) and all(sim.connected for sim in sims)
    assert Discovery.shared().scans <= 4  # serialised; later links find earlier scans' results
    await asyncio.gather(*(t.close() for t in links))


async def test_a_stale_connection_from_an_earlier_run_is_closed_before_connecting(bluez):
    sim = jk()
    bluez.add_peripheral(sim)
    # A link BlueZ holds for someone else (a previous run of the daemon, another program).
    device = await Discovery.shared().find(ble_address(0), timeout=2.0)
    holder = BleakClient(device)
    await holder.connect()
    t = link(ble_address(0))
    await t.open()
    assert t.is_open and sim.connected
    await t.close()


async def test_a_bms_that_wants_a_pin_is_paired_with_the_configured_one(bluez):
    sim = jk()
    sim.pin = "123456"
    bluez.add_peripheral(sim)
    wrong = link(ble_address(0), pin="000000")
    with pytest.raises(TransportError, match="cannot connect .*Authentication"):
        await wrong.open()
    t = link(ble_address(0), pin="123456")
    await t.open()
    assert t.is_open and bluez.device_properties(sim)["Paired"]
    assert bluez.default_agent is None  # the agent is gone once paired
    await t.close()


async def test_the_configured_adapter_is_the_one_used(ble_bus):
    from dbus_bms.sim.fake_bluez import FakeBlueZ

    async with FakeBlueZ(ble_bus.address, adapters=("hci0", "hci1"), adv_interval=0.02) as fake:
        sim = jk()
        fake.add_peripheral(sim, adapter="hci1")
        with pytest.raises(TransportError, match="not found on hci0"):
            await link(ble_address(0), adapter="hci0").open()
        t = link(ble_address(0), adapter="hci1")
        await t.open()
        assert t.is_open and t.describe() == f"BLE {ble_address(0)} (hci1)"
        await t.close()
