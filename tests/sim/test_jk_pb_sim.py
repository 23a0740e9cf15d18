"""The simulated PB bus: what it answers a host, what its master pack sends by itself, and the same
bytes through the codec's stream and attribution back to each simulated pack's values."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from dbus_bms.model import DeviceInfo
from dbus_bms.protocols import jk02, jk_pb
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.jk_pb import NAME_OFFSET, JkPbBus
from dbus_bms.sim.pty_server import PtyServer

CELL, SETTINGS, DEVICE = jk02.TYPE_CELL_INFO, jk02.TYPE_SETTINGS, jk02.TYPE_DEVICE_INFO


def ask(bus: JkPbBus, request: bytes, *, expect: tuple[int, int] | None = None) -> list:
    """The bus's reply to ``request`` as events, and (when ``expect``) the attributed answer."""
    stream = jk_pb.PbStream()
    stream.feed(bus.handle(request))
    found = list(stream.events())
    if expect is None:
        return found
    attribution = jk_pb.Attribution()
    attribution.expect(*expect)
    return [a for a in map(attribution.feed, found) if a is not None]


@pytest.mark.parametrize("pad, echo", [(False, False), (True, False), (False, True), (True, True)])
def test_each_pack_answers_its_own_address_with_its_own_values(pad, echo):
    bus = JkPbBus((1, 2, 3), pad=pad, echo=echo)
    serials = set()
    for address, pack in bus.slaves.items():
        (cell,) = ask(bus, jk_pb.build_trigger(address, CELL), expect=(address, CELL))
        sample = jk_pb.decode_record(cell.record)
        expected = pack.sample()
        assert sample.cell_voltages == expected.cell_voltages and sample.voltage == pytest.approx(expected.voltage)
        assert (sample.current, sample.soc, sample.temperatures) == (expected.current, expected.soc, expected.temperatures)
        (settings,) = ask(bus, jk_pb.build_trigger(address, SETTINGS), expect=(address, SETTINGS))
        assert jk_pb.decode_record(settings.record) == pack.settings
        assert pack.settings.device_address == address
        (about,) = ask(bus, jk_pb.build_trigger(address, DEVICE), expect=(address, DEVICE))
        info = jk_pb.decode_record(about.record)
        assert info == pack.device and info.serial not in about.record[NAME_OFFSET : NAME_OFFSET + 16].decode()
        assert about.record[NAME_OFFSET:].startswith(f"Battery {address}".encode())
        serials.add(info.serial)
    assert len(serials) == 3
    assert bus.requests == {1: 3, 2: 3, 3: 3}


def test_the_wire_looks_like_the_captures():
    bus = JkPbBus((3,), pad=True, echo=True)
    request = jk_pb.build_trigger(3, CELL)
    out = bus.handle(request)
    assert out[: len(request)] == request  # the adapter's echo first
    assert len(out) == len(request) + jk02.RECORD_LEN + 1 + jk_pb.ACK_LEN + 1  # fw 15.41: 00, ack, 00
    assert out[len(request) + 300 :].hex() == "00" + "03101620000105a9" + "00"  # as captured at address 3
    plain = JkPbBus((1,)).handle(jk_pb.build_trigger(1, CELL))
    assert len(plain) == 308 and plain[300:].hex() == "011016200001044b"  # fw 14.20 / 15.10: record + ack


def test_no_reply_for_an_empty_address_a_bad_crc_a_silenced_pack_or_the_master():
    bus = JkPbBus((1, 2), echo=True, master=True)
    for request in (jk_pb.build_trigger(5, CELL), jk_pb.build_trigger(0, DEVICE)):
        assert bus.handle(request) == request  # only the echo
    bad = bytearray(jk_pb.build_trigger(1, CELL))
    bad[-1] ^= 0xFF
    assert bus.handle(bytes(bad)) == bytes(bad)
    bus.slaves[2].fault = Fault.SILENT
    assert ask(bus, jk_pb.build_trigger(2, CELL), expect=(2, CELL)) == []
    assert len(ask(bus, jk_pb.build_trigger(1, CELL), expect=(1, CELL))) == 1  # the others still answer
    assert bus.received_bytes == 5 * 11


def test_requests_split_across_writes_are_answered_once_whole():
    bus = JkPbBus((1,))
    request = jk_pb.build_trigger(1, CELL)
    assert bus.handle(request[:5]) == b""
    assert len(bus.handle(request[5:])) == 308


