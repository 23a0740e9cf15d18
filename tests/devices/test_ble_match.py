"""Guessing the device type of an advertisement for ``dbus-bms scan``: on advertisements recorded from
real modules (patman15/aiobmsble aiobmsble/test_data/*.json, from BMS_BLE-HA issue logs), and on the
simulators' own through the real bleak and the fake BlueZ."""

from __future__ import annotations

import json

import pytest

from dbus_bms.devices.ble_match import guess_type
from dbus_bms.sim.serve import BLE_PERIPHERALS, make_peripheral

from tests.test_ble_e2e import run_cli


def uuid(short: str) -> str:
    return f"0000{short}-0000-1000-8000-00805f9b34fb"


FFE0, FF00, FFF0, FEE7 = uuid("ffe0"), uuid("ff00"), uuid("fff0"), uuid("fee7")

# (name, service UUIDs, manufacturer data, the type) as the modules advertised them.
RECORDED = [
    # JK: its manufacturer id, whatever its name.
    ("50301130603", [FFE0, FEE7], {0x0B65: bytes.fromhex("c8478c000000")}, "jk"),
    # ANT 2021+ and legacy: 88 A0 and the MAC under varying ids; one with the MAC alone.
    ("ANT-BLE24C-001", [FFE0], {8979: bytes.fromhex("88a0aabbcc900001")}, "ant-ble"),
    ("ANT-BLE16S", [FFE0, FEE7], {1623: bytes.fromhex("88a0aabbcca12345")}, "ant-ble"),
    ("ANT-BLE22AACB-0489", [FFE0, FEE7], {10139: bytes.fromhex("88a022dd65000489")}, "ant-ble"),
    ("ANT@BLE24CBUB-1231\r", [FFE0], {5000: bytes.fromhex("649bf82ea66a22113322")}, "ant-ble"),
    # JBD: service FF00 under any name, the manufacturer data being the module's MAC.
    ("xiaoxiang BMS", [FF00], {11313: bytes.fromhex("2037c1a4")}, "jbd-ble"),
    ("SP17S005P17S120A", [FF00], {34114: bytes.fromhex("1c1fc2a5")}, "jbd-ble"),
    ("DP04S007L4S100A", [FF00], {6226: bytes.fromhex("2837c2a5")}, "jbd-ble"),
    ("JBD-SP16S020-L8S", [uuid("1800"), uuid("1801"), uuid("180a"), FF00], {13880: bytes.fromhex("13014e9a")},
     "jbd-ble"),
    (None, [FF00], {15984: bytes.fromhex("97d1c18c")}, "jbd-ble"),
    # Daly: service FFF0 and a DL- name, or one of its manufacturer ids with no service at all.
    ("DL-46640102XXXX", [FFF0], {25670: bytes.fromhex("010209ac")}, "daly-ble"),
    ("DL-401710015C9B", [], {770: bytes.fromhex("16401710015c9b444c")}, "daly-ble"),
    ("JHB-501812XXXXXX", [], {260: bytes.fromhex("0150181201a3b34a4842")}, "daly-ble"),
    ("DL-40160901534C", [], {258: bytes.fromhex("04")}, "daly-ble"),
    ("DL-FB4C2E0000000", [], {771: bytes.fromhex("00b4c2e0000000444c00")}, "daly-ble"),
    ("JHB-D2190701C66E", [], {1026: bytes.fromhex("27d2190701c66e4a4842")}, "daly-ble"),
    # Seplos v2: JBD's service, its own names.
    ("BP02", [FF00], {}, "seplos-ble"),
]

# (name, service UUIDs, manufacturer data, the type) as a family's protocol description gives them.
DESCRIBED = [
    # CBT Power: its write service FFE5, or service 03C1 with manufacturer id 0x5352.
    ("CBT-12V100", [uuid("ffe5")], {}, "cbtpwr-ble"),
    (None, [uuid("03c1")], {0x5352: b"\x01"}, "cbtpwr-ble"),
    # Creabest VB: service FFF0, VB and nine characters.
    ("VB240012345", [FFF0], {}, "cbtpwr-vb-ble"),
    # SOK (ABC-BMS): Daly's service FFF0 with names of its own.
    ("SOK-24V100", [FFF0], {}, "sok-ble"),
    ("ABC-12V206", [FFF0], {}, "sok-ble"),
    ("NB-0123", [FFF0], {}, "sok-ble"),
    # Supervolt: the older batteries' Nordic UART module named libatt; the newer ones' JBD module.
    ("libatt", ["6e400001-b5a3-f393-e0a9-e50e24dcca9e"], {}, "supervolt-ble"),
    ("SX100P-0042", [FF00], {}, "jbd-ble"),
    ("SX60-0042", [FF00], {}, "jbd-ble"),
]


@pytest.mark.parametrize("name, uuids, data, kind", RECORDED)
def test_recorded_advertisements_are_taken_for_their_family(name, uuids, data, kind):
    assert guess_type(name, uuids, data) == kind


@pytest.mark.parametrize("name, uuids, data, kind", DESCRIBED)
def test_described_advertisements_are_taken_for_their_family(name, uuids, data, kind):
    assert guess_type(name, uuids, data) == kind


def test_jk_by_default_name_when_manufacturer_data_is_missing():
    assert guess_type("JK_B2A24S15P", [FFE0], {}) == "jk"


def test_what_no_family_fixes_is_taken_for_none():
    assert guess_type("HM-10", [FFE0], {}) is None  # a plain FFE0 UART module
    assert guess_type("JK_B2A24S15P", [], {0x0B65: b""}) is None  # JK's id without JK's service
    assert guess_type("SP05B2312190075       ", [FFF0], {}) is None  # Seplos v3: no type of ours
    assert guess_type(None, [], {}) is None


async def test_scan_names_each_simulated_family(bluez):
    peripherals = {kind: make_peripheral(kind, index=0) for kind in BLE_PERIPHERALS}
    for peripheral in peripherals.values():
        bluez.add_peripheral(peripheral)
    # The bluez fixture pointed this process's environment, which the child inherits, at the fake.
    found = json.loads(await run_cli({}, "scan", "--json", "--seconds", "1"))
    assert {d["address"]: d["type"] for d in found} == {p.address: kind for kind, p in peripherals.items()}
    assert {"jk", "jbd-ble", "ant-ble"} <= set(peripherals)
