"""A battery borrowing values: a JK NW on a pty with a NEEY balancer through the real bleak and the
fake BlueZ lending it its cells, built from a config by the registry. The merged reading, the judge
on it, the text of where each value came from, the fallback when the balancer goes quiet, the
balancer switch going to the balancer; and a BMS without cells of its own, which has no fallback."""

from __future__ import annotations

import asyncio
import logging
import math

import pytest

from dbus_bms.config import parse_config
from dbus_bms.devices.base import Device, DeviceError, RejectedReading
from dbus_bms.devices.borrowing import BorrowingDevice, Source
from dbus_bms.devices.neey import NeeyBleDevice
from dbus_bms.devices.registry import create_device
from dbus_bms.model import Sample
from dbus_bms.sim.faults import Fault
from dbus_bms.sim.jk_nw import JkNwSimulator
from dbus_bms.sim.neey import NeeyBalancer, NeeyPeripheral, ble_address
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.pty_server import PtyServer

MAC = ble_address(0)
STALE_AFTER = 1.0


@pytest.fixture
async def rig(bluez, tmp_path):
    """(JK simulator, balancer peripheral, the borrowing device of a config with both)."""
    jk = JkNwSimulator(SimPack(seed=1), serial="JKSIM1")
    server = PtyServer(jk, link=str(tmp_path / "ttyJK"), advance=False)
    server.start()
    balancer = NeeyPeripheral(NeeyBalancer(SimPack(seed=7)), address=MAC, stream_interval=0.05)
    bluez.add_peripheral(balancer)
    cfg = parse_config(f"""
batteries:
  - type: jk-nw
    port: {server.link}
    poll_interval: 0.2
    charge: {{stale_after: {STALE_AFTER}}}
    borrow:
      - type: neey-ble
        address: {MAC}
        timeout: 0.3
""").batteries[0]
    device = create_device(cfg)
    yield jk, balancer, device
    await device.close()
    server.stop()


async def test_the_cells_are_the_balancers_and_the_rest_the_bmss(rig):
    jk, balancer, device = rig
    assert isinstance(device, BorrowingDevice)
    sample = await device.poll()
    assert sample.cell_voltages == pytest.approx(balancer.balancer.pack.cell_voltages(), abs=0.002)
    assert sample.cell_voltages != pytest.approx(jk.pack.cell_voltages(), abs=0.0005)
    assert sample.voltage == jk.pack.sample().voltage and sample.soc == jk.pack.sample().soc
    assert sample.device.serial == "JKSIM1"
    assert sample.switches["balance"] is True  # the balancer's, read from its settings
    assert sample.sources == f"cells: neey-ble {MAC}; rest: jk-nw"
    assert device.connection.endswith("ttyJK")
    # One poll, counted once: the BMS's link counters are the battery's.
    assert (device.stats.polls, device.stats.good) == (1, 1) and device.stats is device.bms.stats


async def test_lent_cells_are_judged_against_the_bmss_pack_voltage(rig):
    _, balancer, device = rig
    balancer.balancer.pack.soc = [3.0] * 16  # a balancer on another, nearly empty pack
    with pytest.raises(RejectedReading, match="sum of cells"):
        for _ in range(5):  # until a frame of the emptied pack is the newest
            await device.poll()


async def test_a_quiet_balancer_is_held_within_the_bound_then_the_bms_stands_in(rig, caplog):
    jk, balancer, device = rig
    loop = asyncio.get_running_loop()
    await device.poll()
    last_lent = loop.time()
    balancer.balancer.fault = Fault.SILENT
    caplog.set_level(logging.INFO, logger="dbus_bms.devices.borrowing")
    end = loop.time() + 10 * STALE_AFTER
    while True:
        sample = await device.poll()
        if "silent" in sample.sources:
            break
        # Until the fallback, the balancer's last cells stand.
        assert sample.cell_voltages == pytest.approx(balancer.balancer.pack.cell_voltages(), abs=0.002)
        assert loop.time() < end
    assert loop.time() - last_lent > STALE_AFTER
    assert sample.cell_voltages == jk.pack.cell_voltages()
    assert sample.sources == f"cells: jk-nw (neey-ble {MAC} silent); rest: jk-nw"
    assert "balance" in sample.switches  # the JK's own balancer switch again
    await device.poll()
    warned = [r for r in caplog.records if "silent for over" in r.getMessage()]
    assert len(warned) == 1
    balancer.balancer.fault = Fault.NONE
    while "silent" in (sample := await device.poll()).sources:
        assert loop.time() < end
    assert sample.sources == f"cells: neey-ble {MAC}; rest: jk-nw"
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_a_balancer_whose_link_hangs_never_holds_the_bmss_readings_back(rig):
    # The balancer drops the link and every connect to it then hangs (a radio that never completes
    # it): its poll sits in the background for the whole of its own deadline, while every poll of
    # the battery returns with the BMS's reading, then with its own cells once the bound passed.
    jk, balancer, device = rig
    loop = asyncio.get_running_loop()
    await device.poll()
    balancer.connect_hangs = True
    balancer.drop_connection()
    end = loop.time() + 10 * STALE_AFTER
    while "silent" not in (sample := await device.poll()).sources:
        assert loop.time() < end
    source = device.sources[0]
    assert source.task is not None and not source.task.done()  # the hung poll, still under way
    assert sample.cell_voltages == jk.pack.cell_voltages()
    polls = device.stats.good
    for _ in range(3):
        assert (await device.poll()).cell_voltages == jk.pack.cell_voltages()
    assert device.stats.good == polls + 3
    balancer.connect_hangs = False


