"""The real TCP transport against real sockets on 127.0.0.1: a hand-driven peer, and the simulated
RS485-TCP gateway serving a simulated JK."""

from __future__ import annotations

import asyncio
import socket

import pytest

from dbus_bms.devices.base import DeviceError
from dbus_bms.devices.jk_nw import JkNwDevice
from dbus_bms.protocols import jk_nw, jk_pb
from dbus_bms.protocols.framing import good_frames
from dbus_bms.sim.jk_nw import JkNwSimulator
from dbus_bms.sim.jk_pb import JkPbBus
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.tcp_server import TcpServer
from dbus_bms.transports.errors import TransportError
from dbus_bms.transports.link import link_name, stream_transport
from dbus_bms.transports.serial import SerialTransport
from dbus_bms.transports.tcp import TcpTransport, tcp_address
from tests.waiting import until


class TcpPeer:
    """The gateway's end, driven by hand: what the host sent, bytes written back, the connection cut."""

    def __init__(self) -> None:
        self.connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.connected = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return f"tcp://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.append((reader, writer))
        self.connected.set()

    async def read(self, n: int) -> bytes:
        await asyncio.wait_for(self.connected.wait(), 5)
        return await asyncio.wait_for(self.connections[-1][0].readexactly(n), 5)

    async def write(self, data: bytes) -> None:
        writer = self.connections[-1][1]
        writer.write(data)
        await writer.drain()

    async def drop(self) -> None:
        writer = self.connections[-1][1]
        writer.close()
        await writer.wait_closed()
        self.connected.clear()

    async def stop(self) -> None:
        for _, writer in self.connections:
            writer.close()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def peer():
    p = TcpPeer()
    p.port = await p.start()
    yield p
    await p.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ("tcp://192.168.1.50:8887", ("192.168.1.50", 8887)),
        ("tcp://ew11.local:7776", ("ew11.local", 7776)),
        ("tcp://[fd00::5]:10001", ("fd00::5", 10001)),
        ("tcp://gw:1", ("gw", 1)),
        ("tcp://gw:65535", ("gw", 65535)),
    ],
)
def test_gateway_addresses_are_parsed(port, expected):
    assert tcp_address(port) == expected


@pytest.mark.parametrize(
    ("port", "problem"),
    [
        ("tcp://:8887", "the host is empty"),
        ("tcp://[]:8887", "the host is empty"),
        ("tcp://gw", "expected tcp://host:port"),
        ("tcp://gw:", "expected tcp://host:port"),
        ("tcp://gw:port", "expected tcp://host:port"),
        ("tcp://fd00::5:8887", "expected tcp://host:port"),
        ("tcp://gw:0", "port 0 is out of range 1 to 65535"),
        ("tcp://gw:65536", "port 65536 is out of range 1 to 65535"),
        ("/dev/ttyUSB0", "does not start with tcp://"),
    ],
)
def test_malformed_gateway_addresses_are_refused_with_the_reason(port, problem):
    with pytest.raises(ValueError, match=problem):
        tcp_address(port)


def test_the_port_picks_the_transport():
    assert isinstance(stream_transport("tcp://127.0.0.1:8887"), TcpTransport)
    assert isinstance(stream_transport("/dev/ttyUSB0", 9600), SerialTransport)
    assert link_name("tcp://192.168.1.50:8887") == "TCP 192.168.1.50:8887"
    assert link_name("tcp://[fd00::5]:8887") == "TCP [fd00::5]:8887"
    assert link_name("/dev/ttyUSB0") == "Serial /dev/ttyUSB0"


async def test_bytes_flow_both_ways(peer):
    t = TcpTransport(peer.port)
    await t.write(b"\x4e\x57hello")
    assert await peer.read(7) == b"\x4e\x57hello"
    await peer.write(b"reply")
    assert await t.read(2.0) == b"reply"
    assert t.is_open and t.opens == 1
    await t.close()
    assert not t.is_open


async def test_the_socket_has_keepalive_and_no_delay(peer):
    t = TcpTransport(peer.port)
    await t.open()
    sock = t._transport.get_extra_info("socket")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) > 0
    await t.close()


async def test_read_times_out_when_nothing_arrives(peer):
    t = TcpTransport(peer.port)
    await t.open()
    with pytest.raises(TimeoutError, match="no reply"):
        await t.read(0.05)
    await t.close()


async def test_a_refused_connection_is_a_transport_error_naming_the_gateway():
    port = free_port()
    t = TcpTransport(f"tcp://127.0.0.1:{port}")
    with pytest.raises(TransportError, match=rf"cannot connect to 127\.0\.0\.1:{port}: Connection refused"):
        await t.open()
    assert not t.is_open and t.opens == 0


async def test_a_gateway_that_does_not_answer_the_connect_times_out():
    # A listener whose accept queue is full drops further connection requests unanswered, as a
    # gateway that is off the network leaves them.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    queued = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(listener.getsockname())
        queued.append(s)
    port = listener.getsockname()[1]
    t = TcpTransport(f"tcp://127.0.0.1:{port}", connect_timeout=0.2)
    try:
        with pytest.raises(TransportError, match=rf"cannot connect to 127\.0\.0\.1:{port}: no answer within 0\.2 s"):
            await t.open()
    finally:
        for s in [*queued, listener]:
            s.close()


