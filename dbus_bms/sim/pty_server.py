"""Serves a simulated BMS on a pseudo-terminal, so the real serial transport can talk to it."""

from __future__ import annotations

import asyncio
import os
import time
import tty
from typing import Protocol

from .pack import SimPack


class SimDevice(Protocol):
    """A simulated BMS: its pack, and the reply to whatever the host wrote."""

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
        asyncio.get_running_loop().add_reader(self._master, self._on_readable)
        return self.link or self.path

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:
            return  # EIO while no one holds the slave open; the next open brings data again
        if self.advance:
            now = time.monotonic()
            self.device.pack.advance(now - self._last)
            self._last = now
        reply = self.device.handle(data)
        if reply:
            try:
                os.write(self._master, reply)
            except OSError:
                pass  # the host closed its side mid-reply, as a real line would drop it

    def stop(self) -> None:
        if self._master >= 0:
            asyncio.get_running_loop().remove_reader(self._master)
            os.close(self._master)
            os.close(self._slave)
            self._master = self._slave = -1
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)
