"""Durable state files: a writer killed at any moment leaves every file whole, and no link planted
at a file or at a temporary name is ever followed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbus_bms import statefile
from dbus_bms.charge.state import initial_state
from dbus_bms.charge.store import ChargeStore

ROOT = Path(__file__).resolve().parent.parent

# Writes three files in turn, each time with a new content of a new length, as fast as it can.
WRITER = """
import sys
from pathlib import Path
from dbus_bms import statefile

targets = [Path(sys.argv[1]) / f"state{n}.json" for n in range(3)]
for target in targets:
    statefile.write_json(target, {"i": 0})
print("ready", flush=True)
i = 0
while True:
    i += 1
    statefile.write_json(targets[i % 3], {"i": i, "pad": "x" * (i * 37 % 4096)})
"""


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_a_writer_killed_at_any_moment_leaves_every_file_whole(tmp_path):
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(40):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, env=env)
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0, 0.03))  # the moment of the kill varies; no outcome depends on it
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        targets = sorted(tmp_path.glob("state*.json"))
        assert len(targets) == 3
        for target in targets:
            assert not target.is_symlink()
            assert isinstance(json.loads(target.read_text())["i"], int)
            assert statefile.read_json(target) == json.loads(target.read_text())
        assert temp_files(tmp_path) == []  # what the killed writer left was removed by the loads


def test_leftovers_of_other_programs_are_kept(tmp_path):
    target = tmp_path / "state.json"
    ours = tmp_path / f".state.json.{'0' * 16}.tmp"
    ours.write_text("{")
    theirs = [tmp_path / ".state.json.tmp", tmp_path / ".other.json.0123456789abcdef.tmp", tmp_path / "state.tmp"]
    for path in theirs:
        path.write_text("keep")
    assert statefile.read_json(target) is None
    assert not ours.exists() and all(p.read_text() == "keep" for p in theirs)


def test_a_link_planted_at_the_target_is_refused_and_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    home = tmp_path / "state"
    home.mkdir()
    target = home / "state.json"
    target.symlink_to(victim)
    with pytest.raises(statefile.UnsafeStateFile, match="symbolic link"):
        statefile.read_json(target)
    statefile.write_json(target, {"a": 1})
    assert victim.read_text() == "precious"
    assert not target.is_symlink() and statefile.read_json(target) == {"a": 1}
    # A dangling link: a writer that followed it would create what it names.
    dangling = home / "other.json"
    dangling.symlink_to(tmp_path / "created-through-the-link")
    with pytest.raises(statefile.UnsafeStateFile):
        statefile.read_json(dangling)
    statefile.write_json(dangling, {"b": 2})
    assert not (tmp_path / "created-through-the-link").exists() and statefile.read_json(dangling) == {"b": 2}


def test_a_link_planted_at_a_temporary_name_is_not_followed(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    home = tmp_path / "state"
    home.mkdir()
    target = home / "state.json"
    # The fixed name a naive writer would use, and the very name our writer draws first.
    (home / "state.tmp").symlink_to(victim)
    drawn = iter(["a" * 16, "b" * 16])
    monkeypatch.setattr(statefile, "_token", lambda: next(drawn))
    planted = home / f".state.json.{'a' * 16}.tmp"
    planted.symlink_to(victim)
    statefile.write_json(target, {"a": 1})
    assert victim.read_text() == "precious"
    assert statefile.read_json(target) == {"a": 1}
    assert not planted.exists() and not planted.is_symlink()  # one of our names: removed at the load
    assert victim.read_text() == "precious"


def test_a_fifo_at_the_target_is_refused_without_hanging(tmp_path):
    target = tmp_path / "state.json"
    os.mkfifo(target)
    with pytest.raises(statefile.UnsafeStateFile, match="not a regular file"):
        statefile.read_json(target)


def test_the_charge_store_refuses_a_planted_link_and_says_so(tmp_path, caplog):
    victim = tmp_path / "victim"
    victim.write_text('{"mode": "FLOAT"}')
    path = tmp_path / "charge.json"
    path.symlink_to(victim)
    store = ChargeStore(path)
    assert store.load(0.0) == initial_state()
    assert "symbolic link" in caplog.text
    assert store.save(initial_state(), 1_700_000_000.0)
    assert victim.read_text() == '{"mode": "FLOAT"}' and not path.is_symlink()
    assert ChargeStore(path).load(1_700_000_000.0) == initial_state()


def test_written_files_are_readable_by_others(tmp_path):
    target = tmp_path / "state.json"
    old = os.umask(0o022)
    try:
        statefile.write_json(target, {})
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644
