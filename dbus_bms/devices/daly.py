"""A Daly Smart BMS on its UART/RS485 port, speaking the classic ``A5`` protocol.

One poll asks for each group of values in turn, each reply awaited with the reply timeout. The
status (0x94) comes before the cells and temperatures, because how many of their frames to wait
for depends on its counts. Some Daly BMSes send all 16 cell frames of their 48 cell slots whatever
the pack has; a multi-frame reply is read until the line goes quiet, so that its surplus frames do
not run into the next request.

The charge and discharge MOS are switched with 0xDA and 0xD9; the BMS echoes the command, and the
next poll's 0x93 shows whether it took it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..model import Sample
from ..protocols import daly
from ..protocols.errors import ProtocolError
from ..protocols.framing import drain
from ..transports.errors import TransportError
from ..transports.link import link_name, stream_transport
from .base import DEADLINE_MARGIN, Device, DeviceError

DEFAULT_BAUDRATE = 9600
# The read commands of one poll, in order. 0x91 and 0x92 are left out: the cell and temperature
# frames carry the same extremes and every value between them.
POLL = (daly.PACK, daly.MOS, daly.STATUS, daly.CELLS, daly.TEMPERATURES, daly.BALANCE, daly.FAILURES)
# After the frames a multi-frame reply needs, how long the line must stay quiet before the next
# request: four frame times at 9600 baud.
QUIET = 0.055


class DalyDevice(Device):
    type_name = "daly"
    vendor = "Daly"

    def __init__(self, port: str, *, baudrate: int = DEFAULT_BAUDRATE, timeout: float = 0.5) -> None:
        super().__init__()
        self.port = port
        self.timeout = timeout
        self.transport = stream_transport(port, baudrate)

    @classmethod
    def from_config(cls, cfg: Any) -> DalyDevice:
        return cls(cfg.port, baudrate=cfg.baudrate, timeout=cfg.timeout)

    @property
    def connection(self) -> str:
        return link_name(self.port)

    @property
    def fallback_id(self) -> str:
        return f"{self.type_name}_{self.port}"

    @property
    def deadline(self) -> float:
        """Every request of a poll may take its reply timeout, and a multi-frame one its quiet gap."""
        return len(POLL) * self.timeout + 2 * QUIET + DEADLINE_MARGIN

    async def exchange(self) -> Sample:
        opens = self.transport.opens
        frames: list[bytes] = []
        try:
            await self.transport.open()
            self.stats.discarded_bytes += self.transport.discard_input()
            expected: dict[int, int] = {}
            for command in POLL:
                await self.transport.write(daly.build_request(command))
                replies = await self._read(command, expected.get(command, 1))
                frames += replies
                if command == daly.STATUS:
                    expected = self._multi_frame_counts(daly.parse_status(replies[0]))
        except TimeoutError as exc:
            self.stats.timeouts += 1
            raise DeviceError(str(exc)) from None
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(str(exc)) from None
        finally:
            if self.transport.opens > opens > 0:
                self.stats.reopens += 1
        try:
            return daly.decode(frames)
        except ProtocolError as exc:
            self.stats.bad_frames += 1
            raise DeviceError(f"undecodable reply: {exc}") from None

    def _multi_frame_counts(self, status: daly.Status) -> dict[int, int]:
        """How many cell and temperature frames to wait for, from the status reply."""
        if not 1 <= status.cells <= daly.MAX_CELLS or status.temperature_sensors > daly.MAX_TEMPERATURES:
            self.stats.bad_frames += 1
            raise DeviceError(f"the BMS claims {status.cells} cells and {status.temperature_sensors} sensors")
        return {daly.CELLS: daly.frames_needed(daly.CELLS, status.cells),
                daly.TEMPERATURES: daly.frames_needed(daly.TEMPERATURES, status.temperature_sensors)}

    def can_switch(self, which: str) -> bool:
        return which in daly.SWITCH_COMMANDS

    async def send_switch(self, which: str, on: bool) -> None:
        command = daly.SWITCH_COMMANDS[which]
        try:
            await self.transport.open()
            self.stats.discarded_bytes += self.transport.discard_input()
            await self.transport.write(daly.build_switch(which, on))
            try:
                await self._read(command, 1)
            except TimeoutError:
                pass  # the 0x93 read back tells
        except TransportError as exc:
            self.stats.link_errors += 1
            raise DeviceError(str(exc)) from None

    async def _read(self, command: int, count: int) -> list[bytes]:
        """``count`` reply frames of ``command`` (distinct frame numbers where it has several);
        frames of other commands, left from an earlier reply, are passed over. Then, for a
        command that may send more frames than asked for, waits for the line to go quiet."""
        rx = daly.DalyAssembler()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        found: dict[int, bytes] = {}
        try:
            while len(found) < count:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no complete reply to 0x{command:02X} from {self.port} within {self.timeout:g} s")
                rx.feed(await self.transport.read(remaining))
                for item in drain(rx):
                    if isinstance(item, ProtocolError):
                        self.stats.bad_frames += 1
                    elif daly.is_reply(item) and daly.command_of(item) == command:
                        found.setdefault(daly.frame_number(item) if count > 1 else 0, item)
            if command in (daly.CELLS, daly.TEMPERATURES):
                await self._until_quiet()
        finally:
            self.stats.discarded_bytes += rx.discarded_bytes
        return list(found.values())

    async def _until_quiet(self) -> None:
        while True:
            try:
                await self.transport.read(QUIET)
            except TimeoutError:
                return

    async def end_poll(self) -> None:
        self.transport.pause()

    async def close(self) -> None:
        await self.transport.close()
