"""One command-line convention: RecBole's snake_case flags and ``--key=value`` config overrides.

Old spellings still work for one release, each with a ``DeprecationWarning`` (also logged): dashed
flags (``--max-users`` is ``--max_users``), ``--set KEY=VALUE`` (is ``--KEY=VALUE``) and renamed flags
(e.g. ``--output`` is ``--output_file`` where RecBole names it so)."""
from __future__ import annotations

import logging
import sys
import warnings
from typing import List, Mapping, Optional, Sequence

logger = logging.getLogger(__name__)


def deprecated(old: str, new: str) -> None:
    """Warn that ``old`` is spelt ``new`` now."""
    message = f"{old} is deprecated and will be removed in the next release; use {new}"
    warnings.warn(message, DeprecationWarning, stacklevel=3)
    logger.warning(message)


def modernize(argv: Optional[Sequence[str]] = None, renames: Optional[Mapping[str, str]] = None) -> List[str]:
    """``argv`` (None: the command line, ``sys.argv[1:]``) in today's spelling: dashed flags in snake_case,
    ``--set K=V`` as ``--K=V``, ``renames`` (old flag -> new flag) applied; each old spelling warns
    (:func:`deprecated`)."""
    renames = dict(renames or {})
    out: List[str] = []
    words = list(sys.argv[1:] if argv is None else argv)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--set" or word.startswith("--set="):
            value = word[len("--set="):] if word.startswith("--set=") else (words[i] if i < len(words) else "")
            i += 0 if word.startswith("--set=") else 1
            deprecated(f"--set {value}", f"--{value}")
            out.append(f"--{value}")
            continue
        if not word.startswith("--") or word == "--":
            out.append(word)
            continue
        flag, sep, value = word.partition("=")
        new = flag if "-" not in flag[2:] else "--" + flag[2:].replace("-", "_")
        new = renames.get(new, new)
        if new != flag:
            deprecated(flag, new)
        out.append(new + sep + value)
    return out
