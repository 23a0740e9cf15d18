"""Serves a simulated BMS as an RS485-TCP gateway in transparent mode would: the device's bytes over
TCP on 127.0.0.1, so the real TCP transport can talk to it.

Like a gateway it hands what the line sends to every connected client, can drop its connections
and come back, can refuse connections (down), and can send replies in pieces with pauses between
them, as a gateway does that forwards what its UART gathered at each inter-character pause.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time

from .pty_server import UNSOLICITED_TICK, SimDevice

HOST = "127.0.0.1"
# Pieces of 1 to 48 bytes, 8 ms apart: longer than the TCP transport's gather, so a reply of a few
# hundred bytes does reach the host in several reads.
FRAGMENT_BYTES = (1, 48)
FRAGMENT_PAUSE = 0.008


class TcpServer:
    """Listens on 127.0.0.1:``port`` (0: a free one, then ``.port``); all I/O runs on the event loop
    through readers and timers, so ``start``, ``stop`` and the fault switches take effect at once."""

    def __init__(
        self, device: SimDevice, *, port: int = 0, fragment: bool = False, advance: bool = True, seed: int = 1
    ) -> None:
        self.device = device
        self.port = port
        self.fragment = fragment
        self.advance = advance
        self.accepted = 0
        self.refusing = False
        self._rng = random.Random(seed)
        self._listener: socket.socket | None = None
        self._clients: set[socket.socket] = set()
        self._pending = bytearray()
        self._flush: asyncio.TimerHandle | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._last = 0.0

    @property
    def address(self) -> str:
        """The port a battery's config names: ``tcp://127.0.0.1:PORT``."""
        return f"tcp://{HOST}:{self.port}"

    @property
    def clients(self) -> int:
        """How many connections are open now."""
        return len(self._clients)

    def start(self) -> str:
        self._last = time.monotonic()
        self._listen()
        if hasattr(self.device, "unsolicited"):
            self._schedule_tick()
        return self.address

    def _listen(self) -> None:
        listener = socket.create_server((HOST, self.port))
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._listener = listener
        asyncio.get_running_loop().add_reader(listener, self._on_accept)

    def _unlisten(self) -> None:
        if self._listener is not None:
            asyncio.get_running_loop().remove_reader(self._listener)
            self._listener.close()
            self._listener = None

    def refuse(self, refusing: bool) -> None:
        """True: the gateway is down, connections are dropped and new ones refused; False: it is back
        on the same port."""
        if refusing == self.refusing:
            return
        self.refusing = refusing
        if refusing:
            self._unlisten()
            self.drop_connections()
        else:
            self._listen()

    def drop_connections(self) -> None:
        """Closes every client connection, as a gateway that restarts does; it takes new ones at once."""
        for conn in list(self._clients):
            self._close(conn)
        self._pending.clear()
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    def stop(self) -> None:
        self._unlisten()
        self.drop_connections()
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None

    def _on_accept(self) -> None:
        assert self._listener is not None
        try:
            conn, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(False)
        self._clients.add(conn)
        self.accepted += 1
        asyncio.get_running_loop().add_reader(conn, self._on_readable, conn)

    def _close(self, conn: socket.socket) -> None:
        self._clients.discard(conn)
        asyncio.get_running_loop().remove_reader(conn)
        conn.close()

    def _on_readable(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        self._advance()
        self._send(self.device.handle(data))

    def _advance(self) -> None:
        if self.advance:
            now = time.monotonic()
            self.device.pack.advance(now - self._last)
            self._last = now

    def _schedule_tick(self) -> None:
        self._tick = asyncio.get_running_loop().call_later(UNSOLICITED_TICK, self._on_tick)

    def _on_tick(self) -> None:
        self._advance()
        self._send(self.device.unsolicited(time.monotonic()))  # type: ignore[attr-defined]
        self._schedule_tick()

    def _send(self, data: bytes) -> None:
        """What the line sends goes to every client: whole, or queued to go out in pieces."""
        if not data:
            return
        if not self.fragment:
            self._broadcast(data)
            return
        self._pending += data
        if self._flush is None:
            self._send_piece()

    def _send_piece(self) -> None:
        size = self._rng.randint(*FRAGMENT_BYTES)
        piece = bytes(self._pending[:size])
        del self._pending[:size]
        self._broadcast(piece)
        self._flush = asyncio.get_running_loop().call_later(FRAGMENT_PAUSE, self._send_piece) if self._pending else None

    def _broadcast(self, data: bytes) -> None:
        for conn in list(self._clients):
            try:
                conn.sendall(data)
            except BlockingIOError:
                pass  # a client that does not read: a gateway's buffer overflows and drops the rest
            except OSError:
                self._close(conn)