def test_control_writes_switch_the_pack_and_read_back():
    bus = JkPbBus((1, 2))
    ack = ask(bus, jk_pb.build_write_u32(1, jk_pb.REG_CHARGE, 0))
    assert ack == [jk_pb.Ack(1, jk_pb.REG_CHARGE, 2)]
    (cell,) = ask(bus, jk_pb.build_trigger(1, CELL), expect=(1, CELL))
    sample = jk_pb.decode_record(cell.record)
    assert sample.charge_enabled is False and sample.discharge_enabled is True
    (reply,) = ask(bus, jk_pb.build_read(1, jk_pb.REG_CHARGE, 6))
    assert [reply.uint32(i) for i in (0, 4, 8)] == [0, 1, 1]
    (reply,) = ask(bus, jk_pb.build_read(2, jk_pb.REG_CHARGE, 2))
    assert reply == jk_pb.ReadReply(2, bytes.fromhex("00000001"))  # the other pack is untouched
    assert ask(bus, jk_pb.build_write_u32(1, jk_pb.REG_BALANCE, 0)) == [jk_pb.Ack(1, jk_pb.REG_BALANCE, 2)]
    assert bus.slaves[1].sample().balancing is False
    (settings,) = ask(bus, jk_pb.build_trigger(1, SETTINGS), expect=(1, SETTINGS))
    s = jk_pb.decode_record(settings.record)
    assert (s.charge_switch, s.discharge_switch, s.balancer_switch) == (False, True, False)


@pytest.mark.parametrize(
    "request_, code",
    [(jk_pb.build_write_u32(1, 0x1000, 3500), 2), (jk_pb.build_write_u32(1, jk_pb.REG_CHARGE, 7), 3),
     (jk_pb.build_write(1, jk_pb.REG_CHARGE, b"\x00\x01"), 3), (jk_pb.build_read(1, 0x1200, 10), 2)],
)
def test_what_the_pack_cannot_do_is_refused_with_a_modbus_exception(request_, code):
    bus = JkPbBus((1,))
    (reply,) = ask(bus, request_)
    assert reply == jk_pb.ExceptionReply(1, request_[1], code)
    assert bus.slaves[1].settings.charge_switch is True


def test_the_master_cycle_polls_scans_and_broadcasts_by_itself():
    bus = JkPbBus((1, 2, 3), master=True)
    assert bus.cycle_period == pytest.approx(4.4, abs=0.1)  # as a logic analyser measured with 3 slaves
    assert JkPbBus((1, 2, 3), master=True, pace=0.1).cycle_period == pytest.approx(bus.cycle_period / 10)
    first = bus.unsolicited(100.0)
    assert first == jk_pb.build_trigger(1, CELL)  # the first poll, at once
    stream, attribution = jk_pb.PbStream(), jk_pb.Attribution()
    stream.feed(first)
    seen, found, t = [], [], 100.0
    while t + 0.01 < 100.0 + bus.cycle_period:  # one cycle, up to the next one's first poll
        t += 0.01
        stream.feed(bus.unsolicited(t))
        for event in stream.events():
            seen.append(event)
            if (hit := attribution.feed(event)) is not None:
                found.append(hit)
    polls = [(e.address, e.kind) for e in seen if isinstance(e, jk_pb.Request)]
    assert polls[:6] == [(1, CELL), (1, SETTINGS), (2, CELL), (2, SETTINGS), (3, CELL), (3, SETTINGS)]
    assert polls[6:] == [(a, CELL) for a in range(4, 16)]
    assert [(a.address, a.kind) for a in found] == [(1, CELL), (1, SETTINGS), (2, CELL), (2, SETTINGS),
                                                    (3, CELL), (3, SETTINGS), (0, CELL), (0, SETTINGS)]
    assert [e for e in seen if isinstance(e, jk_pb.Ack) and e.address == 0] == [jk_pb.Ack(0, 0x1620), jk_pb.Ack(0, 0x161E)]
    assert jk_pb.decode_record(found[-1].record).device_address == 0
    assert jk_pb.decode_record(found[6].record).cell_voltages == bus.master.sample().cell_voltages
    assert attribution.unattributed == 0 and bus.received_bytes == 0


def test_a_silent_slave_leaves_its_polls_unanswered_and_a_long_pause_is_not_replayed():
    bus = JkPbBus((1, 2), master=True)
    bus.slaves[1].fault = Fault.SILENT
    stream, attribution = jk_pb.PbStream(), jk_pb.Attribution()
    stream.feed(b"".join(bus.unsolicited(t / 100) for t in range(0, 450)))
    found = [a for a in map(attribution.feed, stream.events()) if a is not None]
    assert [(a.address, a.kind) for a in found] == [(2, CELL), (2, SETTINGS), (0, CELL), (0, SETTINGS)]
    late = bus.unsolicited(3600.0)  # an hour without a tick: one cycle starts, not 800
    assert late == jk_pb.build_trigger(1, CELL)


