"""The YAML config: defaults, and every error named with its line and key."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from dbus_bms.cli import main
from dbus_bms.config import MAX_BYTES, ConfigError, load_config, parse_config

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
        "  - type: jk-nx\n    port: /dev/ttyUSB0\n"
        "  - type: jk-nw\n    baudrate: 12\n"
        "  - type: jk-nw\n    port: /dev/ttyUSB0\n"
    )
    assert (1, "poll_interval", "expected a number, got 'fast'") in found
    assert (3, "charge.cell_min_voltage", "3.6 must be below cell_max_voltage 3.5") in found
    assert (6, "batteries[0].type", "unknown type 'jk-nx'; did you mean 'jk-nw'?") in found
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
    assert str(exc.value) == f"{path}:4: batteries[0].timeout: -1 is out of range 0.05 to 60 s"


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


SERIAL = "batteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n"


def test_settings_wait_and_stop_hold_have_defaults_and_ranges():
    cfg = parse_config(SERIAL)
    assert (cfg.settings_wait, cfg.stop_hold) == (10.0, 3.0)
    cfg = parse_config("settings_wait: 0\nstop_hold: 30\n" + SERIAL)
    assert (cfg.settings_wait, cfg.stop_hold) == (0.0, 30.0)
    assert errors("settings_wait: 601\nstop_hold: -1\n" + SERIAL) == [
        (1, "settings_wait", "601 is out of range 0 to 600 s"),
        (2, "stop_hold", "-1 is out of range 0 to 30 s"),
    ]


def test_properties_changed_is_off_by_default_and_a_boolean():
    assert parse_config(SERIAL).properties_changed is False
    assert parse_config("properties_changed: true\n" + SERIAL).properties_changed is True
    assert errors("properties_changed: 1\n" + SERIAL) == [(1, "properties_changed", "expected true or false, got '1'")]


def test_numbers_must_be_finite():
    assert errors(
        "poll_interval: .nan\n"
        "charge:\n  max_charge_current: .inf\n  ccl_soc: [[0, 0], [-.inf, 1]]\n"
        "batteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n    device_instance: -.inf\n    timeout: nan\n"
    ) == [
        (1, "poll_interval", "must be a finite number, got '.nan'"),
        (3, "charge.max_charge_current", "must be a finite number, got '.inf'"),
        (4, "charge.ccl_soc[1]", "must be a finite number, got '-.inf'"),
        (8, "batteries[0].device_instance", "must be a finite number, got '-.inf'"),
        (9, "batteries[0].timeout", "must be a finite number, got 'nan'"),
    ]


def test_exponents_are_numbers_and_booleans_and_quoted_text_are_not():
    # YAML 1.1 reads 1e9 and 5e-3 (no dot, no exponent sign) as strings.
    cfg = parse_config(
        "poll_interval: 5e-1\ncharge:\n  absorption_cell_diff: 5e-3\n"
        "batteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n    baudrate: 1.152e5\n    device_instance: 3.0\n"
    )
    (b,) = cfg.batteries
    assert (cfg.poll_interval, b.charge.absorption_cell_diff, b.baudrate, b.device_instance) == (0.5, 0.005, 115200, 3)
    assert isinstance(b.baudrate, int) and isinstance(b.device_instance, int)
    assert errors(
        "poll_interval: 1e9\n"
        "charge:\n  max_charge_current: true\n  stale_after: '20'\n  absorption_time: !!python/name:os.system\n"
        "batteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n    baudrate: 9600.5\n    device_instance: 1e400\n"
    ) == [
        (1, "poll_interval", "1e9 is out of range 0.1 to 3600 s"),
        (3, "charge.max_charge_current", "expected a number, got 'true'"),
        (4, "charge.stale_after", "expected a number, got '20'"),
        (5, "charge.absorption_time", "expected a number, got '' tagged !!python/name:os.system"),
        (9, "batteries[0].baudrate", "expected a whole number, got '9600.5'"),
        (10, "batteries[0].device_instance", "must be a finite number, got '1e400'"),
    ]


def test_a_pin_is_kept_as_written():
    cfg = parse_config("batteries:\n  - type: jk\n    address: JK_B2A8S20P\n    pin: 0123\n")
    assert cfg.batteries[0].pin == "0123"  # not YAML 1.1's octal 83


def test_three_polls_must_fit_in_stale_after_reported_where_the_poll_interval_is_set():
    why = "at least three polls must fit in stale_after, so that one lost reply does not trip the fail-safe"
    # On the battery's own poll_interval...
    assert errors("poll_interval: 2\n" + SERIAL + "    poll_interval: 4\n") == [
        (5, "batteries[0].poll_interval",
         f"poll_interval 4 s and stale_after 10 s: {why} (poll_interval at most 3.33333 s, or stale_after at least 12 s)"),
    ]
    # ...else on the top-level one, naming each battery it leaves without room...
    assert errors(
        "poll_interval: 5\nbatteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n"
        "  - type: jk-nw\n    port: /dev/ttyUSB1\n    charge:\n      stale_after: 20\n"
    ) == [
        (1, "poll_interval", f"poll_interval 5 s and stale_after 10 s: {why} (poll_interval at most 3.33333 s, "
                             "or stale_after at least 15 s) (for batteries[0])"),
    ]
    # ...else on stale_after.
    assert errors("charge:\n  stale_after: 2\n" + SERIAL) == [
        (2, "charge.stale_after", f"poll_interval 1 s and stale_after 2 s: {why} (poll_interval at most 0.666667 s, "
                                  "or stale_after at least 3 s) (for batteries[0])"),
    ]
    cfg = parse_config("poll_interval: 2\ncharge:\n  stale_after: 6\n" + SERIAL)
    assert (cfg.batteries[0].poll_interval, cfg.batteries[0].charge.stale_after) == (2.0, 6.0)


def test_a_reply_timeout_longer_than_stale_after_is_allowed():
    # The watchdog ages a reading from its arrival: a long reply wait never holds a limit up.
    cfg = parse_config("batteries:\n  - type: jk\n    address: JK_B2A8S20P\n"
                       "    poll_interval: 0.2\n    charge:\n      stale_after: 2\n")
    assert (cfg.batteries[0].timeout, cfg.batteries[0].charge.stale_after) == (5.0, 2.0)


def test_a_wrong_value_is_not_also_checked_against_the_bound():
    assert [key for _, key, _ in errors("poll_interval: .nan\ncharge:\n  stale_after: 2\n" + SERIAL + "    timeout: x\n")] == [
        "poll_interval", "batteries[0].timeout",
    ]


def test_a_port_is_not_blank_and_serves_one_battery(tmp_path):
    assert errors("batteries:\n  - type: jk-nw\n    port: ''\n  - type: jk-nw\n    port: '  '\n") == [
        (3, "batteries[0].port", "is empty: give the serial device, e.g. /dev/ttyUSB0"),
        (5, "batteries[1].port", "is empty: give the serial device, e.g. /dev/ttyUSB0"),
    ]
    assert errors(SERIAL + "  - type: jk-nw\n    alias: other\n    port: /dev/ttyUSB0\n") == [
        (6, "batteries[1].port", "/dev/ttyUSB0 is already the port of the battery on line 2: one battery per port"),
    ]
    device = tmp_path / "ttyUSB0"
    device.touch()
    (tmp_path / "by-id").symlink_to(device)
    assert errors(f"batteries:\n  - type: jk-nw\n    port: {device}\n  - type: jk-nw\n    port: {tmp_path / 'by-id'}\n") == [
        (5, "batteries[1].port", f"{tmp_path / 'by-id'} is the same device as {device}, the port of the battery on "
                                 "line 2: one battery per port"),
    ]


def test_a_ble_address_serves_one_battery_whatever_its_spelling():
    assert errors(
        "batteries:\n  - type: jk\n    address: C8:47:8C:12:34:56\n"
        "  - type: jk\n    address: c8-47-8c-12-34-56\n    alias: b\n"
        "  - type: jk\n    address: JK_B2A8S20P\n  - type: jk\n    address: JK_B2A8S20P\n    alias: d\n"
    ) == [
        (5, "batteries[1].address", "C8:47:8C:12:34:56 is already the address of the battery on line 2: one battery per BMS"),
        (10, "batteries[3].address", "JK_B2A8S20P is already the address of the battery on line 7: one battery per BMS"),
    ]
    cfg = parse_config("batteries:\n  - type: jk\n    address: c8-47-8c-12-34-56\n")
    assert (cfg.batteries[0].address, cfg.batteries[0].alias) == ("C8:47:8C:12:34:56", "C8478C123456")


def test_a_mistyped_mac_is_refused_and_names_still_work():
    valid = "a MAC is six pairs of hex digits, e.g. C8:47:8C:12:34:56"
    found = errors(
        "batteries:\n"
        + "".join(f"  - type: jk\n    alias: b{i}\n    address: '{a}'\n" for i, a in enumerate((
            "C8:47:8C:12:34", "C8:47:8C:12:34:56:78", "C8:47:8C:12:34:5G", "C8:47:8C:12:34:5", "C8-47-8C-12-34", "")))
    )
    assert found == [
        (4, "batteries[0].address", f"'C8:47:8C:12:34' looks like a MAC, but it has 5 parts, not 6: {valid}"),
        (7, "batteries[1].address", f"'C8:47:8C:12:34:56:78' looks like a MAC, but it has 7 parts, not 6: {valid}"),
        (10, "batteries[2].address", f"'C8:47:8C:12:34:5G' looks like a MAC, but '5G' is not two hex digits: {valid}"),
        (13, "batteries[3].address", f"'C8:47:8C:12:34:5' looks like a MAC, but '5' is not two hex digits: {valid}"),
        (16, "batteries[4].address", f"'C8-47-8C-12-34' looks like a MAC, but it has 5 parts, not 6: {valid}"),
        (19, "batteries[5].address", "is empty: give the BMS's MAC (C8:47:8C:12:34:56) or advertised name"),
    ]
    cfg = parse_config("batteries:\n" + "".join(
        f"  - type: jk\n    address: {name}\n" for name in ("JK_B2A8S20P", "JK-B2A24S15P", "JK-BD6A20S-10P", "BMS-01-A")))
    assert [b.address for b in cfg.batteries] == ["JK_B2A8S20P", "JK-B2A24S15P", "JK-BD6A20S-10P", "BMS-01-A"]


def test_strings_take_no_control_characters():
    assert errors('batteries:\n  - type: jk-nw\n    port: "/dev/tty\\tUSB0"\n    alias: "house\\x01"\n') == [
        (3, "batteries[0].port", "contains the control character U+0009"),
        (4, "batteries[0].alias", "contains the control character U+0001"),
    ]
    assert errors("batteries:\n  - type: jk-nw\n    port: /dev/tty\x01USB0\n") == [
        (3, "(encoding)", "the character U+0001 is not allowed in YAML"),
    ]


def test_a_file_that_is_not_utf8_names_the_byte_and_its_line(tmp_path, capsys):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("batteries:\n  - type: jk-nw\n    port: /dev/ttyUSB0\n    alias: café\n".encode("latin-1"))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value) == f"{path}:4: (encoding): not UTF-8 text at byte 64"
    for command in (["check-config", str(path)], ["run", "--config", str(path)]):
        assert main(command) == 1
        assert capsys.readouterr().err == f"{path}:4: (encoding): not UTF-8 text at byte 64\n"


def test_a_file_that_cannot_be_read_or_is_too_big_is_a_clear_error(tmp_path, capsys):
    assert main(["check-config", str(tmp_path / "missing.yaml")]) == 1
    assert capsys.readouterr().err == f"dbus-bms check-config: cannot read {tmp_path / 'missing.yaml'}: No such file or directory\n"
    assert main(["check-config", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"dbus-bms check-config: cannot read {tmp_path}: Is a directory\n"
    big = tmp_path / "big.yaml"
    big.write_text(SERIAL + "#" * MAX_BYTES)
    with pytest.raises(ConfigError) as exc:
        load_config(big)
    assert str(exc.value) == f"{big}:1: (size): larger than 64 KiB: not a dbus-bms config"


def bounded(text: str) -> list[tuple[int, str, str]]:
    """The errors for ``text``, refused within a few MB of memory."""
    tracemalloc.start()
    try:
        found = errors(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000
    return found


# Nine levels of ten aliases: a billion strings once expanded.
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{name}: &{name} [{', '.join(['*' + below] * 10)}]\n" for below, name in zip("abcdefgh", "bcdefghi")
)


def test_a_billion_laughs_is_refused_without_expanding():
    found = bounded(LAUGHS + "batteries: *i\n")
    # Each entry of the list is the list *h: no battery, and never expanded.
    assert sorted(key for _, key, _ in found) == sorted([f"batteries[{i}]" for i in range(10)] + list("abcdefghi"))
    assert {message for _, key, message in found if key.startswith("batteries")} == {"expected a mapping of key: value"}
    # LAUGHS has 80 aliases: 20 more are allowed, the 101st is not.
    assert len(bounded(LAUGHS + f"j: [{', '.join(['*i'] * 20)}]\n" + SERIAL)) == 10
    assert bounded(LAUGHS + f"j: [{', '.join(['*i'] * 21)}]\n" + SERIAL) == [
        (10, "(syntax)", "more than 100 aliases (*name) in one file"),
    ]


def test_only_plain_names_are_keys_so_an_alias_bomb_is_no_key():
    assert bounded(LAUGHS + "? *i\n: 1\n" + SERIAL) == [(10, "(syntax)", "keys must be plain names, not a list or mapping")]
    assert errors(SERIAL + "    charge:\n      ? [a, b]\n      : 1\n") == [
        (5, "(syntax)", "keys must be plain names, not a list or mapping"),
    ]
    cfg = parse_config("charge:\n  &k stale_after: 20\n" + SERIAL + "    charge:\n      *k : 30\n")
    assert cfg.batteries[0].charge.stale_after == 30  # an alias of a name is a name


@pytest.mark.parametrize("opening", ["[", "{a: ", "- ", "a:\n  "])
def test_nesting_is_bounded(opening):
    deep = opening * 50_000 if opening != "a:\n  " else "".join(f"{'  ' * i}a:\n" for i in range(1_000))
    assert bounded(deep) == [(33 if "\n" in opening else 1, "(syntax)", "nested deeper than 32 levels")]
    # 32 levels are YAML this parser takes: the error is about the meaning.
    assert errors("x: " + "[" * 31 + "]" * 31 + "\n" + SERIAL) == [(1, "x", "unknown key; known: batteries, charge, "
                                                                   "control, groups, history_interval, log_level, poll_interval, properties_changed, settings_wait, "
                                                                   "state_dir, stop_hold")]


# --- JK PB packs sharing one RS485 bus (`type: jk-pb`) -------------------------------------------

PB = "batteries:\n" + "".join(f"  - type: jk-pb\n    port: /dev/ttyUSB0\n    address: {a}\n" for a in (1, 2, 3))


def test_pb_packs_share_a_port_one_battery_per_address():
    cfg = parse_config(PB)
    assert [(b.alias, b.address, b.listen, b.timeout) for b in cfg.batteries] == [
        ("ttyUSB0_1", "1", False, 0.3), ("ttyUSB0_2", "2", False, 0.3), ("ttyUSB0_3", "3", False, 0.3)
    ]


def test_listening_pb_packs_take_the_master_at_0_and_wait_a_cycle():
    cfg = parse_config(
        "batteries:\n  - type: jk-pb\n    port: tcp://10.0.0.5:8887\n    address: 0\n    listen: true\n"
        "  - type: jk-pb\n    port: tcp://10.0.0.5:8887\n    address: 1\n    listen: true\n    timeout: 7.5\n"
    )
    assert [(b.address, b.listen, b.timeout) for b in cfg.batteries] == [("0", True, 8.0), ("1", True, 7.5)]


def test_pb_addresses_are_checked(tmp_path):
    (tmp_path / "ttyUSB0").touch()
    (tmp_path / "by-id").symlink_to(tmp_path / "ttyUSB0")
    found = errors(
        "batteries:\n"
        f"  - type: jk-pb\n    port: {tmp_path / 'ttyUSB0'}\n    address: 1\n"
        "  - type: jk-pb\n    port: /dev/ttyUSB1\n"
        "  - type: jk-pb\n    port: /dev/ttyUSB1\n    address: 0\n"
        "  - type: jk-pb\n    port: /dev/ttyUSB1\n    address: 16\n"
        f"  - type: jk-pb\n    port: {tmp_path / 'by-id'}\n    address: 1\n"
        "  - type: jk-pb\n    port: /dev/ttyUSB1\n    address: C8:47:8C:12:34:56\n"
    )
    assert (5, "batteries[1].address", "missing: the pack's RS485 address, as its DIP switches set it (1-15)") in found
    assert (9, "batteries[2].address", "0 is the bus master's address: dbus-bms polls the packs at 1-15 itself; "
            "with a pack at 0 as the master, set listen: true") in found
    assert (12, "batteries[3].address", "16 is not a pack's address: 1-15 as its DIP switches set it (0: the master, "
            "with listen: true)") in found
    assert (15, "batteries[4].address", "1 is already the address of the battery on line 2 on this port: one battery per pack") in found
    assert (18, "batteries[5].address", "expected a number, got 'C8:47:8C:12:34:56'") in found
    assert len(found) == 5


def test_the_packs_on_one_port_agree_and_have_it_to_themselves():
    found = errors(
        PB + "  - type: jk-pb\n    port: /dev/ttyUSB0\n    address: 4\n    listen: true\n"
        "  - type: jk-pb\n    port: /dev/ttyUSB0\n    address: 5\n    baudrate: 9600\n"
        "  - type: jk-nw\n    port: /dev/ttyUSB0\n"
        "  - type: jk-nw\n    port: /dev/ttyUSB1\n    listen: true\n"
        "  - type: jk-pb\n    port: /dev/ttyUSB1\n    address: 1\n"
    )
    assert (14, "batteries[3].listen", "listens, but the battery on line 2 on the same port polls: all packs on one "
            "bus listen to a master pack, or none") in found
    assert (18, "batteries[4].baudrate", "9600, but the battery on line 2 on the same port has 115200: one bus, one baud rate") in found
    assert (20, "batteries[5].port", "/dev/ttyUSB0 is the port of the RS485 bus on line 2: one battery per port") in found
    assert (23, "batteries[6].listen", "not used by type 'jk-nw': only packs on a shared RS485 bus listen") in found
    assert (25, "batteries[7].port", "/dev/ttyUSB1 is the port of the battery on line 21, which takes its port alone") in found
    assert len(found) == 5


def test_listening_needs_a_timeout_and_a_stale_after_longer_than_a_master_cycle():
    found = errors(
        "charge:\n  stale_after: 6\n"
        "batteries:\n  - type: jk-pb\n    port: /dev/ttyUSB0\n    address: 0\n    listen: true\n    timeout: 2\n"
    )
    assert found == [
        (2, "charge.stale_after", "stale_after 6 s with listen: true: a master pack sends each pack's reading once a "
         "cycle, up to 7 s; stale_after must be longer than that (for batteries[0])"),
        (8, "batteries[0].timeout", "2 s with listen: true: a master pack sends each pack's reading once a cycle, up "
         "to 7 s, and a poll waits for the next one; give at least 7 s or leave the default"),
    ]


def test_check_config_names_each_pack_by_its_address(tmp_path, capsys):
    path = tmp_path / "pb.yaml"
    path.write_text(PB)
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ttyUSB0_2: jk-pb on /dev/ttyUSB0 address 2" in out