async def test_a_nan_cell_of_the_balancer_never_reaches_the_battery(rig):
    # The balancer's own poll is judged like any device's: its reading with a NaN cell is refused
    # there, counted in its counters, and the battery goes on with the balancer's last good cells,
    # then with its BMS's own once the bound has passed.
    jk, balancer, device = rig
    loop = asyncio.get_running_loop()
    await device.poll()
    honest = balancer.balancer.pack.cell_voltages
    balancer.balancer.pack.cell_voltages = lambda: [float("nan"), *honest()[1:]]
    end = loop.time() + 10 * STALE_AFTER
    while "silent" not in (sample := await device.poll()).sources:
        assert all(math.isfinite(v) for v in sample.cell_voltages)
        assert loop.time() < end
    assert sample.cell_voltages == jk.pack.cell_voltages()
    source = device.sources[0]
    assert source.device.stats.bad_frames >= 1 and isinstance(source.error, RejectedReading)
    assert "cell 1" in str(source.error)


async def test_the_balancer_switch_goes_to_the_balancer_and_the_fets_to_the_bms(rig):
    jk, balancer, device = rig
    await device.poll()
    assert device.can_switch("balance") and device.can_switch("charge")
    sample = await device.switch("balance", False)
    assert balancer.balancer.balancer_on is False and sample.switches["balance"] is False
    sample = await device.switch("balance", True)
    assert balancer.balancer.balancer_on is True and sample.switches["balance"] is True


class CellLessBms(Device):
    """A BMS whose protocol carries no cell voltages (pack voltage, current and SoC only); no family
    we read is one, so this stands for it."""

    type_name = "cell-less"
    vendor = "Cell-less BMS"

    def __init__(self, pack: SimPack) -> None:
        super().__init__()
        self.pack = pack

    @classmethod
    def from_config(cls, cfg):
        raise TypeError("built directly")

    @property
    def connection(self) -> str:
        return "nowhere"

    @property
    def fallback_id(self) -> str:
        return "cell_less"

    async def exchange(self) -> Sample:
        s = self.pack.sample()
        return Sample(voltage=s.voltage, current=s.current, soc=s.soc)

    async def close(self) -> None:
        pass


async def test_the_only_source_of_cells_has_no_fallback(bluez):
    balancer = NeeyPeripheral(NeeyBalancer(SimPack(seed=7)), address=MAC, stream_interval=0.05)
    bluez.add_peripheral(balancer)
    source = Source(NeeyBleDevice(MAC, timeout=0.3), f"neey-ble {MAC}", ("cells",))
    # A bound far beyond the test's time: the poll fails at once all the same.
    device = BorrowingDevice(CellLessBms(SimPack(seed=1)), "cell-less", [source], stale_after=600.0)
    try:
        sample = await device.poll()
        assert len(sample.cell_voltages) == 16 and sample.sources == f"cells: neey-ble {MAC}; rest: cell-less"
        balancer.balancer.fault = Fault.SILENT
        with pytest.raises(DeviceError, match="no new cell voltages: they come only from neey-ble"):
            await device.poll()
        assert device.stats.polls == 2 and device.stats.good == 1
    finally:
        await device.close()


def test_a_borrow_config_names_key_and_line_of_each_mistake():
    from dbus_bms.config import ConfigError

    text = f"""batteries:
  - type: jk-nw
    port: /dev/ttyUSB0
    borrow:
      - type: jk
        address: C8:47:8C:00:00:01
      - type: neey-ble
        lends: [soc]
      - type: neey-ble
        port: /dev/ttyUSB1
  - type: jk-nw
    port: /dev/ttyUSB2
    borrow:
      - type: neey-ble
        address: {MAC}
      - type: neey-ble
        address: {MAC}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    found = {(e.line, e.key): e.message for e in caught.value.errors}
    assert "no device a battery can borrow from; one of neey-ble" in found[(5, "batteries[0].borrow[0].type")]
    assert "what neey-ble lends: cells; not soc" in found[(8, "batteries[0].borrow[1].lends")]
    assert "not used by type 'neey-ble'" in found[(10, "batteries[0].borrow[2].port")]
    assert found[(9, "batteries[0].borrow[2].address")].startswith("missing")
    assert "already the address of the battery on line 14" in found[(17, "batteries[1].borrow[1].address")]
    assert "cells is already lent by the source on line 14" in found[(16, "batteries[1].borrow[1].lends")]
