"""Search spaces in RecBole's params-file format: one parameter a line, ``#`` comments::

    learning_rate choice [5e-5,1e-4]   # a list of values (any Python literals)
    dropout uniform 0.1,0.5            # low,high
    lr loguniform -9.2,-6.9            # natural-log bounds: exp(uniform(low, high))
    hidden quniform 32,128,32          # low,high,q
"""
from __future__ import annotations

import ast
import itertools
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

_KINDS = {"choice": None, "uniform": 2, "loguniform": 2, "quniform": 3}
_COMMENT = re.compile(r"(^|\s)#.*$")


class TuningError(ValueError):
    """A bad params file or an impossible search request."""


@dataclass(frozen=True)
class Param:
    """One line of a params file: ``name kind args`` (args: values for choice, bounds else)."""

    name: str
    kind: str
    args: Tuple[Any, ...]


def parse_params_file(path: str) -> List[Param]:
    """Read a RecBole params file (``#`` comments and blank lines allowed), in file order."""
    params: List[Param] = []
    with open(path, encoding="utf-8") as handle:
        for lineno, raw in enumerate(handle, start=1):
            line = _COMMENT.sub("", raw).strip()
            if not line:
                continue
            parts = line.split(None, 2)
            where = f"{path}:{lineno}"
            if len(parts) < 3:
                raise TuningError(f"{where}: expected 'name kind values', got {raw.strip()!r}")
            name, kind, rest = parts
            if kind not in _KINDS:
                raise TuningError(f"{where}: unknown kind {kind!r} (one of {', '.join(_KINDS)})")
            if kind == "choice":
                try:
                    values = ast.literal_eval(rest.strip())
                except (ValueError, SyntaxError) as err:
                    raise TuningError(f"{where}: choice needs a literal list: {err}") from None
                if not isinstance(values, (list, tuple)) or not values:
                    raise TuningError(f"{where}: choice needs a non-empty list, got {rest!r}")
                args = tuple(values)
            else:
                try:
                    args = tuple(float(x) for x in re.split(r"[,\s]+", rest.strip()) if x)
                except ValueError:
                    raise TuningError(f"{where}: {kind} needs numbers, got {rest!r}") from None
                if len(args) != _KINDS[kind]:
                    raise TuningError(f"{where}: {kind} takes {_KINDS[kind]} numbers, got {rest!r}")
                if args[0] >= args[1]:
                    raise TuningError(f"{where}: {kind} needs low < high, got {rest!r}")
            if any(p.name == name for p in params):
                raise TuningError(f"{where}: parameter {name!r} given twice")
            params.append(Param(name, kind, args))
    if not params:
        raise TuningError(f"{path}: no parameters")
    return params


def grid(params: Sequence[Param]) -> List[Dict[str, Any]]:
    """Every combination of choice parameters, the last parameter varying fastest."""
    loose = [p.name for p in params if p.kind != "choice"]
    if loose:
        raise TuningError(
            f"exhaustive search needs choice parameters only; {', '.join(loose)} are continuous "
            "(use --algo=random or --algo=bayes)"
        )
    names = [p.name for p in params]
    return [dict(zip(names, combo)) for combo in itertools.product(*(p.args for p in params))]
