"""A Daly Smart BMS speaking the classic ``A5`` protocol: on its UART/RS485 port, or through its
classic Bluetooth LE module, which relays the same frames (the host's address is 0x80 there).

One poll asks for each group of values in turn, each reply awaited with the reply timeout. The
status (0x94) comes before the cells and temperatures, because how many of their frames to wait
for depends on its counts. Some Daly BMSes send all 16 cell frames of their 48 cell slots whatever
the pack has; a multi-frame reply is read until the line goes quiet, so that its surplus frames do
not run into the next request.

The charge and discharge MOS are switched with 0xDA and 0xD9; the BMS echoes the command, and the
next poll's 0x93 shows whether it took it. ``set_soc`` sets the BMS's SoC (0x21, with its clock)
and reads it back.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from ..model import Sample
from ..protocols import daly
from .base import DEADLINE_MARGIN, ControlFailed, DeviceError
from .stream_device import BleModule, StreamDevice

DEFAULT_BAUDRATE = 9600
# The read commands of one poll, in order. 0x91 and 0x92 are left out: the cell and temperature
# frames carry the same extremes and every value between them.
POLL = (daly.PACK, daly.MOS, daly.STATUS, daly.CELLS, daly.TEMPERATURES, daly.BALANCE, daly.FAILURES)
# After the frames a multi-frame reply needs, how long the line must stay quiet before the next
# request: four frame times at 9600 baud.
QUIET = 0.055
# Over BLE, the module's notifications of one reply may lie a few connection intervals apart.
QUIET_BLE = 0.15
# How far the SoC read back after setting it may lie from the SoC asked for: the BMS counts on.
SOC_READ_BACK = 1.0


class DalyDevice(StreamDevice):
    type_name = "daly"
    vendor = "Daly"
    default_baudrate = DEFAULT_BAUDRATE
    ble_module = BleModule(daly.BLE_NOTIFY_UUID, daly.BLE_WRITE_UUID)

    @property
    def exchange_bound(self) -> float:
        """Every request of a poll may take its reply timeout, and a multi-frame one its quiet gap."""
        return len(POLL) * self.timeout + 2 * self._quiet + DEADLINE_MARGIN

    @property
    def _host(self) -> int:
        return daly.BLE_HOST_ADDRESS if self.over_ble else daly.HOST_ADDRESS

    @property
    def _quiet(self) -> float:
        return QUIET_BLE if self.over_ble else QUIET

    async def read_bms(self) -> Sample:
        frames: list[bytes] = []
        expected: dict[int, int] = {}
        for command in POLL:
            await self.transport.write(daly.build_request(command, address=self._host))
            replies = await self._read(command, expected.get(command, 1))
            frames += replies
            if command == daly.STATUS:
                expected = self._multi_frame_counts(daly.parse_status(replies[0]))
        return self.decoded(daly.decode, frames)

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
        async with self.counted():
            await self.open_clean()
            await self.transport.write(daly.build_switch(which, on, address=self._host))
            with contextlib.suppress(TimeoutError):  # the 0x93 read back tells
                await self._read(daly.SWITCH_COMMANDS[which], 1)

    async def set_soc(self, percent: float, now: datetime) -> Sample:
        """Sets the BMS's SoC to ``percent`` and its clock to ``now``, then reads the BMS back and
        returns that reading. ValueError (nothing sent) for a SoC outside 0-100; DeviceError when
        the BMS did not answer or refused; ControlFailed when the reading shows another SoC."""
        frame = daly.build_set_soc(percent, now, address=self._host)
        async with self._busy:
            await self._bounded(self._send_soc(frame), "the SoC command")
            sample = await self._poll()
        if sample.soc is None or abs(sample.soc - percent) > SOC_READ_BACK:
            raise ControlFailed(f"the SoC reads {sample.soc} % after setting it to {percent:g} %", sample)
        return sample

    async def _send_soc(self, frame: bytes) -> None:
        async with self.counted():
            await self.open_clean()
            await self.transport.write(frame)
            reply = (await self._read(daly.SET_SOC, 1))[0]
        if not daly.set_soc_taken(reply):
            raise DeviceError("the BMS refused the SoC")

    async def _read(self, command: int, count: int) -> list[bytes]:
        """``count`` reply frames of ``command`` (distinct frame numbers where it has several);
        frames of other commands, left from an earlier reply, are passed over. Then, for a
        command that may send more frames than asked for, waits for the line to go quiet."""
        found: dict[int, bytes] = {}

        def take(frame: bytes) -> list[bytes] | None:
            if daly.is_reply(frame) and daly.command_of(frame) == command:
                found.setdefault(daly.frame_number(frame) if count > 1 else 0, frame)
            return list(found.values()) if len(found) >= count else None

        replies = await self.collect(daly.DalyAssembler(), take, f"complete reply to 0x{command:02X}")
        if command in (daly.CELLS, daly.TEMPERATURES):
            await self._until_quiet()
        return replies

    async def _until_quiet(self) -> None:
        while True:
            try:
                await self.transport.read(self._quiet)
            except TimeoutError:
                return
