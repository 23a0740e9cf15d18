"""A TCP connection to an RS485-TCP gateway in transparent mode: the bytes of the serial line, over
a socket (`tcp://host:port`).

The connection is made lazily and made again by the next ``open`` after the gateway dropped it (a
gateway that rebooted, Wi-Fi that came back), as a serial port is re-opened after a replug. Keepalive
and a user timeout find a gateway that vanished without a word, which would otherwise leave a
connection that takes every request and never answers.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import socket
import struct
import termios

from .errors import TransportError
from .stream import MAX_BUFFERED, Receiver, StreamTransport

SCHEME = "tcp://"
# A LAN connect takes milliseconds; this stays under the 2 s a poll allows for opening its link, so
# a gateway that does not answer is reported as such, not as a poll that overran.
CONNECT_TIMEOUT = 1.5
# A gateway sends what its UART gathered in one segment per inter-character pause (a few ms at
# 115200 baud): waiting that long after a read takes a reply's next piece in the same wake-up.
_GATHER = 0.005
# Probes an idle connection after 10 s, then every 5 s, given up after 3 unanswered; unacknowledged
# requests give up after 10 s. Either way the next poll connects afresh.
_KEEPIDLE, _KEEPINTVL, _KEEPCNT = 10, 5, 3
_USER_TIMEOUT_MS = 10_000
_ADDRESS = re.compile(r"(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^:\[\]]*)):(?P<port>[0-9]+)")


def is_tcp(port: str) -> bool:
    """Whether a configured port names a TCP gateway rather than a serial device."""
    return port.startswith(SCHEME)


def tcp_address(port: str) -> tuple[str, int]:
    """The host and port number of ``tcp://host:port`` (an IPv6 host in brackets: ``tcp://[fd00::5]:8887``);
    ValueError saying what is wrong when it is not one."""
    if not is_tcp(port):
        raise ValueError(f"{port!r} does not start with {SCHEME}")
    match = _ADDRESS.fullmatch(port[len(SCHEME):])
    if match is None:
        raise ValueError(f"expected {SCHEME}host:port, e.g. {SCHEME}192.168.1.50:8887")
    host = match["v6"] if match["v6"] is not None else match["host"]
    if not host.strip():
        raise ValueError(f"the host is empty: expected {SCHEME}host:port, e.g. {SCHEME}192.168.1.50:8887")
    number = int(match["port"])
    if not 1 <= number <= 65535:
        raise ValueError(f"port {match['port']} is out of range 1 to 65535")
    return host, number


def tcp_peer(port: str) -> str:
    """``host:port`` of ``tcp://host:port``, an IPv6 host in brackets; as written when malformed."""
    try:
        host, number = tcp_address(port)
    except ValueError:
        return port.removeprefix(SCHEME)
    return f"[{host}]:{number}" if ":" in host else f"{host}:{number}"


class TcpTransport(StreamTransport):
    def __init__(self, port: str, *, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        super().__init__(port, gather=_GATHER)
        self.connect_timeout = connect_timeout
        self._sock: socket.socket | None = None

    async def _connect(self, rx: Receiver) -> asyncio.Transport:
        peer = tcp_peer(self.port)
        try:
            host, number = tcp_address(self.port)
        except ValueError as exc:
            raise TransportError(f"cannot connect to {self.port}: {exc}") from None
        loop = asyncio.get_running_loop()
        sock: socket.socket | None = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                sock = await _connected_socket(loop, host, number)
                transport, _ = await loop.create_connection(lambda: rx, sock=sock)
        except BaseException as exc:
            if sock is not None:
                sock.close()
            if isinstance(exc, TimeoutError):
                raise TransportError(f"cannot connect to {peer}: no answer within {self.connect_timeout:g} s") from None
            if isinstance(exc, OSError):
                raise TransportError(f"cannot connect to {peer}: {_reason(exc)}") from exc
            raise
        self._sock = sock
        return transport

    def _read_kept(self) -> bytes:
        if self._transport is None or self._sock is None:
            return b""
        if self._sock.fileno() < 0:
            raise TransportError(f"{self.port} went away: the connection is closed")
        try:
            data = self._sock.recv(MAX_BUFFERED)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise TransportError(f"{self.port} went away: {_reason(exc)}") from exc
        if not data:
            raise TransportError(f"{self.port} went away: the gateway closed the connection")
        return data

    @property
    def unread(self) -> int:
        if self._transport is None or self._sock is None:
            return 0
        try:
            raw = fcntl.ioctl(self._sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
        except (OSError, ValueError):  # closed under us: nothing is waiting for us any more
            return 0
        return struct.unpack("i", raw)[0]


async def _connected_socket(loop: asyncio.AbstractEventLoop, host: str, number: int) -> socket.socket:
    """A connected socket to the first of the host's addresses that takes the connection."""
    error: OSError | None = None
    for family, kind, proto, _, address in await loop.getaddrinfo(host, number, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            _tune(sock)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise error or OSError(f"{host} has no address")


def _reason(exc: OSError) -> str:
    # asyncio words a failed connect as "Connect call failed (address)": the errno says why.
    if exc.errno and not isinstance(exc, socket.gaierror):
        return os.strerror(exc.errno)
    return exc.strerror or str(exc)


def _tune(sock: socket.socket) -> None:
    # A request goes out at once, not held back to be merged with a next one that never comes.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, _KEEPIDLE)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, _KEEPINTVL)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, _KEEPCNT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, _USER_TIMEOUT_MS)
