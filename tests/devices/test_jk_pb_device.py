"""JK PB packs on one RS485 bus: the real serial and TCP transports against the simulated bus."""

from __future__ import annotations

import asyncio

import pytest

from dbus_bms.devices import jk_pb as jk_pb_device
from dbus_bms.devices import shared_link
from dbus_bms.devices.base import ControlUnsupported, DeviceError
from dbus_bms.devices.jk_pb import JkPbDevice
from dbus_bms.protocols import jk_pb
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.jk_pb import JkPbBus
from dbus_bms.sim.pty_server import PtyServer
from dbus_bms.sim.tcp_server import TcpServer


async def close_all(devices):
    for device in devices:
        await device.close()


@pytest.fixture
async def served(tmp_path):
    """Serves a bus on a pty; yields a function that starts one and returns its port."""
    servers = []

    def serve(bus: JkPbBus, *, tcp: bool = False, fragment: bool = False) -> str:
        server = TcpServer(bus, fragment=fragment, advance=False) if tcp else PtyServer(
            bus, link=str(tmp_path / f"ttyPB{len(servers)}"), advance=False
        )
        servers.append(server)
        return server.start()

    yield serve
    for server in servers:
        server.stop()


def assert_reads(sample, pack):
    expected = pack.sample()
    assert sample.cell_voltages == pytest.approx(expected.cell_voltages, abs=0.0005)
    assert sample.voltage == pytest.approx(expected.voltage, abs=0.01)
    assert sample.soc == expected.soc


@pytest.mark.parametrize(("pad", "echo"), [(False, False), (True, False), (False, True), (True, True)])
async def test_three_packs_on_one_port_each_read_their_own_values(served, pad, echo):
    bus = JkPbBus(addresses=(1, 2, 3), pad=pad, echo=echo)
    for address, current in ((1, -12.5), (2, 3.0), (3, 40.0)):
        bus.slaves[address].pack.current_override = current
        bus.slaves[address].pack.advance(1.0)
    port = served(bus)
    devices = [JkPbDevice(port, address) for address in (1, 2, 3)]
    try:
        for _ in range(2):
            samples = await asyncio.gather(*(d.poll() for d in devices))
            for device, sample in zip(devices, samples):
                pack = bus.slaves[device.address]
                assert_reads(sample, pack.pack)
                assert sample.current == pytest.approx(pack.pack.current_override, abs=0.01)
                assert sample.device.serial == pack.device.serial
                assert sample.bms_settings.max_charge_current == 100.0 and sample.bms_settings.max_discharge_current == 150.0
                assert (sample.bms_settings.cell_ovp, sample.bms_settings.cell_count) == (3.65, 16)
        assert len({d.link for d in devices}) == 1  # one transport for the port
        # Device info and settings once, cell info every poll.
        assert bus.requests == {1: 4, 2: 4, 3: 4}
        # The pads are junk; the echo of our request is a request, and skipped as one.
        assert all((d.stats.discarded_bytes > 0) == pad for d in devices)
        assert all(d.stats.bad_frames == 0 and d.stats.timeouts == 0 for d in devices)
    finally:
        await close_all(devices)


async def test_a_silent_pack_fails_its_own_poll_only_and_costs_only_its_timeout(served):
    bus = JkPbBus(addresses=(1, 2, 3), echo=True)
    port = served(bus)
    devices = [JkPbDevice(port, address) for address in (1, 2, 3)]
    try:
        await asyncio.gather(*(d.poll() for d in devices))
        bus.slaves[2].fault = Fault.SILENT
        for _ in range(3):
            one, two, three = await asyncio.gather(*(d.poll() for d in devices), return_exceptions=True)
            assert_reads(one, bus.slaves[1].pack)
            assert_reads(three, bus.slaves[3].pack)
            # Its own reply timeout, not the poll's deadline: the wait for its turn did not count.
            assert isinstance(two, DeviceError) and "no reply from pack 2" in str(two)
        assert devices[1].stats.timeouts == 3 and devices[1].stats.quality == 0.25
        assert devices[0].stats.quality == devices[2].stats.quality == 1.0
        bus.slaves[2].fault = Fault.NONE
        assert_reads(await devices[1].poll(), bus.slaves[2].pack)
    finally:
        await close_all(devices)


