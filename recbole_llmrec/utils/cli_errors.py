"""Readable command-line errors: one ``error: ...`` line and exit status 2, traceback only with
``--debug``.

A command's ``main(argv)`` raises as library code does (``ValueError`` naming the bad key or
value, ``FileNotFoundError`` naming the file, ...); :func:`run_cli` turns those into one line::

    def main(argv=None) -> int: ...

    if __name__ == "__main__":
        sys.exit(run_cli(main))

Programming errors (``TypeError``, ``AttributeError``, ...) keep their traceback: they are bugs,
not bad input.
"""
from __future__ import annotations

import sys
from typing import Callable, List, Optional, Sequence, Tuple, Type

#: Exit status of a command that refused its input (argparse uses the same).
USAGE_ERROR = 2

#: The flag that keeps the full traceback.
DEBUG_FLAG = "--debug"

#: Exceptions that mean "bad input": a setting, a file, a value the user gave.
USER_ERRORS: Tuple[Type[BaseException], ...] = (ValueError, OSError, LookupError)


def split_debug_flag(argv: Optional[Sequence[str]]) -> Tuple[List[str], bool]:
    """``argv`` (default ``sys.argv[1:]``) without ``--debug``, and whether it was there."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in args
    return [a for a in args if a != DEBUG_FLAG], debug


def error_line(err: BaseException) -> str:
    """The one line printed for ``err``: its message's first line, prefixed with ``error:``."""
    if isinstance(err, KeyError) and err.args:
        message = f"missing key {err.args[0]!r}"
    elif isinstance(err, OSError) and err.filename and err.strerror:
        message = f"{err.filename}: {err.strerror}"
    else:
        message = str(err).strip() or type(err).__name__
    lines = [line for line in message.splitlines() if line.strip()]
    return "error: " + (lines[0] if lines else type(err).__name__)


def run_cli(main: Callable[[List[str]], Optional[int]], argv: Optional[Sequence[str]] = None) -> int:
    """Call ``main(argv)`` (``--debug`` removed) and return its exit status.

    Bad input (:data:`USER_ERRORS`, or ``SystemExit`` with a message) prints one ``error: ...``
    line on stderr and returns :data:`USAGE_ERROR`; with ``--debug`` the exception propagates
    with its traceback. ``SystemExit`` with a number (argparse's ``--help``, its own usage
    errors) passes through unchanged.
    """
    args, debug = split_debug_flag(argv)
    try:
        return int(main(args) or 0)
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            raise
        if debug:
            raise
        message = (str(exit_.code).strip().splitlines() or ["usage error"])[0]
        print(message if message.startswith("error:") else f"error: {message}", file=sys.stderr)
        return USAGE_ERROR
    except USER_ERRORS as err:
        if debug:
            raise
        print(error_line(err), file=sys.stderr)
        return USAGE_ERROR
