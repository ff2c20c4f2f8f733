"""Freed host memory back to the OS during long evaluations (glibc's ``malloc_trim``).

Full-ranking evaluation allocates a few ``[users, items]`` score matrices per batch. glibc raises
its mmap threshold after the first large free, so later matrices come from the heap, and the heap
can keep what they free: resident memory then grows with the number of evaluated users.
Calling ``malloc_trim(0)`` every few batches returns it; a fixed mmap threshold would too, but it
makes every training step's large tensors mmap anew (slower steps). Elsewhere (no
glibc: macOS, Windows, musl) this is a no-op.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any, Callable, Optional


def _load_trim() -> Optional[Callable[[int], Any]]:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None) if libc is not None else None


_MALLOC_TRIM = _load_trim()


def check_every(every: Any) -> Optional[int]:
    """``eval_heap_trim_batches`` checked: an integer >= 1, or None (off)."""
    if every is None:
        return None
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"eval_heap_trim_batches must be an integer >= 1 or null, got {every!r}")
    return every


class HeapTrimmer:
    """``step()`` once per evaluation batch: every ``every``-th call returns freed heap memory to
    the OS. ``every`` None, or no glibc: does nothing. ``trims`` counts the calls that trimmed."""

    def __init__(self, every: Optional[int]) -> None:
        self.every = check_every(every)
        self.calls = 0
        self.trims = 0

    def step(self) -> None:
        """Count one batch; trim on every ``every``-th."""
        self.calls += 1
        if self.every is not None and _MALLOC_TRIM is not None and self.calls % self.every == 0:
            _MALLOC_TRIM(0)
            self.trims += 1
