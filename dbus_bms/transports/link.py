"""The byte-stream link a configured port names: ``tcp://host:port`` an RS485-TCP gateway, anything
else a serial device."""

from __future__ import annotations

from .serial import SerialTransport
from .stream import StreamTransport
from .tcp import TcpTransport, is_tcp, tcp_peer


def stream_transport(port: str, baudrate: int = 115200) -> StreamTransport:
    """The transport for ``port``; ``baudrate`` is the serial line's (a gateway sets its own)."""
    return TcpTransport(port) if is_tcp(port) else SerialTransport(port, baudrate)


def link_name(port: str) -> str:
    """The link as ``/Mgmt/Connection`` shows it: ``Serial /dev/ttyUSB0``, ``TCP 192.168.1.50:8887``."""
    return f"TCP {tcp_peer(port)}" if is_tcp(port) else f"Serial {port}"