async def test_an_address_without_a_pack_times_out_and_takes_no_other_packs_answer(served):
    bus = JkPbBus(addresses=(1, 2))
    port = served(bus)
    devices = [JkPbDevice(port, 1), JkPbDevice(port, 4)]
    try:
        ok, missing = await asyncio.gather(*(d.poll() for d in devices), return_exceptions=True)
        assert_reads(ok, bus.slaves[1].pack)
        assert isinstance(missing, DeviceError) and "pack 4" in str(missing)
        assert 4 not in bus.requests
    finally:
        await close_all(devices)


async def test_turns_on_a_port_come_in_order_with_the_gap_between(served):
    link = shared_link.acquire(served(JkPbBus(addresses=(1,))))
    loop = asyncio.get_running_loop()
    spans: list[tuple[int, float, float]] = []

    async def transaction(n: int) -> None:
        async with link.turn():
            start = loop.time()
            await asyncio.sleep(0.01)
            spans.append((n, start, loop.time()))

    try:
        await asyncio.gather(*(transaction(n) for n in range(4)))
    finally:
        await shared_link.release(link)
    assert [n for n, _, _ in spans] == [0, 1, 2, 3]
    for (_, _, ended), (_, started, _) in zip(spans, spans[1:]):
        assert started - ended >= shared_link.GAP
    assert shared_link.port_key(link.port) not in shared_link._links


async def test_the_last_device_to_close_closes_the_port(served):
    port = served(JkPbBus(addresses=(1, 2)))
    first, second = JkPbDevice(port, 1), JkPbDevice(port, 2)
    await asyncio.gather(first.poll(), second.poll())
    transport = first.link.transport
    await first.close()
    assert transport.is_open and second.link.users == 1
    assert (await second.poll()).cell_voltages
    await second.close()
    assert not transport.is_open
    await first.close()  # twice is harmless
    with pytest.raises(DeviceError, match="closed"):
        await first.poll()


async def test_packs_behind_a_gateway_that_sends_in_pieces(served):
    bus = JkPbBus(addresses=(1, 2), pad=True)
    port = served(bus, tcp=True, fragment=True)
    devices = [JkPbDevice(port, 1), JkPbDevice(port, 2)]
    try:
        for _ in range(2):
            for device, sample in zip(devices, await asyncio.gather(*(d.poll() for d in devices))):
                assert_reads(sample, bus.slaves[device.address].pack)
        assert all(d.stats.bad_frames == 0 and d.stats.timeouts == 0 for d in devices)
    finally:
        await close_all(devices)


@pytest.mark.parametrize("tcp", [False, True], ids=["pty", "tcp"])
async def test_listening_reads_the_masters_cycle_and_writes_nothing(served, tcp):
    bus = JkPbBus.with_packs(3, master=True, pad=True, pace=0.05)
    bus.master.pack.current_override = 7.0
    bus.master.pack.advance(1.0)
    port = served(bus, tcp=tcp)
    devices = [JkPbDevice(port, address, listen=True, timeout=5.0) for address in (0, 1, 2)]
    try:
        for cycle in range(2):
            samples = await asyncio.gather(*(d.poll() for d in devices))
            for device, sample in zip(devices, samples):
                pack = bus.master if device.address == 0 else bus.slaves[device.address]
                assert_reads(sample, pack.pack)
                # A cycle carries each pack's settings after its cell info: known by the second.
                if cycle:
                    assert sample.bms_settings.max_charge_current == 100.0
                assert sample.device is None or sample.device.serial is None
        assert samples[0].current == pytest.approx(7.0, abs=0.01)
        assert devices[1].fallback_id == f"jk-pb_{port}_1"
        assert bus.received_bytes == 0
    finally:
        await close_all(devices)


async def test_a_listening_pack_that_the_master_does_not_carry_times_out(served):
    bus = JkPbBus.with_packs(2, master=True, pace=0.02)
    port = served(bus)
    present, absent = JkPbDevice(port, 1, listen=True, timeout=3.0), JkPbDevice(port, 9, listen=True, timeout=0.5)
    try:
        assert_reads(await present.poll(), bus.slaves[1].pack)
        with pytest.raises(DeviceError, match="no cell info of pack 9"):
            await absent.poll()
        assert absent.stats.timeouts == 1
        assert bus.received_bytes == 0
    finally:
        await close_all([present, absent])