def test_no_master_sends_nothing_unasked():
    bus = JkPbBus((1, 2))
    assert bus.unsolicited(0.0) == bus.unsolicited(100.0) == b""


def test_a_bus_holds_1_to_15_slaves_at_distinct_addresses():
    assert list(JkPbBus.with_packs(3).slaves) == [1, 2, 3]
    assert list(JkPbBus.with_packs(3, master=True).slaves) == [1, 2]
    assert JkPbBus.with_packs(1, master=True).slaves == {}
    for bad in ((0,), (16,), (2, 2)):
        with pytest.raises(ValueError, match="not one of 1-15"):
            JkPbBus(bad)
    with pytest.raises(ValueError, match="1 to 15 packs"):
        JkPbBus.with_packs(16)


def test_one_fault_for_the_whole_bus():
    bus = JkPbBus((1, 2), master=True)
    bus.fault = Fault.SILENT
    assert bus.fault is Fault.SILENT
    assert bus.handle(jk_pb.build_trigger(1, CELL)) == b"" and bus.unsolicited(0.0) == b""


def test_device_info_of_the_simulated_packs():
    pack = JkPbBus((4,)).slaves[4]
    assert pack.device == DeviceInfo("JK_PB2A16S20P", "15A", "15.41", "40119490004")


# --- Over a pty ------------------------------------------------------------------------------------


async def read_for(fd: int, predicate, limit: float = 10.0) -> bytes:
    """Reads the host side until ``predicate(bytes so far)``; the bound only guards against a hang."""
    got = bytearray()
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not predicate(bytes(got)) and loop.time() < end:
        try:
            got += os.read(fd, 65536)
        except BlockingIOError:
            await asyncio.sleep(0.005)
    return bytes(got)


async def test_a_host_polls_the_bus_over_a_pty() -> None:
    bus = JkPbBus((1, 2, 3), pad=True)
    server = PtyServer(bus)
    fd = os.open(server.start(), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        for address in (1, 2, 3):
            os.write(fd, jk_pb.build_trigger(address, CELL))
            reply = await read_for(fd, lambda b: len(b) >= 310)
            stream = jk_pb.PbStream()
            stream.feed(reply)
            attribution = jk_pb.Attribution()
            attribution.expect(address, CELL)
            (found,) = [a for a in map(attribution.feed, stream.events()) if a is not None]
            assert jk_pb.decode_record(found.record).cell_voltages == bus.slaves[address].sample().cell_voltages
    finally:
        os.close(fd)
        server.stop()


async def test_a_master_bus_talks_over_a_pty_while_the_host_writes_nothing() -> None:
    bus = JkPbBus((1,), master=True, pace=0.1)
    server = PtyServer(bus)
    fd = os.open(server.start(), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        own_cell_info_closed = jk_pb.build_ack(0, 0x1620)
        data = await read_for(fd, lambda b: own_cell_info_closed in b)
    finally:
        os.close(fd)
        server.stop()
    stream, attribution = jk_pb.PbStream(), jk_pb.Attribution()
    stream.feed(data)
    found = [(a.address, a.kind) for a in map(attribution.feed, stream.events()) if a is not None]
    assert found[-3:] == [(1, CELL), (1, SETTINGS), (0, CELL)]
    assert bus.received_bytes == 0


def test_simulate_command_serves_three_packs_on_a_pty(tmp_path):
    link = tmp_path / "ttyPB"
    sim = subprocess.Popen([sys.executable, "-m", "dbus_bms", "simulate", "jk-pb", "--pty", "--packs", "3", "--link", str(link)],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout.readline().strip() == str(link)
        fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, jk_pb.build_trigger(3, SETTINGS))
            reply = b""
            while len(reply) < 308:
                reply += os.read(fd, 4096)
            assert jk_pb.decode_record(reply[:300]).device_address == 3
            assert reply[300:308] == jk_pb.build_ack(3, 0x161E)
        finally:
            os.close(fd)
    finally:
        sim.terminate()
        sim.wait(timeout=10)


@pytest.mark.parametrize("args", [["--packs", "0"], ["--packs", "16"], ["--packs", "17", "--master"]])
def test_simulate_refuses_a_bus_no_pb_can_have(args):
    r = subprocess.run([sys.executable, "-m", "dbus_bms", "simulate", "jk-pb", "--pty", *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "a PB bus holds 1 to" in r.stderr
