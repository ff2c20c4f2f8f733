"""One owner per run name: a lock file beside the run's resumable checkpoint (a leaf module:
standard library only).

``<checkpoint_dir>/<run_name>.lock`` holds the owner (pid, host, start time, command) as JSON and
an exclusive ``flock`` for as long as the owning process lives. The kernel drops the ``flock``
when the process dies, however it dies, so a lock file left by a dead run is detected (the file
is there, nobody holds it) and taken over; a live owner is named in the error a second run gets.
"""
from __future__ import annotations

import datetime
import fcntl
import json
import logging
import os
import socket
import sys
from typing import Any, Dict, Optional, Tuple

from recbole_llmrec.runs.files import unique_run_id

logger = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"


class RunLockedError(FileExistsError):
    """Another live process owns the run name (the message names it)."""


def lock_path(checkpoint_dir: str, run_name: str) -> str:
    """``<checkpoint_dir>/<run_name>.lock``."""
    return os.path.join(checkpoint_dir, f"{run_name}{LOCK_SUFFIX}")


def describe_owner(owner: Optional[Dict[str, Any]]) -> str:
    """``pid 123 on host h since 2026-12-01T17:00:00 (python run.py ...)``, or ``an unknown process``."""
    if not owner:
        return "an unknown process"
    text = f"pid {owner.get('pid')} on host {owner.get('host')} since {owner.get('start_time')}"
    return f"{text} ({owner['command']})" if owner.get("command") else text


class RunLock:
    """An exclusive, process-lifetime lock on ``path`` (use :meth:`acquire` / :meth:`release`,
    or ``with``)."""

    def __init__(self, path: str, run_name: str = "") -> None:
        self.path = path
        self.run_name = run_name
        self._fd: Optional[int] = None
        #: The owner record of a dead process this lock took over (None: the lock was free).
        self.took_over: Optional[Dict[str, Any]] = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: bool = False) -> "RunLock":
        """Take the lock, or raise :class:`RunLockedError` naming the live owner (``wait``:
        block until the owner releases it or dies)."""
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read_owner(fd)
                if not wait:
                    os.close(fd)
                    raise RunLockedError(
                        f"run {self.run_name or self.path!r} is in use: {self.path} is held by "
                        f"{describe_owner(owner)}"
                    ) from None
                logger.info("waiting for %s, held by %s", self.path, describe_owner(owner))
                fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, self.path):  # not a file its last owner unlinked meanwhile
                break
            os.close(fd)
        previous = _read_owner(fd)
        if previous:
            self.took_over = previous
            logger.warning("taking over %s, left by %s, which is no longer running", self.path,
                           describe_owner(previous))
        record = json.dumps(_owner_record(self.run_name), sort_keys=True).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file and drop the lock (no-op when not held)."""
        if self._fd is None:
            return
        try:
            if _same_file(self._fd, self.path):
                os.remove(self.path)
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self if self.held else self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def claim_run_name(checkpoint_dir: str, name: str, explicit: bool) -> Tuple[RunLock, str]:
    """Lock run ``name`` in ``checkpoint_dir``; returns the lock and the name the run uses.

    When another live run owns ``name``: an ``explicit`` name (the user set ``run_name``, or the
    run resumes) raises :class:`RunLockedError`; a default name gives way to a unique one
    (``<name>-<run id>``, logged), so two runs never share a resumable checkpoint.
    """
    lock = RunLock(lock_path(checkpoint_dir, name), name)
    try:
        return lock.acquire(), name
    except RunLockedError as err:
        if explicit:
            raise
        unique = f"{name}-{unique_run_id()}"
        logger.warning("%s; this run is named %s instead (set run_name to choose one)", err, unique)
        return RunLock(lock_path(checkpoint_dir, unique), unique).acquire(), unique


def _owner_record(run_name: str) -> Dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "start_time": datetime.datetime.now().isoformat(timespec="seconds"),
        "run_name": run_name,
        "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:300],
    }


def _read_owner(fd: int) -> Optional[Dict[str, Any]]:
    try:
        size = os.fstat(fd).st_size
        text = os.pread(fd, size, 0).decode("utf-8") if size else ""
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False