async def test_an_unresolvable_host_is_a_transport_error():
    t = TcpTransport("tcp://no-such-gateway.invalid:8887", connect_timeout=5)
    with pytest.raises(TransportError, match="cannot connect to no-such-gateway.invalid:8887"):
        await t.open()


async def test_a_malformed_port_is_a_transport_error_not_a_crash():
    t = stream_transport("tcp://gateway")
    with pytest.raises(TransportError, match="expected tcp://host:port"):
        await t.write(b"x")


async def test_a_connection_dropped_during_an_exchange_is_made_again(peer):
    t = TcpTransport(peer.port)
    await t.write(b"a")
    assert await peer.read(1) == b"a"
    await peer.drop()
    with pytest.raises(TransportError, match="went away"):
        await t.read(2.0)
    assert not t.is_open
    await t.write(b"b")
    assert await peer.read(1) == b"b"
    await peer.write(b"c")
    assert await t.read(2.0) == b"c"
    assert t.opens == 2 and len(peer.connections) == 2
    await t.close()


async def test_a_connection_dropped_between_exchanges_shows_when_input_is_discarded(peer):
    t = TcpTransport(peer.port)
    await t.write(b"a")
    assert await peer.read(1) == b"a"
    t.pause()
    await peer.drop()
    with pytest.raises(TransportError, match="the gateway closed the connection"):
        for _ in range(500):  # until the close has reached us
            t.discard_input()
            await asyncio.sleep(0.005)
    assert not t.is_open
    await t.write(b"b")
    assert await peer.read(1) == b"b"
    assert t.opens == 2
    await t.close()


async def test_a_gateway_that_is_down_fails_each_open_until_it_is_back():
    server = TcpServer(JkNwSimulator(SimPack(seed=1)))
    server.start()
    t = TcpTransport(server.address)
    await t.write(jk_nw.READ_ALL_REQUEST)
    assert await t.read(2.0)
    server.refuse(True)
    await until(lambda: server.clients == 0)
    with pytest.raises(TransportError):
        await t.read(2.0)
    for _ in range(2):
        with pytest.raises(TransportError, match="Connection refused"):
            await t.open()
    server.refuse(False)
    await t.write(jk_nw.READ_ALL_REQUEST)
    assert await t.read(2.0)
    assert t.opens == 2 and server.accepted == 2
    await t.close()
    server.stop()


async def test_unasked_bytes_are_kept_while_paused_and_discarded_counted(peer):
    t = TcpTransport(peer.port)
    await t.write(b"a")
    assert await peer.read(1) == b"a"
    t.pause()
    await peer.write(b"late reply" * 100)
    await until(lambda: t.unread == 1000)
    assert t.discard_input() == 1000
    assert t.unread == 0
    assert t.discard_input() == 0
    await peer.write(b"fresh")
    assert await t.read(2.0) == b"fresh"
    await t.close()


async def test_a_fragmented_reply_arrives_in_pieces_and_is_reassembled():
    sim = JkNwSimulator(SimPack(seed=3))
    server = TcpServer(sim, fragment=True)
    server.start()
    t = TcpTransport(server.address)
    await t.write(jk_nw.READ_ALL_REQUEST)
    rx = jk_nw.NwAssembler()
    reads = []
    frames: list[bytes] = []
    while not frames:
        reads.append(await t.read(2.0))
        rx.feed(reads[-1])
        frames = list(good_frames(rx))
    assert len(reads) > 1  # the reply really came in pieces
    sample = jk_nw.decode(frames[0])
    assert len(sample.cell_voltages) == sim.pack.cells
    assert sum(map(len, reads)) == len(frames[0])
    await t.close()
    server.stop()


async def test_a_jk_behind_a_fragmenting_gateway_is_read_and_survives_a_drop():
    server = TcpServer(JkNwSimulator(SimPack(seed=4), serial="GW0001"), fragment=True)
    server.start()
    device = JkNwDevice(server.address)
    assert device.connection == f"TCP 127.0.0.1:{server.port}"
    sample = await device.poll()
    assert sample.device.serial == "GW0001"
    server.drop_connections()
    with pytest.raises(DeviceError, match="went away"):
        await device.poll()
    assert device.stats.link_errors == 1
    sample = await device.poll()
    assert sample.device.serial == "GW0001"
    assert device.stats.reopens == 1 and server.accepted == 2
    await device.close()
    server.stop()


async def test_a_bus_master_heard_through_a_fragmenting_gateway_without_sending_a_byte():
    bus = JkPbBus.with_packs(3, master=True)
    server = TcpServer(bus, fragment=True)
    server.start()
    t = TcpTransport(server.address)
    await t.open()
    stream = jk_pb.PbStream()
    records: list[jk_pb.Record] = []
    reads = 0
    while len(records) < 3:
        stream.feed(await t.read(5.0))
        reads += 1
        for event in stream.events():
            assert not isinstance(event, Exception), event
            if isinstance(event, jk_pb.Record):
                records.append(event)
    assert reads > len(records)  # the records came in pieces
    assert bus.received_bytes == 0
    await t.close()
    server.stop()
