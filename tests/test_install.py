"""The release tarball and install.sh, run into a scratch root (DBUS_BMS_ROOT) instead of a GX."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "PYTHON": sys.executable}
    r = subprocess.run([str(ROOT / "tools/make-release.sh"), str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    tarball = Path(r.stdout.strip().splitlines()[-1])
    unpacked = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(tarball) as tar:
        tar.extractall(unpacked, filter="data")
    (folder,) = unpacked.iterdir()
    return folder


def install(release: Path, root: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DBUS_BMS_ROOT": str(root)}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(["bash", str(release / "install.sh"), *args], env=env, capture_output=True, text=True)


def test_release_vendors_pure_python_dependencies(release):
    assert not list(release.rglob("*.so")) and not list(release.rglob("__pycache__"))
    code = "import dbus_fast.message as m, yaml, serial, serial_asyncio_fast; print(m.__file__, yaml.__with_libyaml__)"
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": f"{release}/ext:{release}"},
                       capture_output=True, text=True, cwd="/")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [f"{release}/ext/dbus_fast/message.py", "False"]


def test_install_then_reinstall_keeps_config_and_rc_local(release, tmp_path):
    rc = tmp_path / "data/rc.local"
    rc.parent.mkdir(parents=True)
    rc.write_text("#!/bin/bash\necho mine\n")
    assert install(release, tmp_path).returncode == 0
    app = tmp_path / "data/apps/dbus-bms"
    assert (app / "dbus_bms/cli.py").exists() and (app / "ext/dbus_fast").is_dir()
    # On a GX the root is empty: the link is /service/dbus-bms -> /data/apps/dbus-bms/service.
    assert os.readlink(tmp_path / "service/dbus-bms") == f"{app}/service"
    config = tmp_path / "data/dbus-bms/config.yaml"
    assert (app / "service/down").exists()  # nothing runs on the example's port until the owner says so
    mine = config.read_text() + "# my own\n"
    config.write_text(mine)
    r = install(app, tmp_path)  # run again from the installed copy, as the README says
    assert r.returncode == 0 and f"checking your config {config}" in r.stdout, r.stderr
    assert config.read_text() == mine and not (app / "service/down").exists()
    assert install(release, tmp_path).returncode == 0  # an update from a new release
    assert config.read_text() == mine and not (app / "service/down").exists()
    lines = rc.read_text().splitlines()
    assert lines[:2] == ["#!/bin/bash", "echo mine"] and sum("install.sh --boot " in l for l in lines) == 1
    assert os.access(rc, os.X_OK)
    early = (tmp_path / "data/rcS.local").read_text().splitlines()
    assert early == ["#!/bin/bash", f"bash {app}/install.sh --boot-early  # dbus-bms"]


def test_installed_daemon_checks_the_example_config(release, tmp_path):
    assert install(release, tmp_path).returncode == 0
    app = tmp_path / "data/apps/dbus-bms"
    r = subprocess.run([sys.executable, "-m", "dbus_bms", "check-config", str(tmp_path / "data/dbus-bms/config.yaml")],
                       env={**os.environ, "PYTHONPATH": f"{app}/ext:{app}"}, capture_output=True, text=True, cwd="/")
    assert r.returncode == 0, r.stderr
    assert "house: jk-nw on /dev/ttyUSB0" in r.stdout
    run = (app / "service/run").read_text()
    assert 'exec python3 -m dbus_bms run --config "${DBUS_BMS_ROOT:-}/data/dbus-bms/config.yaml"' in run
    assert os.access(app / "service/run", os.X_OK) and os.access(app / "service/log/run", os.X_OK)


def test_boot_relinks_and_uninstall_keeps_the_users_data(release, tmp_path):
    assert install(release, tmp_path).returncode == 0
    (tmp_path / "service/dbus-bms").unlink()
    assert install(tmp_path / "data/apps/dbus-bms", tmp_path, "--boot").returncode == 0
    assert (tmp_path / "service/dbus-bms").is_symlink()
    r = install(tmp_path / "data/apps/dbus-bms", tmp_path, "--uninstall")
    assert r.returncode == 0 and f"your config and state are kept in {tmp_path}/data/dbus-bms" in r.stdout
    assert not (tmp_path / "data/apps/dbus-bms").exists() and not (tmp_path / "service/dbus-bms").exists()
    assert (tmp_path / "data/dbus-bms/config.yaml").exists()
    # Only our lines were in them: the boot scripts are gone.
    assert not (tmp_path / "data/rc.local").exists() and not (tmp_path / "data/rcS.local").exists()


def test_old_python_is_refused_clearly(release, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    stub = fake / "python3"
    # A stand-in for the Python 3.8 of Venus OS 3.5x and older.
    stub.write_text("#!/bin/sh\ncase \"$*\" in *print*) echo 3.8;; *) exit 1;; esac\n")
    stub.chmod(0o755)
    r = install(release, tmp_path, path=f"{fake}:/usr/bin:/bin")
    assert r.returncode == 1
    assert "python3 is 3.8; dbus-bms needs 3.11 or later" in r.stderr
    assert not (tmp_path / "data/apps").exists()


def test_old_venus_is_refused_with_what_to_do(release, tmp_path):
    version = tmp_path / "opt/victronenergy/version"
    version.parent.mkdir(parents=True)
    version.write_text("v3.55\n20250101000000\n")
    r = install(release, tmp_path)
    assert r.returncode == 1
    assert "Venus OS v3.55 is too old: dbus-bms needs Venus OS v3.60 or later" in r.stderr
    assert "Update the GX (Settings > General > Firmware), then run this again" in r.stderr
    assert not (tmp_path / "data").exists()
    version.write_text("v3.70~21\n")
    assert install(release, tmp_path).returncode == 0


def test_the_gui_plugin_is_put_where_gui_v2_loads_it_and_removed_on_uninstall(release, tmp_path):
    plugin = tmp_path / "data/apps/enabled/dbus-bms/gui-v2/dbus-bms.json"
    assert install(release, tmp_path).returncode == 0
    assert plugin.read_bytes() == (ROOT / "qml/gui-v2/dbus-bms.json").read_bytes()
    plugin.write_text("{}")  # run again from the installed copy: the plugin is put back
    assert install(tmp_path / "data/apps/dbus-bms", tmp_path).returncode == 0
    assert plugin.read_bytes() == (ROOT / "qml/gui-v2/dbus-bms.json").read_bytes()
    assert list(plugin.parent.iterdir()) == [plugin]
    assert install(tmp_path / "data/apps/dbus-bms", tmp_path, "--uninstall").returncode == 0
    assert not (tmp_path / "data/apps/enabled/dbus-bms").exists()
