"""The YAML config: defaults, and every error named with its line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbus_bms.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dbus-bms.yaml"


def errors(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "test.yaml")
    return [(e.line, e.key, e.message) for e in exc.value.errors]


def test_minimal_config_gets_the_defaults():
    cfg = parse_config("batteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n")
    (b,) = cfg.batteries
    assert (b.type, b.port, b.alias, b.baudrate, b.poll_interval, b.timeout, b.device_instance) == (
        "jk-nw", "/dev/ttyUSB0", "ttyUSB0", 115200, 1.0, 0.5, 512
    )
    assert b.charge.cell_max_voltage == 3.45 and cfg.log_level == "info"


def test_global_charge_settings_merge_under_per_battery_ones():
    cfg = parse_config(
        "poll_interval: 2\ncharge:\n  max_charge_current: 50\n  cell_max_voltage: 3.5\n"
        "batteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n    charge:\n      max_charge_current: 80\n"
        "  - type: jk-nw\n    port: /dev/ttyUSB1\n    poll_interval: 0.5\n"
    )
    a, b = cfg.batteries
    assert (a.charge.max_charge_current, a.charge.cell_max_voltage, a.poll_interval) == (80, 3.5, 2.0)
    assert (b.charge.max_charge_current, b.poll_interval, b.device_instance) == (50, 0.5, 513)


def test_device_instance_zero_is_kept():
    cfg = parse_config("batteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n    device_instance: 0\n")
    assert cfg.batteries[0].device_instance == 0


def test_tables_are_lists_of_pairs():
    cfg = parse_config(
        "batteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n    charge:\n"
        "      ccl_cell_voltage: [[3.35, 1.0], [3.45, 0.1]]\n"
    )
    assert cfg.batteries[0].charge.ccl_cell_voltage == ((3.35, 1.0), (3.45, 0.1))


def test_unknown_keys_suggest_the_right_one_with_their_line():
    assert errors("batteries:\n  - type: jk-nw\n    port: /dev/x\n    pol_interval: 2\n") == [
        (4, "batteries[0].pol_interval", "unknown key; did you mean 'poll_interval'?")
    ]


def test_every_error_is_reported_at_once():
    found = errors(
        "poll_interval: fast\n"
        "charge:\n  cell_min_voltage: 3.6\n  cell_max_voltage: 3.5\n"
        "batteries:\n"
        "  - type: jk-bw\n    port: /dev/ttyUSB0\n"
        "  - type: jk-nw\n    baudrate: 12\n"
        "  - type: jk-nw\n    port: /dev/ttyUSB0\n"
    )
    assert (1, "poll_interval", "expected a number, got 'fast'") in found
    assert (3, "charge.cell_min_voltage", "3.6 must be below cell_max_voltage 3.5") in found
    assert (6, "batteries[0].type", "unknown type 'jk-bw'; did you mean 'jk-nw'?") in found
    assert any(line == 8 and key == "batteries[1].port" for line, key, _ in found)
    assert any(line == 9 and key == "batteries[1].baudrate" and "out of range" in msg for line, key, msg in found)
    assert any(line == 10 and key == "batteries[2].alias" and "already used" in msg for line, key, msg in found)


def test_syntax_errors_name_their_line():
    ((line, key, _),) = errors("batteries:\n  - type: jk-nw\n    port: [unclosed\n")
    assert key == "(syntax)" and line >= 3


def test_empty_file_and_missing_batteries():
    assert errors("")[0][1] == "batteries"
    assert errors("poll_interval: 1\n")[0][1] == "batteries"


def test_error_text_is_file_line_key_message(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("batteries:\n  - type: jk-nw\n    port: /dev/x\n    timeout: -1\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value) == f"{path}:4: batteries[0].timeout: -1 is out of range 0.05 to 60"


def test_the_shipped_example_is_valid():
    cfg = load_config(EXAMPLE)
    assert cfg.batteries[0].port == "/dev/ttyUSB0"


def test_a_ble_battery_by_mac_gets_its_defaults():
    cfg = parse_config("batteries:\n  - type: jk\n    address: c8:47:8c:12:34:56\n")
    (b,) = cfg.batteries
    assert (b.address, b.port, b.alias, b.adapter, b.pin, b.ble_mode, b.protocol, b.timeout) == (
        "C8:47:8C:12:34:56", None, "C8478C123456", None, None, "keep-alive", None, 5.0
    )


def test_a_ble_battery_by_name_with_every_option():
    cfg = parse_config(
        "batteries:\n  - type: jk\n    address: JK_B2A8S20P\n    adapter: hci1\n    pin: '123456'\n"
        "    ble_mode: per-poll\n    protocol: jk02_24s\n"
    )
    (b,) = cfg.batteries
    assert (b.address, b.alias, b.adapter, b.pin, b.ble_mode, b.protocol) == (
        "JK_B2A8S20P", "JK_B2A8S20P", "hci1", "123456", "per-poll", "jk02_24s"
    )


def test_ble_and_serial_keys_are_checked_against_the_type():
    assert errors(
        "batteries:\n"
        "  - type: jk\n    port: /dev/ttyUSB0\n"
        "  - type: jk-nw\n    port: /dev/ttyUSB1\n    address: C8:47:8C:12:34:56\n    protocol: jk04\n"
        "  - type: jk\n    address: C8:47:8C:12:34:57\n    adapter: usb0\n    pin: abc\n    ble_mode: always\n"
        "    protocol: jk05\n"
    ) == [
        (2, "batteries[0].address", "missing: the BMS's MAC (C8:47:8C:12:34:56) or advertised name; `dbus-bms scan` lists them"),
        (3, "batteries[0].port", "not used by type 'jk', which is read over Bluetooth LE"),
        (6, "batteries[1].address", "not used by type 'jk-nw', which is read over a serial port"),
        (7, "batteries[1].protocol", "type 'jk-nw' has no protocol 'jk04'; choices: none: it speaks one protocol"),
        (10, "batteries[2].adapter", "expected an adapter name like hci0, got 'usb0'"),
        (11, "batteries[2].pin", "expected up to 6 digits"),
        (12, "batteries[2].ble_mode", "expected one of keep-alive, per-poll"),
        (13, "batteries[2].protocol", "type 'jk' has no protocol 'jk05'; choices: auto, jk02_24s, jk02_32s, jk04"),
    ]


def test_charge_settings_are_checked_against_their_ranges_and_each_other():
    found = errors(
        "charge:\n"
        "  float_transition_rate: 0\n"
        "  ovp_recovery_gain: 5\n"
        "  cell_float_voltage: 3.5\n"
        "  top_balance_days: 30\n"
        "  top_balance_cell_voltage: 3.40\n"
        "batteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n"
    )
    keys = {(line, key) for line, key, _ in found}
    assert (2, "charge.float_transition_rate") in keys and (3, "charge.ovp_recovery_gain") in keys
    assert (4, "charge.cell_float_voltage", "3.5 must lie between cell_min_voltage and cell_max_voltage") in found
    assert (6, "charge.top_balance_cell_voltage", "3.4 is below cell_max_voltage 3.45") in found
    range_message = next(msg for _, key, msg in found if key == "charge.ovp_recovery_gain")
    assert "out of range" in range_message and "1/s" in range_message


def test_an_alias_made_from_a_mac_is_a_valid_bus_name_and_a_given_one_is_checked():
    cfg = parse_config("batteries:\n  - type: jk\n    address: 12:34:56:78:9a:bc\n")
    assert cfg.batteries[0].alias == "bms_123456789ABC"
    found = errors("batteries:\n  - type: jk\n    address: 12:34:56:78:9a:bc\n    alias: 2nd_bank\n")
    assert found == [(4, "batteries[0].alias", "use letters, digits and underscores, not starting with a digit")]
