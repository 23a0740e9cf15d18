"""A bus of JK PB packs on RS485, answering as their firmware does, driven by simulated packs.

Host mode: packs at addresses 1-15 answer a trigger request with the record, an optional pad byte
on each side of the ack (firmware 15.41 does that), and the ack; they stay quiet for an address
no pack has, a request with a bad CRC, or a pack that is silenced. FC16 writes of the control
registers switch a pack's charge FET, discharge FET or balancer and are acked; FC3 reads return
the switches. An adapter that echoes (CH341) puts the host's own bytes in front of every reply.

Master mode: a pack at address 0 runs the bus by itself, and ``unsolicited(now)`` hands out what
its cycle puts on the wire: each slave polled for cell info and settings and its answers, the
empty addresses scanned, then the master's own two records, each closed by an ack-shaped frame
from address 0. The slaves answer a host on such a bus too, as real ones do.
"""

from __future__ import annotations

import random
import struct
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..model import DeviceInfo, Sample
from ..protocols import jk02, jk_pb
from .faults import Fault, apply_fault
from .pack import SimPack
from .pack_bus import BusPacks

MODEL, HW_VERSION, SW_VERSION = "JK_PB2A16S20P", "15A", "15.41"
# The device-info record keeps the name the owner gave the pack here; the factory serial is at 86.
NAME_OFFSET, NAME_LEN = 46, 16

# The master's cycle as a logic analyser shows it (3 slaves, about 4.4 s a cycle): an answer
# about 38 ms after the poll, 180 ms to the next poll, 220 ms for each empty address scanned.
REPLY_DELAY = 0.038
POLL_GAP = 0.18
SCAN_TIMEOUT = 0.22
OWN_RECORD_GAP = 0.22

# The control registers in address order: each UINT32 is two registers, numbered by byte offset.
_SWITCHES = {jk_pb.REG_CHARGE: "charge_switch", jk_pb.REG_DISCHARGE: "discharge_switch", jk_pb.REG_BALANCE: "balancer_switch"}


@dataclass
class PbPack:
    """One pack on the bus: its cells, identity, settings (switches included) and fault."""

    address: int
    pack: SimPack
    device: DeviceInfo
    name: str
    settings: jk_pb.PbSettings
    fault: Fault = Fault.NONE
    counter: int = 0

    @classmethod
    def at(cls, address: int, *, cells: int = 16, seed: int = 1) -> PbPack:
        pack = SimPack(cells=cells, seed=seed + address)
        settings = jk_pb.PbSettings(
            cell_count=cells, cell_ovp=3.65, cell_ovp_recovery=3.45, cell_uvp=2.70, cell_uvp_recovery=2.90,
            max_charge_current=100.0, max_discharge_current=150.0, balance_trigger_voltage=0.005,
            balance_start_voltage=3.40, charge_switch=True, discharge_switch=True, balancer_switch=True,
            nominal_capacity=pack.capacity_ah, charge_max_temperature=55.0, discharge_max_temperature=60.0,
            charge_min_temperature=0.0, device_address=address,
        )
        device = DeviceInfo(MODEL, HW_VERSION, SW_VERSION, serial=f"4011949{address:04d}")
        return cls(address, pack, device, f"Battery {address}", settings)

    def sample(self) -> Sample:
        """The pack's reading as its BMS reports it: the switches decide the FET and balancer flags."""
        sample = self.pack.sample()
        sample.charge_enabled = bool(self.settings.charge_switch)
        sample.discharge_enabled = bool(self.settings.discharge_switch)
        if not self.settings.balancer_switch:
            sample.balancing = False
            sample.cell_balancing = [False] * len(sample.cell_balancing or [])
        return sample

    def record(self, kind: int) -> bytes:
        """The record of type ``kind`` as the pack sends it now."""
        if kind == jk02.TYPE_CELL_INFO:
            self.counter = (self.counter + 1) & 0xFF
            return jk02.encode_cell_info(self.sample(), "32s", self.counter)
        if kind == jk02.TYPE_SETTINGS:
            return jk_pb.encode_settings(self.settings)
        record = bytearray(jk02.encode_device_info(self.device, "32s"))
        name = self.name.encode("ascii")[:NAME_LEN]
        record[NAME_OFFSET : NAME_OFFSET + len(name)] = name
        record[-1] = jk02.checksum(record[:-1])
        return bytes(record)

    def switches(self) -> bytes:
        """The control registers' bytes as FC3 returns them."""
        return b"".join(struct.pack(">I", int(bool(getattr(self.settings, name)))) for name in _SWITCHES.values())


@dataclass
class _Step:
    at: float
    emit: Callable[[], bytes]


