"""The udev rules that claim a config's serial ports from serial-starter: exactly its USB ports."""

from __future__ import annotations

import re
import subprocess
import sys

from dbus_bms.config import parse_config
from dbus_bms.port_claim import claims, rules

FTDI = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0"
QUAD = "/dev/serial/by-id/usb-FTDI_Quad_RS232-HS_FT4ABC12-if02-port0"
CH340 = "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0"

CONFIG = f"""
batteries:
  - {{type: jk-nw, port: {FTDI}, alias: house}}
  - {{type: jk-pb, port: {QUAD}, address: 1, alias: pb1}}
  - {{type: jk-pb, port: {QUAD}, address: 2, alias: pb2}}
  - {{type: jbd, port: /dev/ttyUSB3, alias: van}}
  - {{type: daly, port: /dev/ttyUSB7, alias: boat}}
  - {{type: jk-nw, port: "tcp://192.168.1.50:8887", alias: garage}}
  - {{type: jk, address: "C8:47:8C:12:34:56", alias: shed}}
  - {{type: seplos, port: {CH340}, alias: cabin}}
"""

# What udev answers for the two /dev/ttyUSB ports: one is a USB adapter, the other is not there.
UDEV = {"/dev/ttyUSB3": {"ID_BUS": "usb", "ID_SERIAL": "Prolific_Technology_Inc._USB-Serial_Controller_D", "ID_USB_INTERFACE_NUM": "00"}}


def rule_targets(text: str) -> list[tuple[str, str]]:
    return re.findall(r'^SUBSYSTEM=="tty", ENV\{ID_BUS\}=="usb", ENV\{ID_SERIAL\}=="([^"]+)", '
                      r'ENV\{ID_USB_INTERFACE_NUM\}=="([0-9a-f]{2})", ENV\{VE_SERVICE\}="ignore"$', text, re.M)


def test_the_rules_name_exactly_the_configs_usb_ports():
    found, problems = claims(parse_config(CONFIG), lambda device: UDEV.get(device, {}))
    text = rules(found, "/data/dbus-bms/config.yaml")
    assert rule_targets(text) == [
        ("FTDI_FT232R_USB_UART_A10K1234", "00"),
        ("FTDI_Quad_RS232-HS_FT4ABC12", "02"),  # one rule for the two packs on that bus
        ("Prolific_Technology_Inc._USB-Serial_Controller_D", "00"),
        ("1a86_USB_Serial", "00"),
    ]
    # Nothing else: every line is a comment or one of those rules.
    assert all(line.startswith("#") for line in text.splitlines() if not rule_targets(line))
    assert problems == ["boat: /dev/ttyUSB7 is not claimed from serial-starter: udev knows no USB serial adapter there now; "
                        "name the port by its /dev/serial/by-id/ path, so it is claimed whether or not it is plugged in"]


def test_a_port_that_cannot_be_a_usb_adapter_is_named_and_not_claimed():
    config = parse_config("""
batteries:
  - {type: jk-nw, port: /dev/serial/by-id/pci-0000:00:1f.3, alias: a}
  - {type: jk-nw, port: '/dev/serial/by-id/usb-Evil"_VE_SERVICE-if00', alias: b}
""")
    found, problems = claims(config, lambda device: {})
    assert found == []
    assert [p.split(": ", 2)[0] for p in problems] == ["a", "b"]
    assert "not a USB adapter's by-id name" in problems[0]
    assert "has characters udev never writes" in problems[1]
    assert rule_targets(rules(found, "x")) == []


def test_the_command_writes_the_rules_and_says_what_it_left(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f"batteries:\n  - {{type: jk-nw, port: {FTDI}, alias: house}}\n"
                      f"  - {{type: jk-nw, port: /dev/dbus-bms-test-none, alias: shed}}\n")
    r = subprocess.run([sys.executable, "-m", "dbus_bms.port_claim", str(config)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert rule_targets(r.stdout) == [("FTDI_FT232R_USB_UART_A10K1234", "00")]
    assert f"# house: {FTDI}" in r.stdout
    assert r.stderr.startswith("shed: /dev/dbus-bms-test-none is not claimed from serial-starter")
    bad = tmp_path / "bad.yaml"
    bad.write_text("batteries: 3\n")
    r = subprocess.run([sys.executable, "-m", "dbus_bms.port_claim", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "batteries" in r.stderr and r.stdout == ""
