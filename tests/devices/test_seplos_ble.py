"""A Seplos v2 through its BLE module's binary form, through the real bleak and the fake BlueZ: the
recorded replies of a real module, notified as it cut them, give the values their source states;
the simulated module is read, its name asked once, a refusal of it costs nothing."""

from __future__ import annotations

import pytest

from dbus_bms.config import BatteryConfig
from dbus_bms.devices.registry import DEVICE_TYPES, create_device
from dbus_bms.protocols import seplos
from dbus_bms.sim.ble_bridge import UartBridgePeripheral
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.seplos_ble import seplos_ble_module

from tests.conftest import load_fixture

UPDATE = next(f for f in load_fixture("seplos_v2.json")["frames"] if f["id"] == "aiobmsble-seplos_v2-update-keep-alive")


def device(address: str):
    return create_device(BatteryConfig(type="seplos-ble", port=None, alias="b", address=address, timeout=0.5))


async def polls(dev, n: int = 1):
    try:
        return [await dev.poll() for _ in range(n)]
    finally:
        await dev.close()


class RecordedModule:
    """Answers each request of the recorded update with its recorded reply; ``pack`` only moves time."""

    def __init__(self) -> None:
        self.pack = SimPack()
        self.replies = {bytes.fromhex(step["request_hex"]): step for step in UPDATE["sequence"]}
        self.asked: list[bytes] = []

    def handle(self, data: bytes) -> bytes:
        self.asked.append(data)
        step = self.replies.get(data)
        return bytes.fromhex(step["response_hex"]) if step else b""


async def test_a_real_module_s_recorded_replies_give_the_values_their_source_states(bluez):
    # source: patman15/aiobmsble tests/bms/test_seplos_v2_bms.py; notified in 20-byte pieces, as recorded
    module = RecordedModule()
    peripheral = UartBridgePeripheral(module, address="5E:9A:05:00:00:42", name="BP02",
                                      service_uuid=seplos.BLE_SERVICE_UUID, notify_uuid=seplos.BLE_NOTIFY_UUID,
                                      write_uuid=seplos.BLE_WRITE_UUID)
    bluez.add_peripheral(peripheral)
    (sample,) = await polls(device(peripheral.address))
    e = UPDATE["expected"]
    assert [c.hex() for c in module.asked] == [UPDATE["sequence"][0]["request_hex"], UPDATE["request_hex"]]
    assert (sample.voltage, sample.current, sample.soc, sample.soh) == (e["voltage"], e["current"],
                                                                        e["battery_level"], e["battery_health"])
    assert (sample.capacity_remaining, sample.capacity_full, sample.cycles) == (e["cycle_charge"],
                                                                                e["design_capacity"], e["cycles"])
    assert sample.cell_voltages == e["cell_voltages"]
    # The source lists the four cell sensors, then the ambient, then the power stage (the MOSFETs).
    assert [*sample.temperatures, sample.mosfet_temperature] == [t for t, kind in zip(e["temp_values"],
                                                                                      e["temp_value_types"])
                                                                 if kind != "AMBIENT"]
    assert (sample.device.model, sample.device.sw_version) == ("B1101-SP76", "16.6")


async def test_the_simulated_module_is_read_and_its_name_asked_once(bluez):
    peripheral = seplos_ble_module(0, cells=8, seed=4)
    bluez.add_peripheral(peripheral)
    dev = device(peripheral.address)
    samples = await polls(dev, 2)
    pack = peripheral.bms.pack.sample()
    assert samples[-1].cell_voltages == pytest.approx(pack.cell_voltages, abs=0.001)
    assert samples[-1].soc == pytest.approx(pack.soc, abs=0.1)
    assert dev.info.model == peripheral.bms.device.model and dev.info.sw_version == "16.6"
    assert peripheral.bms.requests == {seplos.CMD_BINARY_NAME: 1, seplos.CMD_PACK_TELEMETRY: 2}
    assert dev.connection.startswith(f"BLE {peripheral.address}") and dev.stats.bad_frames == 0


async def test_a_pack_that_refuses_its_name_is_read_without_it(bluez):
    peripheral = seplos_ble_module(1)
    refuse = peripheral.bms.reply
    peripheral.bms.reply = lambda command: (seplos.build_binary_reply(command, b"", rtn=0x04)
                                            if command == seplos.CMD_BINARY_NAME else refuse(command))
    bluez.add_peripheral(peripheral)
    dev = device(peripheral.address)
    samples = await polls(dev, 2)
    assert samples[0].device.model is None and len(samples[1].cell_voltages) == 16
    assert peripheral.bms.requests[seplos.CMD_BINARY_NAME] == 1 and dev.stats.bad_frames == 0


def test_seplos_ble_is_a_ble_type():
    assert DEVICE_TYPES["seplos-ble"].link == "ble"
