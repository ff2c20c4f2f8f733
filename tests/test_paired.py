"""Paired differences of two models on the same test rows."""
import numpy as np
import pytest

from experiments.paired import align_rows, compare_results, paired_difference


def test_paired_difference_hand_example():
    a = [0.0, 1.0, 0.5, 0.0]
    b = [1.0, 1.0, 0.5, 0.0]           # b wins on one row of four: mean difference 0.25
    d = paired_difference(a, b, n_boot=4000, seed=1)
    assert d.n == 4 and d.diff == pytest.approx(0.25)
    assert d.mean_a == pytest.approx(0.375) and d.mean_b == pytest.approx(0.625)
    # differences (1, 0, 0, 0): bootstrap SE of their mean = population std / sqrt(n)
    assert d.se == pytest.approx(np.std([1, 0, 0, 0]) / 2, rel=0.05)
    assert d.ci_low == pytest.approx(0.0) and d.ci_high == pytest.approx(0.75)


def test_identical_models_have_zero_difference_and_se():
    values = list(np.random.default_rng(0).random(50))
    d = paired_difference(values, values)
    assert d.diff == 0 and d.se == 0 and d.ci_low == 0 == d.ci_high


def test_pairing_removes_shared_noise():
    rng = np.random.default_rng(0)
    base = rng.random(2000)           # per-user difficulty shared by both models
    d = paired_difference(base, base + 0.01 + rng.normal(0, 0.001, 2000))
    assert d.diff == pytest.approx(0.01, abs=1e-4) and d.se < 1e-4
    assert d.ci_low > 0


def test_bad_input():
    with pytest.raises(ValueError, match="equal length"):
        paired_difference([1, 2], [1])
    with pytest.raises(ValueError, match="no rows"):
        paired_difference([], [])


def test_compare_results_aligns_rows_by_user_and_target():
    ra = {"model": "A", "per_row": {"test": {"user": ["u1", "u2", "u3"], "target": ["i1", "i2", "i3"],
                                             "ndcg@10": [0.0, 1.0, 0.5]}}}
    rb = {"model": "B", "per_row": {"test": {"user": ["u3", "u1", "u4"], "target": ["i3", "i1", "i4"],
                                             "ndcg@10": [1.0, 0.5, 1.0]}}}
    keys, va, vb = align_rows({("u1", "i1"): 0.0, ("u3", "i3"): 0.5},
                              {("u3", "i3"): 1.0, ("u1", "i1"): 0.5})
    assert keys == [("u1", "i1"), ("u3", "i3")] and va == [0.0, 0.5] and vb == [0.5, 1.0]
    d = compare_results(ra, rb, "ndcg@10")
    assert d.n == 2 and d.diff == pytest.approx(0.5)    # u1: +0.5, u3: +0.5
    with pytest.raises(ValueError, match="per-row 'recall@10'"):
        compare_results(ra, rb, "recall@10")


def test_rows_in_group():
    from experiments.paired import rows_in_group

    r = {"per_row": {"test": {"user": ["u1", "u2"], "target": ["i1", "i2"],
                              "popularity": ["0", "1-4"], "ndcg@10": [0.0, 1.0]}}}
    assert rows_in_group(r, "popularity", "1-4") == {("u2", "i2")}
    with pytest.raises(ValueError, match="per-row 'domain'"):
        rows_in_group(r, "domain", "Beauty")
