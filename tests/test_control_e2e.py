"""End to end: switching a BMS from the GX. ``dbus-bms run`` as a child process, a JK over BLE
through the fake BlueZ and a JK NW on a pty; a client writes the control paths with SetValue.

The client takes the service's ItemsChanged and the SetValue reply in its message handler, in the
order the bus delivered them: the bus keeps one sender's messages in order, so what was signalled
before the reply is exactly what the daemon published before it answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.sim.jk_pb import JkPbBus
from dbus_bms.victron.reader import name_owner, plain, watch_items_changed

BUSITEM = "com.victronenergy.BusItem"
FAST = "poll_interval: 0.2\ncharge:\n  stale_after: 2.0\n  current_recovery_hold: 1.0\n"
SWITCH_WRITES = (0x1D, 0x1E, 0x1F)


class Writer:
    """SetValue on one service, with what it signalled between the call and the reply."""

    def __init__(self, bus: MessageBus, service: str) -> None:
        self.bus = bus
        self.service = service
        self.sender: str | None = None
        self._seen: dict[str, Any] = {}
        self._replies: dict[int, asyncio.Future] = {}

    async def start(self) -> None:
        await watch_items_changed(self.bus)
        self.sender = await name_owner(self.bus, self.service)
        self.bus.add_message_handler(self._handle)

    def _handle(self, msg: Message) -> bool | None:
        if msg.message_type == MessageType.SIGNAL and msg.member == "ItemsChanged" and msg.sender == self.sender:
            self._seen.update({path: plain(item["Value"]) for path, item in msg.body[0].items()})
        elif msg.message_type == MessageType.METHOD_RETURN and msg.reply_serial in self._replies:
            self._replies[msg.reply_serial].set_result((msg.body[0], dict(self._seen)))
            return True
        return None

    async def set(self, path: str, value: int) -> tuple[int, dict[str, Any]]:
        """The SetValue result, and every value the service signalled after the call, up to the reply."""
        self._seen.clear()
        serial = self.bus.next_serial()
        reply = self._replies[serial] = asyncio.get_running_loop().create_future()
        self.bus.send(Message(destination=self.service, path=path, interface=BUSITEM, member="SetValue",
                              signature="v", body=[Variant("i", value)], serial=serial))
        try:
            return await asyncio.wait_for(reply, 30)
        finally:
            del self._replies[serial]


def online(items: dict[str, Any]) -> bool:
    return items.get("/Connected") == 1 and items.get("/Soc") is not None


@contextlib.asynccontextmanager
async def writer_for(h: DaemonHarness, i: int) -> AsyncIterator[Writer]:
    """A client of battery ``i``, once it publishes readings."""
    await h.wait_for(online, i)
    bus = await MessageBus(bus_address=h.private.address).connect()
    try:
        writer = Writer(bus, h.service(i))
        await writer.start()
        yield writer
    finally:
        bus.disconnect()


@pytest.fixture
async def ble_control(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=0, ble_layouts=("32s",), extra_config=FAST + "control: true\n")
    await h.start()
    yield h
    await h.stop()


async def test_the_gx_switches_a_ble_jks_charge_fet_off_and_on(ble_control):
    sim = ble_control.ble_sims[0].model
    async with writer_for(ble_control, 0) as writer:
        items = await ble_control.items(0)
        assert items["/Settings/HasSettings"] == 1 and items["/Settings/ForceChargingOff"] == 0
        assert items["/Io/AllowToCharge"] == 1 and items["/Info/MaxChargeCurrent"] > 0

        result, before_reply = await writer.set("/Settings/ForceChargingOff", 1)
        assert result == 0
        assert sim.settings.charge_switch is False and sim.requests[0x1D] == 1
        # Published before the answer, in the same update as the reading that showed the FET off.
        assert before_reply["/Settings/ForceChargingOff"] == 1
        assert before_reply["/Io/AllowToCharge"] == 0 and before_reply["/Info/MaxChargeCurrent"] == 0
        assert before_reply["/Info/ChargeLimitation"] == "BMS charge FET off"
        items = await ble_control.items(0)
        assert items["/Settings/ForceChargingOff"] == 1 and items["/Io/AllowToDischarge"] == 1

        result, before_reply = await writer.set("/Settings/ForceChargingOff", 0)
        assert result == 0 and sim.settings.charge_switch is True
        assert before_reply["/Settings/ForceChargingOff"] == 0
        # Charging comes back as any limit recovers, after the hold.
        await ble_control.wait_for(lambda it: it["/Io/AllowToCharge"] == 1 and it["/Info/MaxChargeCurrent"] > 0, 0)
        assert "/Settings/ForceChargingOff = 0: the BMS switched its charge on" in ble_control.daemon_log()


async def test_the_gx_switches_a_ble_jks_balancer_and_rejects_values_other_than_0_and_1(ble_control):
    sim = ble_control.ble_sims[0].model
    async with writer_for(ble_control, 0) as writer:
        result, before_reply = await writer.set("/Settings/TurnBalancingOff", 1)
        assert result == 0 and sim.settings.balancer_switch is False
        assert before_reply["/Settings/TurnBalancingOff"] == 1
        assert (await writer.set("/Settings/ForceDischargingOff", 2))[0] == 2
        assert sim.requests.get(0x1E, 0) == 0 and sim.settings.discharge_switch is True


async def test_with_control_off_a_write_is_refused_and_nothing_reaches_the_bms(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=0, ble_layouts=("32s",), extra_config=FAST)
    await h.start()
    try:
        async with writer_for(h, 0) as writer:
            items = await h.items(0)
            assert items["/Settings/HasSettings"] == 0 and items["/Settings/ForceChargingOff"] == 0
            result, _ = await writer.set("/Settings/ForceChargingOff", 1)
            assert result == 2
            await h.wait_for_log("jkble0: /Settings/ForceChargingOff = 1 refused: control is off: set `control: true`")
            sim = h.ble_sims[0].model
            assert not any(sim.requests.get(register) for register in SWITCH_WRITES)
            assert sim.settings.charge_switch is True
            items = await h.items(0)
            assert items["/Settings/ForceChargingOff"] == 0 and items["/Io/AllowToCharge"] == 1
    finally:
        await h.stop()


async def test_the_gx_switches_a_jk_nw_discharge_fet_and_says_what_it_cannot_do(private_bus, tmp_path):
    h = DaemonHarness(private_bus, tmp_path, count=1, extra_config=FAST + "control: true\n")
    await h.start()
    try:
        sim = h.sims[0]
        async with writer_for(h, 0) as writer:
            assert (await h.items(0))["/Settings/HasSettings"] == 1
            result, before_reply = await writer.set("/Settings/ForceDischargingOff", 1)
            assert result == 0 and sim.switches["discharge"] is False
            assert before_reply["/Io/AllowToDischarge"] == 0 and before_reply["/Info/MaxDischargeCurrent"] == 0
            assert before_reply["/Settings/ForceDischargingOff"] == 1
            result, _ = await writer.set("/Settings/ForceDischargingOff", 0)
            assert result == 0 and sim.switches["discharge"] is True
            writes = sim.writes
            result, _ = await writer.set("/Settings/TurnBalancingOff", 1)
            assert result == 2 and sim.writes == writes
            await h.wait_for_log("jk0: /Settings/TurnBalancingOff = 1 refused: this BMS (jk-nw) cannot switch its balance")
            assert (await h.items(0))["/Settings/TurnBalancingOff"] == 0
            sim.takes_writes = False  # firmware that ignores the write
            result, before_reply = await writer.set("/Settings/ForceChargingOff", 1)
            assert result == 2 and sim.writes == writes + 1
            assert before_reply.get("/Settings/ForceChargingOff", 0) == 0
            await h.wait_for_log("jk0: /Settings/ForceChargingOff = 1 not done: the charge switch still reads on")
            assert (await h.items(0))["/Io/AllowToCharge"] == 1
    finally:
        await h.stop()


async def test_the_gx_switches_one_pb_packs_charge_fet_on_a_shared_bus(private_bus, tmp_path):
    bus = JkPbBus(addresses=(1, 2, 3))
    h = DaemonHarness(private_bus, tmp_path, count=0, pb_bus=bus, extra_config=FAST + "control: true\n")
    await h.start()
    try:
        async with writer_for(h, 1) as writer:
            assert h.service(1).endswith("pb2")
            assert (await h.items(1))["/Settings/HasSettings"] == 1
            result, before_reply = await writer.set("/Settings/ForceChargingOff", 1)
            assert result == 0 and bus.slaves[2].settings.charge_switch is False
            assert before_reply["/Settings/ForceChargingOff"] == 1
            assert before_reply["/Io/AllowToCharge"] == 0 and before_reply["/Info/MaxChargeCurrent"] == 0
            for other in (0, 2):
                items = await h.items(other)
                assert items["/Io/AllowToCharge"] == 1 and items["/Settings/ForceChargingOff"] == 0
            result, _ = await writer.set("/Settings/ForceChargingOff", 0)
            assert result == 0 and bus.slaves[2].settings.charge_switch is True
    finally:
        await h.stop()
