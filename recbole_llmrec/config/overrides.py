"""Command-line config overrides: ``--key=value`` words as RecBole config entries, values read
as YAML (a leaf module)."""
from __future__ import annotations

import re
from typing import Any, Dict, Sequence

import yaml

_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def parse_config_overrides(items: Sequence[str]) -> Dict[str, Any]:
    """``['--epochs=5', '--eval_args={...}']`` -> ``{'epochs': 5, 'eval_args': {...}}``.

    Raises ``SystemExit`` with a message naming the bad word (a CLI usage error).
    """
    overrides: Dict[str, Any] = {}
    for item in items:
        if not item.startswith("--") or "=" not in item:
            raise SystemExit(f"unrecognised argument {item!r}: config overrides take the form --key=value")
        key, raw = item[2:].split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as err:
            raise SystemExit(f"--{key}: cannot parse value {raw!r}: {err}") from None
        if isinstance(value, str) and _FLOAT.fullmatch(value):
            value = float(value)  # YAML 1.1 reads "1e-4" as a string
        overrides[key] = value
    return overrides
