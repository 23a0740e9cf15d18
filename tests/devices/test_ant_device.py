"""The ANT device over the real serial transport against the pty simulator (both protocols, and
auto-detection between them), once over TCP."""

from __future__ import annotations

import pytest

from dbus_bms.config import parse_config
from dbus_bms.devices.ant import AntDevice
from dbus_bms.devices.base import DeviceError
from dbus_bms.devices.registry import DEVICE_TYPES, create_device
from dbus_bms.sim.ant import AntSimulator
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.pty_server import PtyServer
from dbus_bms.sim.tcp_server import TcpServer
from tests.serial_families import assert_reads_the_pack


@pytest.fixture
async def served(tmp_path):
    """A function (legacy, protocol) → (simulator, device on its pty); all closed afterwards."""
    opened = []

    def make(*, legacy: bool = False, protocol: str | None = None):
        sim = AntSimulator(SimPack(cells=16, seed=3), legacy=legacy)
        server = PtyServer(sim, link=str(tmp_path / f"ttyANT{len(opened)}"), advance=False)
        server.start()
        device = AntDevice(server.link, timeout=0.3, protocol=protocol)
        opened.append((server, device))
        return sim, device

    yield make
    for server, device in opened:
        await device.close()
        server.stop()


def test_ant_is_a_serial_type_at_19200_baud_with_two_protocols():
    kind = DEVICE_TYPES["ant"]
    assert (kind.link, kind.baudrate, kind.protocols) == ("serial", 19200, ("auto", "new", "legacy"))


@pytest.mark.parametrize("legacy", [False, True])
async def test_poll_reads_what_the_pack_holds(served, legacy):
    sim, device = served(legacy=legacy, protocol="legacy" if legacy else "new")
    sim.pack.current_override = -12.5
    sim.pack.advance(1.0)
    expected = sim.pack.sample()
    sample = await device.poll()
    assert_reads_the_pack(sample, expected, resolution=0.05)
    assert sample.capacity_remaining == pytest.approx(expected.capacity_remaining, abs=0.001)
    assert sample.temperatures == [round(t) for t in expected.temperatures]
    assert (sample.charge_enabled, sample.discharge_enabled) == (True, True)
    assert sample.alarms == {} and sample.conditions == ()
    assert device.stats.good == 1 and device.stats.bad_frames == 0 and device.stats.discarded_bytes == 0
    # The 2021+ protocol asks for the device info as well, once.
    assert sim.requests == (1 if legacy else 2)
    assert device.product_name(sample) == ("ANT BMS" if legacy else "ANT BMS 16ZM")
    await device.poll()
    assert sim.requests == (2 if legacy else 3)


@pytest.mark.parametrize("legacy", [False, True])
async def test_auto_finds_the_protocol_that_answers_and_keeps_it(served, legacy):
    sim, device = served(legacy=legacy)
    assert device.protocol is None and device.forced_protocol is None
    sample = await device.poll()
    assert device.protocol == ("legacy" if legacy else "new")
    assert sample.cell_voltages
    requests = sim.requests
    await device.poll()
    assert sim.requests == requests + 1  # no more asking in the other protocol
    assert device.stats.timeouts == 0


async def test_forced_protocol_does_not_fall_back(served):
    _, device = served(legacy=True, protocol="new")
    with pytest.raises(DeviceError, match="no reply"):
        await device.poll()
    assert device.protocol == "new" and device.stats.timeouts == 1


async def test_protection_codes_reach_the_sample(served):
    sim, device = served(protocol="new")
    sim.charge_code, sim.balancer_code = 6, 4
    sample = await device.poll()
    assert sample.charge_enabled is False and sample.discharge_enabled is True and sample.balancing is True
    assert sample.alarms == {"HighChargeTemperature": 2}
    assert sample.conditions == ("charge MOSFET: battery over-temperature", "balancer: automatic balancing")


async def test_no_control_is_offered(served):
    _, device = served()
    assert not any(device.can_switch(which) for which in ("charge", "discharge", "balance"))


async def test_over_tcp_through_a_gateway():
    sim = AntSimulator(SimPack(cells=8, seed=5), legacy=True)
    server = TcpServer(sim, fragment=True)
    address = server.start()
    cfg = parse_config(f"batteries:\n  - type: ant\n    port: {address}\n    timeout: 0.5\n").batteries[0]
    assert (cfg.baudrate, cfg.protocol) == (19200, None)
    device = create_device(cfg)
    try:
        sample = await device.poll()
        assert len(sample.cell_voltages) == 8 and device.protocol == "legacy"
    finally:
        await device.close()
        server.stop()
