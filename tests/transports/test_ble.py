"""The BLE transport through the real bleak against the fake BlueZ: connect, notify, write, drops,
refusals with backoff, one discovery at a time however many links connect at once, and polls that
end within their deadline whatever BlueZ does (a connect that never returns, a bluetoothd that stops
answering, a poll cancelled at any step)."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient

from dbus_bms.devices.base import DeviceError
from dbus_bms.devices.jk_ble import JkBleDevice
from dbus_bms.protocols import jk02
from dbus_bms.sim.jk_ble import BleFault, JkBlePeripheral, ble_address
from dbus_bms.sim.jk_records import JkRecordSimulator
from dbus_bms.sim.pack import SimPack
from dbus_bms.transports.backoff import Backoff
from dbus_bms.transports.ble import BleTransport
from dbus_bms.transports.ble_discovery import BLUEZ_REPLY_TIMEOUT, Discovery
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


# A poll's overall deadline, and BLE steps that never end -----------------------------------------
#
# Small figures keep these fast; the deadline is derived from them as in production.

def streaming_jk(i: int = 0) -> JkBlePeripheral:
    sim = jk(i)
    sim.stream_interval = 0.1
    return sim


def jk_device() -> JkBleDevice:
    device = JkBleDevice(ble_address(0), scan_timeout=1.0, connect_timeout=1.0, timeout=0.5)
    device.transport.backoff = Backoff(base=0.05, jitter=0.0)
    return device


async def bounded_poll(device: JkBleDevice):
    """One poll, which must end within its deadline plus the bounded teardown of an overrun."""
    async with asyncio.timeout(device.deadline + 2 * BLUEZ_REPLY_TIMEOUT):
        return await device.poll()


async def poll_until_read(device: JkBleDevice, attempts: int = 40):
    for _ in range(attempts):
        try:
            return await bounded_poll(device)
        except DeviceError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"no reading in {attempts} polls: {device.stats.last_error}")


async def until(condition, what: str) -> None:
    try:
        async with asyncio.timeout(10):
            while not condition():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"never came: {what}") from None


async def test_a_connect_that_never_returns_ends_the_poll_and_the_link_comes_once_it_answers(bluez):
    sim = streaming_jk()
    sim.connect_hangs = True
    bluez.add_peripheral(sim)
    device = jk_device()
    assert device.deadline == 1.0 + 1.0 + 2 * 0.5 + BLUEZ_REPLY_TIMEOUT
    for _ in range(2):
        with pytest.raises(DeviceError, match="no link within 1 s"):
            await bounded_poll(device)
        await asyncio.sleep(0.1)  # past the backoff
    assert not device.transport.is_open and not sim.connected
    assert bluez.held() == []  # bleak's Disconnect cancelled each abandoned Connect
    sim.connect_hangs = False
    sample = await poll_until_read(device)
    assert len(sample.cell_voltages) == 16 and sim.connected
    sample = await bounded_poll(device)
    assert len(sample.cell_voltages) == 16
    await device.close()


async def test_a_bluetoothd_that_stops_answering_ends_each_poll_and_the_link_is_made_again(bluez):
    sim = streaming_jk()
    bluez.add_peripheral(sim)
    device = jk_device()
    await bounded_poll(device)
    assert device.deadline == 0.5 + BLUEZ_REPLY_TIMEOUT  # a live link: no scan, no connect
    bluez.hang()
    # Listening in vain; then asking again, a write bluetoothd never answers, cut off by the
    # deadline and the link forgotten; then a fresh connect, which gets no answer either.
    for expected in ("no cell info", "poll overran its deadline of 2.5 s", "no link within 1 s"):
        timeouts = device.stats.timeouts
        with pytest.raises(DeviceError, match=expected):
            await bounded_poll(device)
        assert not device.transport.is_open or expected == "no cell info"
        assert device.stats.timeouts == timeouts + (expected != "no link within 1 s")
    bluez.resume()
    sample = await poll_until_read(device)
    assert len(sample.cell_voltages) == 16 and sim.connected
    await bounded_poll(device)
    await device.close()


async def test_a_stop_while_bluetoothd_does_not_answer_returns_within_the_teardown_bound(bluez):
    sim = streaming_jk()
    bluez.add_peripheral(sim)
    device = jk_device()
    await bounded_poll(device)
    bluez.hang()
    async with asyncio.timeout(2 * BLUEZ_REPLY_TIMEOUT + 1):
        await device.close()
    assert not device.transport.is_open
    bluez.resume()
    await until(lambda: not sim.connected, "the late Disconnect")


@pytest.mark.parametrize("step", ["Connect", "StartNotify", "WriteValue", "read"])
async def test_a_poll_cancelled_mid_step_leaves_a_transport_the_next_poll_can_use(bluez, step):
    sim = streaming_jk()
    bluez.add_peripheral(sim)
    device = jk_device()
    if step in ("WriteValue", "read"):
        await bounded_poll(device)  # a live link, streaming
        sim.ble_fault = BleFault.SILENT
        with pytest.raises(DeviceError, match="no cell info"):
            await bounded_poll(device)  # the stream stalls: the next poll asks again, with a write
    if step == "Connect":
        sim.connect_hangs = True
    elif step != "read":
        bluez.hang(only={step})
    polling = asyncio.create_task(device.poll())
    if step == "read":
        await asyncio.sleep(0.1)  # it is listening for the reply it asked for
    else:
        await until(lambda: step in bluez.held(), f"the {step} call")
    polling.cancel()
    async with asyncio.timeout(3 * BLUEZ_REPLY_TIMEOUT):
        with pytest.raises(asyncio.CancelledError):
            await polling
    if step in ("Connect", "StartNotify"):
        assert not device.transport.is_open  # a connect cut short leaves no half-made link behind
    sim.connect_hangs = False
    sim.ble_fault = BleFault.NONE
    bluez.resume()
    await asyncio.sleep(0.1)  # past the backoff of a connect cut short
    sample = await bounded_poll(device)  # the very next poll reads
    assert len(sample.cell_voltages) == 16
    assert sim.connected and device.stats.bad_frames == 0
    await device.close()


async def test_a_scan_cut_short_while_bluetoothd_sits_on_its_start_leaves_discovery_usable(bluez):
    for i in range(2):
        bluez.add_peripheral(streaming_jk(i))
    discovery = Discovery.shared()
    assert len(await discovery.scan(0.2)) == 2
    # bluetoothd will carry out this StartDiscovery when it catches up, for a caller long gone: a
    # session of ours that nobody stops would make every later scan fail with InProgress.
    bluez.hang(only={"StartDiscovery"})
    scanning = asyncio.create_task(discovery.scan(1.0))
    await until(lambda: "StartDiscovery" in bluez.held(), "the scan's start")
    scanning.cancel()
    with pytest.raises(asyncio.CancelledError):
        await scanning
    # Another battery's scan meanwhile fails within its bound rather than waiting for good.
    with pytest.raises(TimeoutError, match="bluetoothd has not ended the previous scan"):
        await discovery.scan(0.2)
    bluez.resume()
    assert sorted(await discovery.scan(0.5)) == [ble_address(0), ble_address(1)]
    assert await discovery.find("C8:47:8C:99:99:99", timeout=0.2) is None
    assert not any(bluez.discovering.values())
