"""Drawing a few training prefixes per user: pure functions on arrays of user ids."""
from __future__ import annotations

from typing import Optional

import numpy as np


def sample_prefix_rows(users: np.ndarray, per_user: int, rng: np.random.Generator,
                       window: Optional[int] = None) -> np.ndarray:
    """Row indices keeping at most ``per_user`` random rows of each user, in original order.

    With ``window``, only each user's last ``window`` rows are candidates (RecBole's augmented
    training rows are in time order within a user, so these are the most recent prefixes).
    """
    if per_user < 1:
        raise ValueError(f"train_prefixes_per_user must be >= 1 or null, got {per_user}")
    if window is not None:
        if window < 1:
            raise ValueError(f"train_prefix_window must be >= 1 or null, got {window}")
        candidates = np.flatnonzero(_rank_from_end(users) < window)
        return candidates[sample_prefix_rows(users[candidates], per_user, rng)]
    order = rng.permutation(len(users))
    # stable sort by user of a random permutation: a random order within each user
    shuffled = order[np.argsort(users[order], kind="stable")]
    sorted_users = users[shuffled]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    rank = np.arange(len(users)) - np.repeat(starts, np.diff(np.r_[starts, len(users)]))
    return np.sort(shuffled[rank < per_user])


def _rank_from_end(users: np.ndarray) -> np.ndarray:
    """For each row, how many later rows of the same user follow it (0 = the user's last row)."""
    order = np.argsort(users, kind="stable")
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    ends = np.r_[starts[1:], len(users)]
    sizes = ends - starts
    index_in_user = np.arange(len(users)) - np.repeat(starts, sizes)
    ranks = np.empty(len(users), dtype=np.int64)
    ranks[order] = np.repeat(sizes, sizes) - 1 - index_in_user
    return ranks
