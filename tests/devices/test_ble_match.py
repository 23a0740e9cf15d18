"""Guessing the device type of an advertisement for ``dbus-bms scan``."""

from __future__ import annotations

from dbus_bms.devices.ble_match import guess_type

FFE0 = "0000ffe0-0000-1000-8000-00805f9b34fb"


def test_jk_by_manufacturer_id_whatever_its_name():
    # A JK balancer/BMS named after its serial, as recorded in the wild: only the id says JK.
    assert guess_type("50301130603", [FFE0, "0000fee7-0000-1000-8000-00805f9b34fb"], [0x0B65]) == "jk"


def test_jk_by_default_name_when_manufacturer_data_is_missing():
    assert guess_type("JK_B2A24S15P", [FFE0], []) == "jk"


def test_other_ffe0_devices_are_not_taken_for_a_jk():
    assert guess_type("HM-10", [FFE0], []) is None
    assert guess_type("JK_B2A24S15P", [], [0x0B65]) is None
    assert guess_type(None, [], []) is None
