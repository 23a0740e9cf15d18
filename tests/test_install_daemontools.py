"""install.sh on a stand-in GX: a scratch root (DBUS_BMS_ROOT) watched by Debian's real daemontools
(svscan, supervise, svc, svstat), the installed copy running from the release bundle alone with
Python 3.12, on a private D-Bus, against a simulated JK on a pty. "The service runs" means the
battery is on that bus with a reading."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dbus_bms.sim.bus import PrivateBus, die_with_parent

REPO = Path(__file__).resolve().parent.parent
PY312 = sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3"))
BATTERY = "com.victronenergy.battery.house"
BY_ID = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0"

pytestmark = [
    pytest.mark.skipif(shutil.which("supervise") is None or shutil.which("svscan") is None,
                       reason="daemontools is missing (Debian package daemontools; ./dev.sh test installs it as root)"),
    pytest.mark.skipif(not PY312, reason="no Python 3.12 in ~/.pyenv/versions: the GX's Python (Venus OS 3.60+) cannot be stood in for"),
]


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30.0) -> object:
    """A bound against a hang only; never what a test asserts."""
    end = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < end, f"not reached: {what}"
        time.sleep(0.05)
    return value


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([str(REPO / "tools/make-release.sh"), str(out)], env={**os.environ, "PYTHON": str(PY312[-1])},
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    unpacked = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(r.stdout.strip().splitlines()[-1]) as tar:
        tar.extractall(unpacked, filter="data")
    (folder,) = unpacked.iterdir()
    return folder


@pytest.fixture(scope="module")
def bus() -> Iterator[str]:
    private = PrivateBus()
    yield private.start()
    private.stop()


@pytest.fixture(scope="module")
def bms(tmp_path_factory) -> Iterator[Path]:
    link = tmp_path_factory.mktemp("bms") / "ttyBMS"
    sim = subprocess.Popen([sys.executable, "-m", "dbus_bms", "simulate", "jk-nw", "--pty", "--link", str(link)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
    wait_until(link.exists, "the simulated BMS's pty")
    yield link
    sim.terminate()
    sim.wait(timeout=10)


class Gx:
    """A scratch root with the folders a GX has, svscan watching its /service, and helpers that
    do what the owner does (install.sh, svstat, the boot scripts) inside it."""

    def __init__(self, root: Path, release: Path, bus: str, bms: Path) -> None:
        self.root, self.release, self.bus, self.bms = root, release, bus, bms
        self.app = root / "data/apps/dbus-bms"
        self.config = root / "data/dbus-bms/config.yaml"
        self.service = root / "service/dbus-bms"
        self.env = {"PATH": f"{PY312[-1].parent}:/usr/bin:/bin", "DBUS_SESSION_BUS_ADDRESS": bus, "DBUS_BMS_ROOT": str(root)}
        self.svscan: subprocess.Popen | None = None
        self.firmware("v3.60")

    def firmware(self, version: str) -> None:
        """What a firmware image brings: /service, /run and the version file, nothing of ours."""
        for folder in ("service", "run", "var/log"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        (self.root / "opt/victronenergy").mkdir(parents=True, exist_ok=True)
        (self.root / "opt/victronenergy/version").write_text(f"{version}\n20260801000000\n")

    def boot_svscan(self) -> None:
        # Its own session, so that svscan, its supervise processes and what they run can all be
        # ended together, as a reboot ends them.
        self.svscan = subprocess.Popen(["svscan", str(self.root / "service")], env=self.env, cwd="/",
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True, preexec_fn=die_with_parent)

    def power_off(self) -> None:
        if self.svscan is None:
            return
        for name in ("dbus-bms", "dbus-bms/log"):
            if (self.root / "service" / name / "supervise").exists():
                subprocess.run(["svc", "-dx", str(self.root / "service" / name)], capture_output=True)
        wait_until(lambda: not self.supervised(), "supervise to end")
        os.killpg(self.svscan.pid, signal.SIGKILL)
        self.svscan.wait(timeout=10)
        self.svscan = None

    def install(self, *args: str, source: Path | None = None) -> subprocess.CompletedProcess:
        script = (source or self.release) / "install.sh"
        return subprocess.run(["bash", str(script), *args], env=self.env, capture_output=True, text=True, timeout=120)

    def run_boot_script(self, name: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.root / "data" / name)], env=self.env, capture_output=True, text=True, timeout=60)

    def write_config(self) -> None:
        self.config.write_text(
            f"poll_interval: 0.2\nsettings_wait: 0.2\nstop_hold: 0.2\nstate_dir: {self.config.parent}\n"
            f"batteries:\n  - type: jk-nw\n    port: {self.bms}\n    alias: house\n"
            f"  - type: jk-nw\n    port: {BY_ID}\n    alias: shed\n")

    def svstat(self) -> str:
        """svstat's word on the service, e.g. "down 3 seconds" or "up (pid 12) 5 seconds"."""
        out = subprocess.run(["svstat", str(self.service)], capture_output=True, text=True).stdout
        return out.removeprefix(f"{self.service}: ").strip()

    def supervised(self) -> bool:
        return any(subprocess.run(["svok", str(self.app / folder)], capture_output=True).returncode == 0
                   for folder in ("service", "service/log"))

    def daemon_pid(self) -> int | None:
        found = re.match(r"up \(pid (\d+)\)", self.svstat())
        return int(found[1]) if found else None

    def daemons(self) -> list[int]:
        """Every process that runs the daemon on this root's config."""
        found = []
        for proc in Path("/proc").iterdir():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"run" in argv and str(self.config).encode() in argv:
                found.append(int(proc.name))
        return found

    def battery_connected(self) -> bool:
        r = subprocess.run(["dbus-send", f"--bus={self.bus}", "--print-reply", f"--dest={BATTERY}", "/Connected",
                            "com.victronenergy.BusItem.GetValue"], capture_output=True, text=True, timeout=10)
        return r.returncode == 0 and "int32 1" in r.stdout

    def battery_gone(self) -> bool:
        r = subprocess.run(["dbus-send", f"--bus={self.bus}", "--print-reply", "--dest=org.freedesktop.DBus",
                            "/org/freedesktop/DBus", "org.freedesktop.DBus.ListNames"], capture_output=True, text=True, timeout=10)
        return r.returncode == 0 and "com.victronenergy.battery." not in r.stdout


