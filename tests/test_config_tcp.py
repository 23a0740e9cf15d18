"""`port: tcp://host:port` for the serial types: an RS485-TCP gateway, checked like a serial port."""

from __future__ import annotations

import pytest

from dbus_bms.config import ConfigError, parse_config


def errors(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "test.yaml")
    return [(e.line, e.key, e.message) for e in exc.value.errors]


def test_a_gateway_port_is_accepted_and_named_for_the_alias():
    cfg = parse_config(
        "batteries:\n  - type: jk-nw\n    port: tcp://192.168.1.50:8887\n"
        "  - type: jk-nw\n    port: tcp://ew11.local:7776\n    baudrate: 9600\n"
    )
    first, second = cfg.batteries
    assert (first.port, first.alias) == ("tcp://192.168.1.50:8887", "bms_192_168_1_50_8887")
    assert (second.port, second.alias) == ("tcp://ew11.local:7776", "ew11_local_7776")


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("tcp://:8887", "'tcp://:8887': the host is empty: expected tcp://host:port, e.g. tcp://192.168.1.50:8887"),
        ("tcp://gw", "'tcp://gw': expected tcp://host:port, e.g. tcp://192.168.1.50:8887"),
        ("tcp://gw:0", "'tcp://gw:0': port 0 is out of range 1 to 65535"),
        ("tcp://gw:70000", "'tcp://gw:70000': port 70000 is out of range 1 to 65535"),
    ],
)
def test_a_malformed_gateway_port_names_the_key_and_the_line(port, message):
    text = f"poll_interval: 1\nbatteries:\n  - type: jk-nw\n    alias: a\n    port: {port}\n"
    assert errors(text) == [(5, "batteries[0].port", message)]


def test_one_battery_per_gateway_port():
    found = errors(
        "batteries:\n"
        "  - type: jk-nw\n    port: tcp://GW.local:8887\n"
        "  - type: jk-nw\n    port: tcp://gw.local:8887\n"
        "  - type: jk-nw\n    port: tcp://GW.local:8887\n    alias: third\n"
    )
    assert found == [
        (5, "batteries[1].port", "tcp://gw.local:8887 is the same gateway as tcp://GW.local:8887, the port of the battery on line 2: one battery per port"),
        (7, "batteries[2].port", "tcp://GW.local:8887 is already the port of the battery on line 2: one battery per port"),
    ]


def test_two_ports_of_one_gateway_are_two_batteries():
    cfg = parse_config("batteries:\n  - type: jk-nw\n    port: tcp://gw:8887\n  - type: jk-nw\n    port: tcp://gw:8888\n")
    assert [b.port for b in cfg.batteries] == ["tcp://gw:8887", "tcp://gw:8888"]


def test_a_missing_port_mentions_gateways():
    assert errors("batteries:\n  - type: jk-nw\n") == [
        (2, "batteries[0].port", "missing: the serial device, e.g. /dev/ttyUSB0, or a gateway's tcp://host:port")
    ]
