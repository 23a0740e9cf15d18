"""Small state files on flash that survive a power cut and never follow a symbolic link.

A write goes to a fresh temporary file in the target's directory (a random name, created
exclusively and without following links), is flushed to the medium, renamed onto the target, and
the directory is flushed so the rename itself is on the medium. A power cut at any moment leaves
the old file or the new one. The rename replaces whatever sits at the target, a planted link
included, without following it; reading refuses a link or anything that is not a regular file.
``SpacedJsonFile`` bounds how often a state that changes at every poll is written, and
``CoalescedJsonFile`` how often a file that clients can change is written.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import re
import secrets
import stat
from pathlib import Path
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger("dbus_bms")

_MODE = 0o644
_TEMP_SUFFIX = ".tmp"
_TOKEN_BYTES = 8
# Names already taken (a stale file, a planted link) are skipped; this many misses in a row mean
# something is wrong with the directory, not bad luck.
_ATTEMPTS = 16


class UnsafeStateFile(OSError):
    """The target is a symbolic link or not a regular file: refused, not followed."""


def _token() -> str:
    return secrets.token_hex(_TOKEN_BYTES)


def _temp_pattern(target: Path) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{{2 * _TOKEN_BYTES}}}{re.escape(_TEMP_SUFFIX)}")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_temp(target: Path) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(_ATTEMPTS):
        temp = target.with_name(f".{target.name}.{_token()}{_TEMP_SUFFIX}")
        try:
            return os.open(temp, flags, _MODE), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"{target.parent}: no free temporary name after {_ATTEMPTS} tries")


def write_bytes(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data``, durably; raises OSError when it cannot."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = _create_temp(target)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def read_bytes(target: Path) -> bytes | None:
    """The content of ``target``, None when there is none; removes temporary files a killed
    writer left next to it. Raises UnsafeStateFile for a link or a non-regular file."""
    target = Path(target)
    _remove_leftovers(target)
    try:
        # Non-blocking, so that a FIFO planted at the target cannot hang the open.
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeStateFile(f"{target}: a symbolic link; not followed") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeStateFile(f"{target}: not a regular file; not read")
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _remove_leftovers(target: Path) -> None:
    pattern = _temp_pattern(target)
    try:
        entries = list(os.scandir(target.parent))
    except FileNotFoundError:
        return
    for entry in entries:
        if pattern.fullmatch(entry.name):
            # unlink removes a link itself, never what it points to.
            Path(entry.path).unlink(missing_ok=True)


def write_json(target: Path, value: Any) -> None:
    write_bytes(target, json.dumps(value, indent=1, sort_keys=True).encode())


def read_json(target: Path) -> Any:
    """The JSON value in ``target``, None when there is none. Raises UnsafeStateFile, OSError, or
    ValueError for content that is not JSON."""
    data = read_bytes(target)
    return None if data is None else json.loads(data)


class SpacedJsonFile:
    """A JSON state file that a state changing at every poll cannot wear out: ``save`` writes only
    when the value differs from what the file holds and the last write is ``spacing`` s of the
    wall clock old; what it held back goes out with a later ``save`` or with ``flush`` (at a stop).
    A failed write is logged once per cause and tried again by the next save."""

    def __init__(self, path: Path, spacing: float, what: str, logger: logging.Logger) -> None:
        self.path = path
        self.spacing = spacing
        self.what = what
        self.log = logger
        self.writes = 0
        self._saved: Any = None
        self._latest: Any = None
        self._written_at: float | None = None
        self._error = ""

    def loaded(self, value: Any) -> None:
        """``value`` is what the file holds (as read at a start): saving it again writes nothing."""
        self._saved = value

    def save(self, value: Any, wall_now: float) -> bool:
        """True when it wrote."""
        self._latest = value
        if value == self._saved:
            return False
        # A wall clock set back counts as time passed: it must not stop the saving for good.
        if self._written_at is not None and 0 <= wall_now - self._written_at < self.spacing:
            return False
        return self._write(value, wall_now)

    def flush(self, wall_now: float) -> bool:
        """Writes what ``save`` held back; True when it wrote."""
        if self._latest is None or self._latest == self._saved:
            return False
        return self._write(self._latest, wall_now)

    def _write(self, value: Any, wall_now: float) -> bool:
        self._written_at = wall_now
        try:
            write_json(self.path, value)
        except OSError as exc:
            if str(exc) != self._error:
                self.log.warning("%s: cannot save the %s (%s)", self.path, self.what, exc)
                self._error = str(exc)
            return False
        if self._error:
            self.log.info("%s: %s saved again", self.path, self.what)
            self._error = ""
        self._saved = value
        self.writes += 1
        return True


T = TypeVar("T")


class SpacedStore(Generic[T]):
    """A state of its own type kept in a ``SpacedJsonFile``: ``to_dict`` and ``from_dict`` (which
    raises ValueError for anything it cannot use) are its saved form, ``fresh`` the state there is
    when nothing usable is saved; ``instead`` says in the log what starts then."""

    def __init__(self, path: Path, spacing: float, what: str, logger: logging.Logger, *,
                 to_dict: Callable[[T], Any], from_dict: Callable[[Any], T], fresh: Callable[[], T],
                 instead: str) -> None:
        self.path = path
        self.file = SpacedJsonFile(path, spacing, what, logger)
        self.log = logger
        self._to_dict, self._from_dict, self._fresh, self._instead = to_dict, from_dict, fresh, instead

    @property
    def writes(self) -> int:
        return self.file.writes

    def load(self) -> T:
        """The saved state, or a fresh one when there is none or it cannot be used (said in the log)."""
        try:
            data = read_json(self.path)
            if data is None:
                return self._fresh()
            state = self._from_dict(data)
        except (OSError, ValueError) as exc:
            self.log.warning("%s: cannot use the saved %s (%s); %s", self.path, self.file.what, exc, self._instead)
            return self._fresh()
        self.file.loaded(self._to_dict(state))
        return state

    def save(self, state: T, wall_now: float) -> bool:
        """Writes the state if its saved form changed and the last write is ``spacing`` old (else a
        later call or ``flush`` writes it); True when it wrote."""
        return self.file.save(self._to_dict(state), wall_now)

    def flush(self, wall_now: float) -> bool:
        """Writes what ``save`` held back (at a stop); True when it wrote."""
        return self.file.flush(wall_now)


class CoalescedJsonFile:
    """A JSON state file that a busy writer cannot wear out: written at most once per ``spacing``
    s, the last value wins, ``flush`` writes what waits. Writes run off the event loop (their
    fsyncs can take a while on flash)."""

    def __init__(self, path: Path, spacing: float) -> None:
        self.path = Path(path)
        self.spacing = spacing
        self.writes = 0
        self.error: str | None = None  # why the last write failed; None after a good one
        self._unsaved: Any = None
        self._has_unsaved = False
        self._written_at: float | None = None
        self._timer: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    def writable(self) -> str | None:
        """None when the directory exists (or can be made) and is writable, else why not."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return str(exc)
        return None if os.access(self.path.parent, os.W_OK) else f"{self.path.parent} is not writable"

    async def put(self, value: Any) -> bool:
        """Keeps ``value``: written now when the last write is ``spacing`` old or failed (True
        once it is on flash), else at the end of the spacing (True: bound for a file that took
        the last write)."""
        async with self._lock:
            self._unsaved, self._has_unsaved = value, True
            loop = asyncio.get_running_loop()
            due = 0.0 if self._written_at is None else self._written_at + self.spacing - loop.time()
            # A write that failed is retried at once, so the caller learns whether it works again.
            if due <= 0 or self.error is not None:
                return await self._write()
            if self._timer is None:
                self._timer = loop.create_task(self._write_later(due))
            return True

    async def flush(self) -> bool:
        """Writes what waits; True when nothing is left unwritten."""
        self._cancel_timer()
        async with self._lock:
            return await self._write()

    async def discard(self) -> None:
        """Drops what waits, after a write under way has ended."""
        self._cancel_timer()
        async with self._lock:
            self._has_unsaved = False

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _write_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        # Only the sleep can be cancelled: a write under way runs to its end.
        self._timer = None
        async with self._lock:
            await self._write()

    async def _write(self) -> bool:
        if not self._has_unsaved:
            return True
        value, self._has_unsaved = self._unsaved, False
        self._written_at = asyncio.get_running_loop().time()
        try:
            await asyncio.to_thread(write_json, self.path, value)
        except OSError as exc:
            self.error = str(exc)
            log.warning("cannot write %s (%s)", self.path, exc)
            return False
        self.error = None
        self.writes += 1
        return True
