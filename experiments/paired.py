"""Paired comparison of two models on the same test rows: mean difference of a per-row metric and
its bootstrap standard error, so that evaluation noise is not read as a finding.

Per-row values come from a result file's ``per_row`` block (``row_metrics`` in the config), keyed
by (user, target) tokens; :func:`align_rows` keeps the rows both results scored.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np


@dataclass(frozen=True)
class PairedDifference:
    """``mean_b - mean_a`` over ``n`` paired rows, its bootstrap standard error and 95% interval."""

    n: int
    mean_a: float
    mean_b: float
    diff: float
    se: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> Dict[str, float]:
        """Plain-data form (for JSON and CSV)."""
        return asdict(self)


def paired_difference(a: Sequence[float], b: Sequence[float], n_boot: int = 2000,
                      seed: int = 0) -> PairedDifference:
    """Mean of ``b - a`` with a bootstrap over rows (rows resampled with replacement, the same
    rows for both models): standard error = std of the resampled means, interval = their 2.5th
    and 97.5th percentiles."""
    a_arr = np.asarray(a, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1:
        raise ValueError(f"paired values need two 1-D sequences of equal length, got "
                         f"{a_arr.shape} and {b_arr.shape}")
    if a_arr.size == 0:
        raise ValueError("paired values: no rows to compare")
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    diff = b_arr - a_arr
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for start in range(0, n_boot, 256):  # chunks keep memory at 256 x n
        stop = min(start + 256, n_boot)
        idx = rng.integers(0, diff.size, size=(stop - start, diff.size))
        means[start:stop] = diff[idx].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return PairedDifference(n=int(diff.size), mean_a=float(a_arr.mean()), mean_b=float(b_arr.mean()),
                            diff=float(diff.mean()), se=float(means.std(ddof=1)),
                            ci_low=float(low), ci_high=float(high))


def row_table(result: Dict[str, Any], metric: str, split: str = "test") -> Dict[Tuple[str, str], float]:
    """``{(user, target): value}`` of one per-row metric of a result (``run()``'s dict or file)."""
    block = ((result.get("per_row") or {}).get(split)) or None
    if block is None or metric not in block:
        raise ValueError(f"result of {result.get('model')!r} on {result.get('dataset')!r} has no "
                         f"per-row {metric!r} ({split}): set row_metrics to include it")
    return {(u, t): float(v) for u, t, v in zip(block["user"], block["target"], block[metric])}


def align_rows(a: Dict[Tuple[str, str], float], b: Dict[Tuple[str, str], float],
               keep: Optional[set] = None) -> Tuple[list, list, list]:
    """Values of the (user, target) rows present in both tables (and in ``keep`` when given),
    in a fixed order: ``(keys, values_a, values_b)``."""
    keys = sorted(set(a) & set(b) if keep is None else set(a) & set(b) & keep)
    return keys, [a[k] for k in keys], [b[k] for k in keys]


def compare_results(result_a: Dict[str, Any], result_b: Dict[str, Any], metric: str,
                    keep: Optional[set] = None, n_boot: int = 2000, seed: int = 0) -> PairedDifference:
    """Paired difference ``b - a`` of ``metric`` over the test rows both results scored."""
    _, va, vb = align_rows(row_table(result_a, metric), row_table(result_b, metric), keep)
    return paired_difference(va, vb, n_boot=n_boot, seed=seed)


def rows_in_group(result: Dict[str, Any], grouping: str, label: str,
                  split: str = "test") -> set:
    """(user, target) keys of the rows whose target is in group ``label`` of ``grouping``
    (``domain`` or ``popularity``, as recorded under ``per_row``)."""
    block = ((result.get("per_row") or {}).get(split)) or {}
    if grouping not in block:
        raise ValueError(f"result of {result.get('model')!r} has no per-row {grouping!r} labels")
    return {(u, t) for u, t, g in zip(block["user"], block["target"], block[grouping]) if g == label}
