"""Reading JSON-lines files: one JSON object a line, blank lines skipped, errors naming file and line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple, Union


def read_objects(path: Union[str, Path], damaged_hint: str = "") -> Iterator[Tuple[int, Dict[str, Any]]]:
    """``(line number, object)`` of every non-blank line of ``path``; ``ValueError`` naming the file and line
    of one that is not valid JSON (``damaged_hint`` appended) or not an object."""
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} line {line_no}: not valid JSON ({err.msg}){damaged_hint}") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path} line {line_no}: expected a JSON object, got {type(row).__name__}")
            yield line_no, row
