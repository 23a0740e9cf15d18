"""A private dbus-daemon, for the demo and the tests: nothing touches the system bus."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """For Popen(preexec_fn=...): the child gets SIGTERM when its parent dies, even by SIGKILL.

    A killed demo or test run must not leave a daemon behind that keeps polling a pty number the
    kernel hands out again to the next run.
    """
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class PrivateBus:
    """Starts ``dbus-daemon`` on a socket in a temporary folder; ``address`` is its bus address."""

    def __init__(self) -> None:
        self._dir: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self.address = ""

    def start(self) -> str:
        exe = shutil.which("dbus-daemon")
        if exe is None:
            raise RuntimeError("dbus-daemon is not installed (Debian package: dbus-daemon)")
        self._dir = tempfile.mkdtemp(prefix="dbus-bms-bus-")
        conf = Path(self._dir, "bus.conf")
        conf.write_text(_CONFIG.format(socket=Path(self._dir, "bus.sock")))
        self._proc = subprocess.Popen(
            [exe, "--config-file", str(conf), "--nofork", "--print-address"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            preexec_fn=die_with_parent,
        )
        assert self._proc.stdout is not None
        self.address = self._proc.stdout.readline().strip()
        if not self.address:
            self.stop()
            raise RuntimeError("dbus-daemon did not print its address")
        return self.address

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=5)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    @property
    def pid(self) -> int | None:
        """The dbus-daemon's process id while it runs, for measuring what routing costs it."""
        return self._proc.pid if self._proc is not None else None

    def kill(self) -> None:
        """Kills the dbus-daemon at once, as a crash would: every connection to it breaks."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=5)

    def env(self) -> dict[str, str]:
        """The environment for a child process that should use this bus as its session bus."""
        return {**os.environ, "DBUS_SESSION_BUS_ADDRESS": self.address}

    def __enter__(self) -> PrivateBus:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