@pytest.fixture
def gx(tmp_path, release, bus, bms) -> Iterator[Gx]:
    machine = Gx(tmp_path / "gx", release, bus, bms)
    yield machine
    machine.power_off()


def running(gx: Gx) -> Gx:
    """Installed with a config, then booted: the battery on the bus. (svscan finds a service that
    is there when it starts at once, and a new one only at its next scan, 5 s later.)"""
    gx.config.parent.mkdir(parents=True)
    gx.write_config()
    r = gx.install()
    assert r.returncode == 0, r.stdout + r.stderr
    gx.boot_svscan()
    wait_until(gx.battery_connected, "the battery on the bus")
    return gx


def test_first_install_stays_down_a_broken_config_is_refused_and_the_edited_config_runs_at_once(gx):
    gx.boot_svscan()
    r = gx.install()
    assert r.returncode == 0, r.stderr
    assert "the service stays down until" in r.stdout
    wait_until(lambda: gx.svstat().startswith("down"), "supervise to watch the service")
    assert re.fullmatch(r"down \d+ seconds", gx.svstat()) and gx.battery_gone()
    assert gx.config.read_text() == (gx.release / "examples/dbus-bms.yaml").read_text()
    assert not (gx.root / "run/udev/rules.d").exists()  # the example's /dev/ttyUSB0 is not claimed
    r = gx.install(source=gx.app)  # again, without editing it
    assert r.returncode == 0 and "is still the example: the service stays down" in r.stdout
    assert re.fullmatch(r"down \d+ seconds", gx.svstat()) and gx.battery_gone()

    gx.write_config()
    gx.config.write_text(gx.config.read_text().replace("poll_interval: 0.2", "poll_interval: fast"))
    r = gx.install(source=gx.app)  # the owner runs the installed copy, as the README says
    assert r.returncode == 1
    assert "poll_interval" in r.stderr and "nothing was changed" in r.stderr
    assert re.fullmatch(r"down \d+ seconds", gx.svstat()) and (gx.app / "service/down").exists() and gx.battery_gone()

    gx.write_config()
    r = gx.install(source=gx.app)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "house: jk-nw on" in r.stdout  # check-config's summary, shown to the owner
    wait_until(gx.battery_connected, "the battery on the bus without a reboot")
    assert re.fullmatch(r"up \(pid \d+\) \d+ seconds", gx.svstat())  # not "normally down" any more
    assert f"claimed {BY_ID} from serial-starter" in r.stdout
    assert f"house: {gx.bms} is not claimed from serial-starter" in r.stderr  # a pty, not a USB adapter
    assert (gx.root / "data/rc.local").read_text().count("install.sh --boot ") == 1


