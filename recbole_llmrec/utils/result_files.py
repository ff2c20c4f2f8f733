"""Result files: a small JSON of a run's metrics, its per-row arrays in a compressed sidecar.

``write_result("x.json", result)`` writes ``x.json`` without ``result["per_row"]`` and, when the
result has per-row arrays (``per_row[split][column] = [...]``, e.g. ``per_row.test.user`` /
``target`` / ``domain`` / ``ndcg@10``), writes them to ``x.rows.npz`` (``numpy.savez_compressed``,
no pickles) and keeps ``"per_row_file": "x.rows.npz"`` in the JSON. :func:`read_result` puts them
back. Both files are written atomically (temporary file + rename), the sidecar first, so a JSON never
names a sidecar that is not complete. (A leaf module: numpy and the standard library only.)
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import numpy as np

from recbole_llmrec.utils.atomic import atomic_output

PER_ROW = "per_row"
PER_ROW_FILE = "per_row_file"
SIDECAR_SUFFIX = ".rows.npz"
_CATEGORIES = ".categories"  # suffix of the array holding a string column's distinct values


def sidecar_path(path: str) -> str:
    """``dir/name.json`` -> ``dir/name.rows.npz``."""
    stem = path[:-len(".json")] if path.endswith(".json") else path
    return stem + SIDECAR_SUFFIX


def _plain_array(values: List[Any], key: str) -> np.ndarray:
    """Strings as UTF-8 bytes (``S`` dtype, a quarter of numpy's ``U``), numbers as float64 / int64,
    booleans as bool; a column mixing kinds is a ``ValueError``."""
    if all(isinstance(v, str) for v in values):
        return np.char.encode(np.asarray(values, dtype=str), "utf-8") if values else np.asarray(values, dtype="S1")
    if all(isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.float64)
    kinds = sorted({type(v).__name__ for v in values})
    raise ValueError(f"per-row column {key!r}: values must be all strings, all booleans or all numbers, "
                     f"got {', '.join(kinds)}")


def _column_arrays(key: str, values: List[Any]) -> Dict[str, np.ndarray]:
    """One per-row column as arrays: a column with few distinct values (a domain, a bucket, NDCG@10's
    ranks) as small integer codes plus its sorted distinct values, any other as a plain array."""
    array = _plain_array(values, key)
    if array.size == 0 or array.dtype == bool:
        return {key: array}
    categories, codes = np.unique(array, return_inverse=True)
    if len(categories) > array.size // 2 or (array.dtype.kind == "f" and np.isnan(array).any()):
        return {key: array}
    dtype = np.uint8 if len(categories) <= 2 ** 8 else np.uint16 if len(categories) <= 2 ** 16 else np.uint32
    return {key: codes.reshape(-1).astype(dtype), key + _CATEGORIES: categories}


def _per_row_arrays(per_row: Dict[str, Dict[str, List[Any]]]) -> Dict[str, np.ndarray]:
    """``{"split/column": array}`` of a ``per_row`` block (names checked: no ``/`` inside)."""
    arrays: Dict[str, np.ndarray] = {}
    for split, columns in per_row.items():
        if not isinstance(columns, dict):
            raise ValueError(f"per_row[{split!r}] must map column names to lists, got {type(columns).__name__}")
        for column, values in columns.items():
            if "/" in split or "/" in column or column.endswith(_CATEGORIES):
                raise ValueError(f"per-row name {split!r}/{column!r}: '/' and a trailing {_CATEGORIES!r} are reserved")
            arrays.update(_column_arrays(f"{split}/{column}", list(values)))
    return arrays


def _per_row_lists(arrays: Dict[str, np.ndarray]) -> Dict[str, Dict[str, List[Any]]]:
    """Inverse of :func:`_per_row_arrays`: plain Python lists, in the order they were written."""
    per_row: Dict[str, Dict[str, List[Any]]] = {}
    for key, array in arrays.items():
        if key.endswith(_CATEGORIES):
            continue
        split, column = key.split("/", 1)
        categories = arrays.get(key + _CATEGORIES)
        values = categories[array] if categories is not None else array
        if values.dtype.kind == "S":
            values = np.char.decode(values, "utf-8")
        per_row.setdefault(split, {})[column] = values.tolist()
    return per_row


def write_result(path: str, result: Dict[str, Any]) -> None:
    """Write ``result`` to ``path`` (JSON, indent 1, keys in their order) and its ``per_row`` block,
    when it has one, to the compressed sidecar :func:`sidecar_path`. ``result`` is not modified.
    A sidecar left from an earlier result without per-row arrays is removed."""
    result = dict(result)
    per_row = result.pop(PER_ROW, None)
    result.pop(PER_ROW_FILE, None)
    sidecar = sidecar_path(path)
    text = json.dumps({**result, **({PER_ROW_FILE: os.path.basename(sidecar)} if per_row is not None else {})},
                      indent=1, sort_keys=False) + "\n"  # a value JSON cannot hold fails before any write
    if per_row is not None:
        arrays = _per_row_arrays(per_row)
        with atomic_output(sidecar, SIDECAR_SUFFIX) as tmp:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, **arrays)
    with atomic_output(path, ".json") as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
    if per_row is None and os.path.exists(sidecar):
        os.remove(sidecar)


def read_per_row(path: str) -> Dict[str, Dict[str, List[Any]]]:
    """The ``per_row`` block stored in a sidecar file (``*.rows.npz``)."""
    with np.load(path, allow_pickle=False) as data:
        return _per_row_lists({key: data[key] for key in data.files})


def read_result(path: str) -> Dict[str, Any]:
    """A result written by :func:`write_result` (or an older JSON with ``per_row`` inline), with
    ``per_row`` restored from its sidecar. A JSON naming a sidecar that does not exist raises
    ``FileNotFoundError`` naming both files."""
    with open(path, encoding="utf-8") as handle:
        result = json.load(handle)
    name = result.pop(PER_ROW_FILE, None)
    if name is not None:
        sidecar = os.path.join(os.path.dirname(os.path.abspath(path)), name)
        if not os.path.exists(sidecar):
            raise FileNotFoundError(f"{path}: its per-row file {sidecar} is missing "
                                    f"(the run that wrote {os.path.basename(path)} writes it again)")
        result[PER_ROW] = read_per_row(sidecar)
    return result
