"""Serves a simulated BMS on a pseudo-terminal, so the real serial transport can talk to it."""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import random
import select
import signal
import time
import tty
from typing import Protocol

from .bus import die_with_parent
from .pack import SimPack

# How far a garbage stream at line rate may fall behind its schedule before it gives up catching up,
# as a UART that was not fed in time simply sent nothing then.
_MAX_LAG = 0.1


# How often a device that talks unasked (a bus master pack) is asked for what is due.
UNSOLICITED_TICK = 0.01


class SimDevice(Protocol):
    """A simulated BMS: its pack, and the reply to whatever the host wrote.

    A device that also sends unasked has ``unsolicited(now: float) -> bytes``: the bytes due by
    ``now`` (monotonic seconds), b"" when none; servers call it every ``UNSOLICITED_TICK``.
    """

    pack: SimPack

    def handle(self, data: bytes) -> bytes: ...


class PtyServer:
    """Opens a pty pair; the daemon opens ``path``, we answer on the master side.

    ``link`` makes a stable symlink to the pty (ptys are numbered anew each time), which lets
    a configuration name one path for the whole life of a demo.
    """

    def __init__(self, device: SimDevice, *, link: str | None = None, advance: bool = True) -> None:
        self.device = device
        self.link = link
        self.advance = advance
        self.path = ""
        self._master = -1
        self._slave = -1
        self._last = 0.0
        self._garbage: multiprocessing.process.BaseProcess | None = None
        self._garbage_sent: ctypes.c_ulonglong | None = None
        self._ticker: asyncio.TimerHandle | None = None

    def start(self) -> str:
        self._master, self._slave = os.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        if self.link:
            if os.path.lexists(self.link):
                os.unlink(self.link)
            os.symlink(self.path, self.link)
        self._last = time.monotonic()
        loop = asyncio.get_running_loop()
        loop.add_reader(self._master, self._on_readable)
        if hasattr(self.device, "unsolicited"):
            self._ticker = loop.call_soon(self._tick)
        return self.link or self.path

    def _advance(self) -> None:
        if self.advance:
            now = time.monotonic()
            self.device.pack.advance(now - self._last)
            self._last = now

    def _send(self, data: bytes) -> None:
        if data:
            try:
                os.write(self._master, data)
            except OSError:
                pass  # the host closed its side mid-reply, or is not reading: a real line drops it

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:
            return  # EIO while no one holds the slave open; the next open brings data again
        self._advance()
        self._send(self.device.handle(data))

    def _tick(self) -> None:
        self._advance()
        self._send(self.device.unsolicited(time.monotonic()))
        self._ticker = asyncio.get_running_loop().call_later(UNSOLICITED_TICK, self._tick)

    def stream_garbage(self, bytes_per_second: float | None, seed: int = 0) -> None:
        """Starts a line that streams random bytes without pause, whatever the host asks.

        At ``bytes_per_second`` (115200 baud is 11,520) the bytes go one per write, as a UART hands
        them over; with None they go in 4 KiB writes as fast as the host takes them. A process of
        its own writes them, so the stream keeps its pace whatever this process's loop is doing.
        """
        self.stop_garbage()
        self._garbage_sent = multiprocessing.get_context("fork").RawValue("Q", 0)
        self._garbage = multiprocessing.get_context("fork").Process(
            target=_stream_garbage, args=(self._master, bytes_per_second, seed, self._garbage_sent), daemon=True
        )
        self._garbage.start()

    @property
    def garbage_sent(self) -> int:
        """How many bytes of garbage the stream has written so far."""
        return self._garbage_sent.value if self._garbage_sent is not None else 0

    def stop_garbage(self) -> None:
        if self._garbage is not None:
            self._garbage.kill()
            self._garbage.join()
            self._garbage = None

    def stop(self) -> None:
        self.stop_garbage()
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._master >= 0:
            asyncio.get_running_loop().remove_reader(self._master)
            os.close(self._master)
            os.close(self._slave)
            self._master = self._slave = -1
        if self.link and os.path.islink(self.link) and os.readlink(self.link) == self.path:
            os.unlink(self.link)  # only our own: another server may have made it anew meanwhile


def _stream_garbage(fd: int, bytes_per_second: float | None, seed: int, sent: ctypes.c_ulonglong) -> None:
    die_with_parent()
    signal.set_wakeup_fd(-1)  # the parent's event loop must not wake for this process's signals
    rng = random.Random(seed)
    chunk = 1 if bytes_per_second is not None else 4096
    due = time.monotonic()
    while True:
        if bytes_per_second is not None:
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            due = max(due, time.monotonic() - _MAX_LAG) + 1 / bytes_per_second
        select.select([], [fd], [])
        try:
            sent.value += os.write(fd, rng.randbytes(chunk))
        except BlockingIOError:
            pass
        except OSError:
            time.sleep(0.01)  # EIO while no one holds the slave open
