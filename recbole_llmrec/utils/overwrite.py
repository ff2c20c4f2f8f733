"""Refuse to replace an existing output unless asked (``--overwrite``)."""
from __future__ import annotations

import os
from typing import Optional, Union

PathLike = Union[str, "os.PathLike[str]"]


class OutputExistsError(FileExistsError):
    """The output exists and replacing it was not asked for."""


def refuse_existing(path: Optional[PathLike], overwrite: bool, what: str = "") -> None:
    """Raise :class:`OutputExistsError` naming ``path`` when it exists and not ``overwrite``
    (``what``: a note on what is kept or replaced, appended to the message); no ``path`` (None or
    empty): no output, nothing to refuse."""
    if path and not overwrite and os.path.lexists(path):
        note = f" ({what})" if what else ""
        raise OutputExistsError(f"{os.fspath(path)} exists; pass --overwrite to replace it{note}")
