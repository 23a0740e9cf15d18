"""`dbus-bms simulate jk-nw --tcp` and `dbus-bms read --port tcp://...` as a user runs them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from .test_cli import dbus_bms


def test_read_once_from_a_jk_simulated_behind_a_fragmenting_gateway():
    sim = subprocess.Popen([sys.executable, "-m", "dbus_bms", "simulate", "jk-nw", "--tcp", "0", "--fragment"],
                           stdout=subprocess.PIPE, text=True)
    try:
        address = sim.stdout.readline().strip()
        assert address.startswith("tcp://127.0.0.1:")
        r = dbus_bms("read", "--type", "jk-nw", "--port", address, "--json")
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)["cell_voltages"]) == 16
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def test_read_from_a_gateway_that_refuses_says_so():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = dbus_bms("read", "--type", "jk-nw", "--port", f"tcp://127.0.0.1:{port}")
    assert r.returncode == 1
    assert f"cannot connect to 127.0.0.1:{port}: Connection refused" in r.stderr
    r = dbus_bms("read", "--type", "jk-nw", "--port", "tcp://127.0.0.1")
    assert r.returncode == 1 and "expected tcp://host:port" in r.stderr