def test_supervise_restarts_a_killed_daemon(gx):
    running(gx)
    first = gx.daemon_pid()
    os.kill(first, signal.SIGKILL)
    second = wait_until(lambda: (pid := gx.daemon_pid()) not in (None, first) and pid, "a new daemon")
    wait_until(gx.battery_connected, "the battery back on the bus")
    assert gx.daemon_pid() == second


def test_an_upgrade_keeps_config_and_state_and_restarts_onto_the_new_code(gx, tmp_path):
    running(gx)
    wait_until(lambda: list(gx.config.parent.glob("*house*.json")), "the daemon to keep state")
    before = {p.name: p.read_bytes() for p in gx.config.parent.iterdir()}
    old = gx.daemon_pid()
    newer = tmp_path / "newer"
    shutil.copytree(gx.release, newer)
    marker = newer / "dbus_bms/__init__.py"
    marker.write_text(marker.read_text().replace('__version__ = "0.1.0"', '__version__ = "0.1.1"'))

    r = gx.install(source=newer)
    assert r.returncode == 0, r.stdout + r.stderr
    assert gx.config.read_bytes() == before["config.yaml"]
    assert set(before) <= {p.name for p in gx.config.parent.iterdir()}
    wait_until(lambda: gx.daemon_pid() not in (None, old), "the daemon restarted")
    wait_until(gx.battery_connected, "the battery on the bus")
    r = subprocess.run(["dbus-send", f"--bus={gx.bus}", "--print-reply", f"--dest={BATTERY}", "/Mgmt/ProcessVersion",
                        "com.victronenergy.BusItem.GetValue"], capture_output=True, text=True)
    assert '"0.1.1"' in r.stdout, r.stdout
    assert gx.daemons() == [gx.daemon_pid()]  # one supervise, one daemon: the service folder was kept
    assert not any(p.name.endswith(".new") for p in gx.app.parent.iterdir())


def test_after_a_firmware_update_the_port_claims_and_the_service_come_back(gx):
    running(gx)
    rules = gx.root / "run/udev/rules.d/zz-dbus-bms.rules"
    claimed = rules.read_text()
    assert re.findall(r'ENV\{ID_SERIAL\}=="([^"]+)"', claimed) == ["FTDI_FT232R_USB_UART_A10K1234"]
    gx.power_off()
    for folder in gx.root.iterdir():
        if folder.name != "data":
            shutil.rmtree(folder)
    gx.firmware("v3.70")
    # Boot order on Venus: rcS.local (end of rcS), svscan (runlevel 5, S95), rc.local (S99).
    assert gx.run_boot_script("rcS.local").returncode == 0
    assert rules.read_text() == claimed
    gx.boot_svscan()
    assert gx.run_boot_script("rc.local").returncode == 0
    wait_until(gx.battery_connected, "the battery back after the update")


def test_uninstall_leaves_only_the_owners_config_and_state(gx):
    running(gx)
    owners_rc = gx.root / "data/rc.local"
    owners_rc.write_text(owners_rc.read_text() + "echo mine\n")
    r = gx.install("--uninstall", source=gx.app)
    assert r.returncode == 0, r.stderr
    assert f"your config and state are kept in {gx.config.parent}" in r.stdout
    assert not gx.supervised() and gx.battery_gone()
    left = sorted(str(p.relative_to(gx.root)) for p in gx.root.rglob("*") if p.is_file() or p.is_symlink())
    state = sorted(str(p.relative_to(gx.root)) for p in gx.config.parent.iterdir())
    assert left == sorted(["data/rc.local", "opt/victronenergy/version", *state])
    assert "data/dbus-bms/config.yaml" in state
    assert owners_rc.read_text() == "#!/bin/bash\necho mine\n"