async def test_a_listener_rides_out_a_gateway_that_drops_the_connection(tmp_path):
    bus = JkPbBus.with_packs(2, master=True, pace=0.02)
    server = TcpServer(bus, advance=False)
    port = server.start()
    device = JkPbDevice(port, 1, listen=True, timeout=5.0)
    try:
        assert (await device.poll()).cell_voltages
        server.drop_connections()
        loop = asyncio.get_running_loop()
        end = loop.time() + 10
        while device.stats.reopens == 0:
            assert loop.time() < end, "the listener never connected again"
            assert (await device.poll()).cell_voltages
        assert server.accepted == 2 and bus.received_bytes == 0
    finally:
        await device.close()
        server.stop()


class CrossTalk(JkPbBus):
    """A bus where pack 3's answer to an earlier poll is still on the wire when pack 1 answers."""

    def answer(self, event):
        reply = super().answer(event)
        if isinstance(event, jk_pb.Request) and event.address == 1:
            return super().answer(jk_pb.Request(3, event.register)) + reply
        return reply


async def test_another_packs_record_on_the_wire_is_never_taken(served):
    bus = CrossTalk(addresses=(1, 3))
    port = served(bus)
    device = JkPbDevice(port, 1)
    try:
        sample = await device.poll()
        assert_reads(sample, bus.slaves[1].pack)
        assert sample.cell_voltages != pytest.approx(bus.slaves[3].pack.sample().cell_voltages, abs=0.0005)
        assert sample.device.serial == bus.slaves[1].device.serial
        # Three records of pack 3 (device info, settings, cell info) went by, counted as junk.
        assert device.stats.discarded_bytes >= 3 * 300 and device.stats.bad_frames == 0
    finally:
        await device.close()


async def test_settings_are_read_again_when_due(served, monkeypatch):
    bus = JkPbBus(addresses=(1,))
    port = served(bus)
    device = JkPbDevice(port, 1)
    try:
        assert (await device.poll()).bms_settings.max_charge_current == 100.0
        bus.slaves[1].settings.max_charge_current = 60.0
        assert (await device.poll()).bms_settings.max_charge_current == 100.0  # not due yet: cell info only
        assert bus.requests[1] == 4
        monkeypatch.setattr(jk_pb_device, "SETTINGS_EVERY", 0.0)
        assert (await device.poll()).bms_settings.max_charge_current == 60.0
        assert bus.requests[1] == 6
    finally:
        await device.close()


@pytest.mark.parametrize("echo", [False, True])
async def test_a_pack_switches_its_charge_fet_and_reads_it_back_the_others_untouched(served, echo):
    bus = JkPbBus(addresses=(1, 2, 3), echo=echo)
    port = served(bus)
    devices = [JkPbDevice(port, address) for address in (1, 2, 3)]
    try:
        await asyncio.gather(*(d.poll() for d in devices))
        two = devices[1]
        assert two.can_switch("charge")
        sample = await two.switch("charge", False)
        assert bus.slaves[2].settings.charge_switch is False
        assert sample.switches["charge"] is False and sample.charge_enabled is False
        assert all(bus.slaves[a].settings.charge_switch for a in (1, 3))
        others = await asyncio.gather(devices[0].poll(), devices[2].poll())
        assert all(s.charge_enabled for s in others)
        sample = await two.switch("charge", True)
        assert sample.charge_enabled is True and bus.slaves[2].settings.charge_switch is True
    finally:
        await close_all(devices)


async def test_a_write_the_pack_refuses_is_an_error_naming_why(served):
    bus = JkPbBus(addresses=(1,))
    port = served(bus)
    device = JkPbDevice(port, 1)
    try:
        await device.poll()
        bus.slaves[1].fault = Fault.SILENT
        with pytest.raises(DeviceError, match="did not acknowledge the write"):
            await device.switch("discharge", False)
    finally:
        await close_all([device])


async def test_a_listening_pack_cannot_be_switched_and_sends_nothing(served):
    bus = JkPbBus(addresses=(1, 2), master=True, pace=0.1)
    port = served(bus)
    device = JkPbDevice(port, 1, listen=True)
    try:
        assert not device.can_switch("charge")
        with pytest.raises(ControlUnsupported):
            await device.switch("charge", False)
        assert bus.received_bytes == 0
    finally:
        await close_all([device])