class JkPbBus:
    """Feed it what the host wrote; it returns what the bus sends back. ``unsolicited(now)``: what a
    master pack sends by itself (nothing without one)."""

    def __init__(
        self,
        addresses: Iterable[int] = (1, 2, 3),
        *,
        master: bool = False,
        cells: int = 16,
        seed: int = 1,
        pad: bool = False,
        echo: bool = False,
        pace: float = 1.0,
    ) -> None:
        self.slaves: dict[int, PbPack] = {}
        for address in addresses:
            if address not in jk_pb.SLAVE_ADDRESSES or address in self.slaves:
                raise ValueError(f"slave address {address} is not one of 1-15, or is taken twice")
            self.slaves[address] = PbPack.at(address, cells=cells, seed=seed)
        self.master = PbPack.at(jk_pb.MASTER_ADDRESS, cells=cells, seed=seed) if master else None
        self.pack = BusPacks([*self.slaves.values(), *([self.master] if self.master else [])])
        self.pad = pad
        self.echo = echo
        # Every pause of the master's cycle × pace: 1 as the firmware, 0.1 ten times faster.
        self.pace = pace
        self.received_bytes = 0
        self.requests: dict[int, int] = {}
        self._fault = Fault.NONE
        self._rng = random.Random(seed)
        self._rx = jk_pb.PbStream()
        self._steps: deque[_Step] = deque()
        self._cycle_end: float | None = None

    @classmethod
    def with_packs(cls, packs: int, *, master: bool = False, **kwargs) -> JkPbBus:
        """``packs`` packs: at 1..packs, or with ``master`` the master at 0 and slaves 1..packs-1."""
        if not 1 <= packs <= 15 + master:
            raise ValueError(f"a PB bus holds 1 to {15 + master} packs, not {packs}")
        return cls(range(1, packs + 1 - master), master=master, **kwargs)

    @property
    def fault(self) -> Fault:
        """The fault last set for every pack at once (each pack's own ``fault`` may differ since)."""
        return self._fault

    @fault.setter
    def fault(self, fault: Fault) -> None:
        self._fault = fault
        for p in self.pack.packs:
            p.fault = fault

    def handle(self, data: bytes) -> bytes:
        self.received_bytes += len(data)
        self._rx.feed(data)
        out = bytearray(data if self.echo else b"")
        for event in self._rx.events():
            out += self.answer(event)
        return bytes(out)

    def answer(self, event: jk_pb.Event | Exception) -> bytes:
        """What the slaves put on the wire in reply to one frame seen on it."""
        pack = self.slaves.get(getattr(event, "address", -1))
        if pack is None:
            return b""
        if isinstance(event, jk_pb.Request):
            reply = self._framed(pack.record(event.kind), jk_pb.build_ack(pack.address, event.register))
        elif isinstance(event, jk_pb.Write):
            reply = self._write(pack, event)
        elif isinstance(event, jk_pb.Read):
            reply = self._read(pack, event)
        else:
            return b""
        self.requests[pack.address] = self.requests.get(pack.address, 0) + 1
        return apply_fault(pack.fault, reply, self._rng)

    def _framed(self, record: bytes, ack: bytes) -> bytes:
        pad = b"\x00" if self.pad else b""
        return record + pad + ack + pad

    def _write(self, pack: PbPack, write: jk_pb.Write) -> bytes:
        name = _SWITCHES.get(write.register)
        if name is None:
            return jk_pb.build_exception(pack.address, jk_pb.FC_WRITE, 2)
        if len(write.data) != 4 or write.value not in (0, 1):
            return jk_pb.build_exception(pack.address, jk_pb.FC_WRITE, 3)
        setattr(pack.settings, name, bool(write.value))
        return jk_pb.build_ack(pack.address, write.register, 2)

    def _read(self, pack: PbPack, read: jk_pb.Read) -> bytes:
        start = read.register - jk_pb.REG_CHARGE
        image = pack.switches()
        if start < 0 or start + 2 * read.count > len(image):
            return jk_pb.build_exception(pack.address, jk_pb.FC_READ, 2)
        return jk_pb.build_read_reply(pack.address, image[start : start + 2 * read.count])

    # --- The master's cycle -------------------------------------------------------------------

    def unsolicited(self, now: float) -> bytes:
        """The bytes the master's cycle has put on the wire up to ``now`` since the last call."""
        master = self.master
        if master is None:
            return b""
        if self._cycle_end is None or now - self._cycle_end >= self.cycle_period:
            # After a long pause the bus just starts over; it does not replay what it missed.
            self._steps.clear()
            self._cycle_end = self._plan_cycle(master, now)
        out = bytearray()
        while True:
            while self._steps and self._steps[0].at <= now:
                out += self._steps.popleft().emit()
            if self._steps or now < self._cycle_end:
                return bytes(out)
            self._cycle_end = self._plan_cycle(master, self._cycle_end)

    @property
    def cycle_period(self) -> float:
        polls = 2 * len(self.slaves) * (REPLY_DELAY + POLL_GAP)
        return self.pace * (polls + (15 - len(self.slaves)) * SCAN_TIMEOUT + 2 * OWN_RECORD_GAP)

    def _plan_cycle(self, master: PbPack, start: float) -> float:
        """Queues one cycle from ``start``; returns when it ends."""

        def sent(data: bytes) -> bytes:
            return apply_fault(master.fault, data, self._rng)

        def poll(address: int, kind: int) -> Callable[[], bytes]:
            return lambda: sent(jk_pb.build_trigger(address, kind))

        def reply(address: int, kind: int) -> Callable[[], bytes]:
            # A slave answers only the poll the master did send.
            request = jk_pb.Request(address, jk_pb.TRIGGER_REGISTER[kind])
            return lambda: b"" if master.fault is Fault.SILENT else self.answer(request)

        def own(kind: int) -> Callable[[], bytes]:
            ack = jk_pb.build_ack(jk_pb.MASTER_ADDRESS, jk_pb.TRIGGER_REGISTER[kind])
            return lambda: sent(self._framed(master.record(kind), ack))

        t = start
        for address in sorted(self.slaves):
            for kind in (jk02.TYPE_CELL_INFO, jk02.TYPE_SETTINGS):
                self._steps.append(_Step(t, poll(address, kind)))
                self._steps.append(_Step(t + self.pace * REPLY_DELAY, reply(address, kind)))
                t += self.pace * (REPLY_DELAY + POLL_GAP)
        for address in jk_pb.SLAVE_ADDRESSES:
            if address not in self.slaves:
                self._steps.append(_Step(t, poll(address, jk02.TYPE_CELL_INFO)))
                t += self.pace * SCAN_TIMEOUT
        for kind in (jk02.TYPE_CELL_INFO, jk02.TYPE_SETTINGS):
            self._steps.append(_Step(t, own(kind)))
            t += self.pace * OWN_RECORD_GAP
        return t
