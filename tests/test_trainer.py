"""LLMRecTrainer's per-epoch choice of training prefixes."""
import numpy as np
import pytest

from recbole_llmrec.data.prefix_sampling import sample_prefix_rows


def test_prefix_sampling_per_user():
    users = np.array([1, 1, 1, 2, 2, 3, 1, 3, 3, 3])
    rows = sample_prefix_rows(users, 2, np.random.default_rng(0))
    counts = {u: int((users[rows] == u).sum()) for u in (1, 2, 3)}
    assert counts == {1: 2, 2: 2, 3: 2}
    assert list(rows) == sorted(rows)
    again = sample_prefix_rows(users, 2, np.random.default_rng(0))
    assert list(rows) == list(again)
    with pytest.raises(ValueError):
        sample_prefix_rows(users, 0, np.random.default_rng(0))


def test_prefix_sampling_window_keeps_recent_rows():
    users = np.array([1, 1, 1, 1, 2, 2, 2, 3])
    rows = sample_prefix_rows(users, 5, np.random.default_rng(0), window=2)
    assert list(rows) == [2, 3, 5, 6, 7]           # the last two rows of each user
    one = sample_prefix_rows(users, 1, np.random.default_rng(1), window=2)
    assert {int(users[r]) for r in one} == {1, 2, 3} and set(one) <= {2, 3, 5, 6, 7}
