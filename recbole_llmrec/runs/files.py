"""File names no two runs can share, and digests that prove a file is the one a run wrote
(a leaf module: standard library only).

RecBole names a checkpoint ``<model>-<time to the second>.pth``: two runs started within one second
write the same file, and the test evaluation of one then re-loads the other's weights. Here every
name carries a run id (time to the microsecond, process id, random suffix) and is *reserved* with
``O_CREAT | O_EXCL`` before the first write, so a clash is detected, never silent.
"""
from __future__ import annotations

import datetime
import hashlib
import os
import secrets
from typing import Callable, Optional

#: Characters of the random part of a run id (hex).
RANDOM_HEX = 6


def unique_run_id(now: Optional[datetime.datetime] = None) -> str:
    """``<Mon-DD-YYYY_HH-MM-SS>-<microseconds>-p<pid>-<random hex>``: unique across processes
    and hosts (the second-resolution part keeps RecBole's look)."""
    now = now or datetime.datetime.now()
    return (f"{now.strftime('%b-%d-%Y_%H-%M-%S')}-{now.microsecond:06d}-p{os.getpid()}-"
            f"{secrets.token_hex(RANDOM_HEX // 2)}")


def unique_path(directory: str, prefix: str, suffix: str) -> str:
    """``<directory>/<prefix>-<run id><suffix>`` (not yet created: see :func:`reserve`)."""
    return os.path.join(directory, f"{prefix}-{unique_run_id()}{suffix}")


def reserve(path: str) -> bool:
    """Create ``path`` empty, exclusively; False when it already exists (someone else owns it).
    The folder is created if missing."""
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def reserve_unique(make_path: Callable[[], str], attempts: int = 8) -> str:
    """Reserve the first free path ``make_path()`` returns (a new name on every call)."""
    for _ in range(attempts):
        path = make_path()
        if reserve(path):
            return path
    raise FileExistsError(f"no free file name after {attempts} attempts (last: {path})")


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


class DigestMismatchError(RuntimeError):
    """A file's bytes are not the ones its writer recorded (another process replaced it)."""


def verify_sha256(path: str, expected: str, what: str = "checkpoint") -> None:
    """Raise :class:`DigestMismatchError` naming ``path`` when its SHA-256 is not ``expected``."""
    actual = file_sha256(path)
    if actual != expected:
        raise DigestMismatchError(
            f"{what} {path} changed after this run wrote it (sha256 {actual[:16]}..., expected "
            f"{expected[:16]}...): another process wrote the same file; refusing to use it"
        )
