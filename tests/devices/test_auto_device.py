"""``type: auto`` over the real serial transport: each family's simulator on a pty is found through
its own device and read; the family found is kept per port and read first at the next start; a port
with nothing on it stays silent and says what was tried."""

from __future__ import annotations

import json
import logging
import os

import pytest

from dbus_bms.config import parse_config
from dbus_bms.devices import shared_link
from dbus_bms.devices.auto import BUSES, NOT_PROBED, PROBE_ORDER, AutoDevice, cache_path
from dbus_bms.devices.base import ControlUnsupported, DeviceError
from dbus_bms.devices.registry import DEVICE_TYPES, create_device
from dbus_bms.sim.jbd import JbdSimulator
from dbus_bms.sim.pack import SimPack
from dbus_bms.sim.pty_server import PtyServer
from dbus_bms.sim.tcp_server import TcpServer
from tests.serial_families import FAMILIES

# Short, so that a probe of every family that is not there takes about a second on a pty.
TIMEOUT = 0.2


@pytest.fixture
async def served(tmp_path):
    """A function: simulator → its pty's path; the servers are stopped and the devices closed after."""
    servers: list[PtyServer] = []
    devices: list[AutoDevice] = []

    def serve(sim) -> str:
        server = PtyServer(sim, link=str(tmp_path / f"ttyAUTO{len(servers)}"), advance=False)
        servers.append(server)
        return server.start()

    serve.devices = devices
    yield serve
    for device in devices:
        await device.close()
    for server in servers:
        server.stop()


def _auto(served, port: str, **kwargs) -> AutoDevice:
    device = AutoDevice(port, timeout=TIMEOUT, **kwargs)
    served.devices.append(device)
    return device


def test_every_serial_type_of_one_bms_per_port_is_probed():
    # A bus type without a default address is packs each at an address of their own: not probed.
    alone = {name for name, kind in DEVICE_TYPES.items()
             if kind.link == "serial" and not kind.probes and (not kind.bus or kind.default_address is not None)}
    assert set(PROBE_ORDER) == alone
    for bus in ("jk-pb", "seplos-v3"):
        assert bus not in PROBE_ORDER and bus in BUSES and bus in NOT_PROBED


@pytest.mark.parametrize("family", list(FAMILIES))
async def test_auto_finds_each_family_and_reads_what_its_simulator_holds(served, family, caplog):
    sim, _ = FAMILIES[family]()
    device = _auto(served, served(sim))
    caplog.set_level(logging.INFO, logger="dbus_bms")
    expected = sim.pack.sample()
    sample = await device.poll()
    found = family.removesuffix("-legacy")
    assert device.type_name == found and device.found.type_name == found
    assert sample.cell_voltages == pytest.approx(expected.cell_voltages, abs=0.002)
    assert sample.voltage == pytest.approx(expected.voltage, abs=0.1)
    assert sample.soc == pytest.approx(expected.soc, abs=1)
    baud = DEVICE_TYPES[found].baudrate or 115200
    assert f"found the {found} family ({device.found.vendor}) at {baud} baud in" in caplog.text
    assert device.connection == f"Serial {device.port} (auto: {found})"
    assert device.fallback_id == f"{found}_{device.port}" and device.deadline == device.found.deadline
    # One poll counted for the whole probe; each family tried before counted its timeouts.
    assert device.stats.polls == 1 and device.stats.good == 1
    assert device.stats.timeouts >= PROBE_ORDER.index(found)
    again = await device.poll()
    assert again.cell_voltages == pytest.approx(expected.cell_voltages, abs=0.002)
    assert device.stats.good == 2


async def test_the_found_familys_device_does_everything_through_auto(served):
    sim = JbdSimulator(SimPack(cells=8, seed=3), name="JBD-SP08S-TEST")
    device = _auto(served, served(sim))
    assert not device.can_switch("charge")
    with pytest.raises(ControlUnsupported, match=r"unidentified BMS \(auto\) cannot switch its charge"):
        await device.switch("charge", False)
    sample = await device.poll()
    assert device.product_name(sample) == "JBD JBD-SP08S-TEST" and device.info.model == "JBD-SP08S-TEST"
    assert device.can_switch("charge")
    switched = await device.switch("charge", False)
    assert switched.switches == {"charge": False, "discharge": True} and sim.forbidden
    # The JBD device asked for the hardware name once, as it does on its own.
    requests = sim.requests
    await device.poll()
    assert sim.requests == requests + 2


