"""Write a file completely or not at all: a temporary file beside the target, then a rename
(a leaf module: standard library only)."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_output(path: str, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path in ``path``'s folder; rename it to ``path`` when the block ends
    normally, remove it when the block raises. The folder is created if missing."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_text_atomic(text: str, path: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` (all or nothing)."""
    with atomic_output(path, os.path.splitext(path)[1]) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)


def write_json_atomic(obj: Any, path: str) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` (all or nothing)."""
    with atomic_output(path, ".json") as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(obj, handle, indent=2, sort_keys=True)
            handle.write("\n")
