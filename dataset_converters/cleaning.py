"""Title cleaning: HTML entities, whitespace, length limit, pandas NA-like values."""

import html
import re
from typing import Optional, Tuple

#: Titles longer than this (after cleaning) are cut to this many characters.
MAX_TITLE_CHARS = 1000

#: Strings that pandas ``read_csv`` (used by RecBole's loader) turns into NaN.
PANDAS_NA_STRINGS = frozenset(
    [
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
        "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
        "nan", "null",
    ]
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MAX_UNESCAPE_ROUNDS = 10


def clean_title(raw: str) -> Tuple[str, bool]:
    """Return ``(clean, truncated)`` for a raw title.

    HTML entities are unescaped repeatedly until the text is stable (``&amp;amp;`` ->
    ``&``), control characters and every kind of Unicode whitespace (tabs, newlines,
    ``&nbsp;``) become one space, and the result is stripped. Titles longer than
    :data:`MAX_TITLE_CHARS` are cut (and right-stripped); ``truncated`` says so.
    An empty result means the title is unusable.
    """
    text = raw
    for _ in range(_MAX_UNESCAPE_ROUNDS):
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    truncated = False
    if len(text) > MAX_TITLE_CHARS:
        text = text[:MAX_TITLE_CHARS].rstrip()
        truncated = True
    return text, truncated


def title_problem(clean: str) -> Optional[str]:
    """Return why a cleaned title cannot be used (a stats key), or ``None`` if it can."""
    if not clean:
        return "empty"
    if clean in PANDAS_NA_STRINGS:
        return "na_like"
    return None