async def test_the_family_found_is_kept_and_read_first_at_the_next_start(served, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="dbus_bms")
    port = served(FAMILIES["daly"]()[0])
    cache = cache_path(tmp_path / "state", port)
    first = _auto(served, port, cache=cache, silence=10.0)
    await first.poll()
    assert first.stats.timeouts >= 2  # jk-nw and seplos were tried first
    record = json.loads(cache.read_text())
    assert record["type"] == "daly" and record["port"] == port and record["baudrate"] == 9600
    await first.close()

    second = _auto(served, port, cache=cache, silence=10.0)
    assert second.type_name == "daly" and second.connection.endswith("(auto: daly, from the cache)")
    assert "reading it as daly, the family found there before" in caplog.text
    assert (await second.poll()).cell_voltages
    assert second.stats.timeouts == 0  # no other family was asked
    assert second.connection.endswith("(auto: daly)")


async def test_a_cached_family_that_stays_silent_is_probed_for_again(served, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="dbus_bms")
    port = served(JbdSimulator(SimPack(cells=8, seed=3)))
    cache = cache_path(tmp_path, port)
    cache.write_text(json.dumps({"type": "daly"}))
    device = _auto(served, port, cache=cache, silence=0.5)
    assert device.type_name == "daly"
    for _ in range(100):  # each failed poll takes the Daly's reply timeout: the bound only guards a hang
        try:
            sample = await device.poll()
            break
        except DeviceError:
            assert device.type_name == "daly"  # until its silence has lasted
    else:
        raise AssertionError("never probed again")
    assert device.type_name == "jbd" and sample.cell_voltages
    assert "the daly BMS has not answered for 0.5 s: probing the families again" in caplog.text
    assert json.loads(cache.read_text())["type"] == "jbd"


async def test_a_port_with_nothing_on_it_stays_silent_and_says_what_was_tried(served, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="dbus_bms")
    master, slave = os.openpty()
    try:
        cache = cache_path(tmp_path, os.ttyname(slave))
        device = AutoDevice(os.ttyname(slave), timeout=0.1, cache=cache, silence=10.0)
        served.devices.append(device)
        for _ in range(2):
            with pytest.raises(DeviceError, match="no BMS family answered: tried jk-nw, seplos, daly, jbd, ant"):
                await device.poll()
        assert device.connection == f"Serial {device.port} (auto: probing; tried jk-nw, seplos, daly, jbd, ant)"
        assert device.stats.polls == 2 and device.stats.quality == 0.0 and device.stats.timeouts >= 10
        assert device.type_name == "auto" and not device.can_switch("discharge")
        # Said once, with the baud rate of each family and why the bus types are not asked; the next
        # failed probe only at debug level.
        said = [r.getMessage() for r in caplog.records if "no BMS family answered in" in r.getMessage()]
        assert len(said) == 1 and NOT_PROBED in said[0]
        assert "jk-nw at 115200 baud" in said[0] and "daly at 9600 baud" in said[0] and "ant at 19200 baud" in said[0]
        assert not cache.exists()
        await device.close()
        # Every family's device it made has let go of the port, a bus type's shared link too.
        link = shared_link.acquire(device.port)
        assert link.users == 1
        await shared_link.release(link)
    finally:
        os.close(master)
        os.close(slave)


async def test_a_damaged_cache_is_said_and_the_port_probed(tmp_path, caplog):
    cache = tmp_path / "auto.json"
    cache.write_text('{"type": "victron"}')
    device = AutoDevice("/dev/ttyUSB9", cache=cache)
    await device.close()
    assert device.found is None and "'victron' is no family that auto reads: probing" in caplog.text
    cache.write_text("{not json")
    device = AutoDevice("/dev/ttyUSB9", cache=cache)
    await device.close()
    assert device.found is None and "cannot read the family found before" in caplog.text


async def test_the_config_takes_type_auto_with_each_familys_baud_rate_or_the_one_it_sets(served, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="dbus_bms")
    port = served(JbdSimulator(SimPack(cells=8, seed=3)))
    battery = f"batteries:\n  - type: auto\n    port: {port}\n    timeout: {TIMEOUT}\n"
    own = parse_config(battery).batteries[0]
    assert own.baudrate is None
    device = create_device(own, state_dir=tmp_path)
    served.devices.append(device)
    assert isinstance(device, AutoDevice) and device.cache == cache_path(tmp_path, port)
    assert device.silence == own.charge.stale_after
    await device.poll()
    assert "found the jbd family (JBD) at 9600 baud" in caplog.text and device.found.transport.baudrate == 9600
    await device.close()

    fixed = parse_config(battery + "    baudrate: 4800\n").batteries[0]
    device = create_device(fixed)
    served.devices.append(device)
    await device.poll()
    assert "found the jbd family (JBD) at 4800 baud" in caplog.text and device.found.transport.baudrate == 4800


async def test_auto_finds_a_family_behind_a_gateway(tmp_path):
    server = TcpServer(FAMILIES["seplos"]()[0])
    address = server.start()
    device = AutoDevice(address, timeout=TIMEOUT)
    try:
        assert (await device.poll()).cell_voltages
        assert device.type_name == "seplos" and device.connection.startswith("TCP 127.0.0.1:")
    finally:
        await device.close()
        server.stop()
