"""Per-popularity metrics: test rows grouped by the target item's training interactions."""
import csv
import math
from collections import Counter

import pytest
import torch
from recbole.evaluator.collector import DataStruct

from recbole_llmrec.config.plugin_config import build_config
from recbole_llmrec.evaluation.grouped_evaluator import GroupedEvaluator, row_info
from recbole_llmrec.evaluation.groups import bucket_labels, check_bucket_edges, popularity_grouping
from recbole_llmrec.runs.quick_start import run
from conftest import ATOMIC_DIR, TINY_YAML


def test_bucket_labels_and_edges():
    assert bucket_labels([0, 1, 5, 20]) == ["0", "1-4", "5-19", "20+"]
    assert bucket_labels([0, 10]) == ["0-9", "10+"]
    for bad in ([], [1, 5], [0, 5, 5], [0, 2.5], "0,1", [0, True]):
        with pytest.raises(ValueError, match="popularity_buckets"):
            check_bucket_edges(bad)


def test_buckets_match_hand_computed_metrics(tiny_config_dict):
    config = build_config("Pop", "tiny_mixed", [str(TINY_YAML)],
                          dict(tiny_config_dict, metrics=["Hit", "NDCG"], topk=[2],
                               row_metrics=["ndcg@2", "hit@2"]))
    # items 1..6 with 0, 3, 7, 25, 1, 0 training interactions (item 0 is padding)
    grouping = popularity_grouping(torch.tensor([0, 0, 3, 7, 25, 1, 0]), [0, 1, 5, 20])
    assert grouping.item_group.tolist() == [-1, 0, 1, 2, 3, 1, 0]
    struct = DataStruct()
    struct["rec.topk"] = torch.tensor([[1, 0, 1],   # user 10, target item 1 (bucket 0): rank 1
                                       [0, 1, 1],   # user 11, target item 2 (1-4): rank 2
                                       [0, 0, 1],   # user 12, target item 5 (1-4): miss
                                       [1, 0, 1]])  # user 13, target item 4 (20+): rank 1
    evaluator = GroupedEvaluator(config)
    evaluator.groupings = [grouping]
    evaluator.row_info = [row_info(torch.tensor([10, 11, 12, 13]), torch.arange(4),
                                   torch.tensor([1, 2, 5, 4]), 4, [grouping])]
    overall = evaluator.evaluate(struct)
    per = evaluator.per_group["popularity"]
    assert list(per) == ["0", "1-4", "20+"]                 # no row in 5-19
    assert per["0"]["ndcg@2"] == 1.0 and per["20+"]["ndcg@2"] == 1.0
    assert per["1-4"]["ndcg@2"] == round((1 / math.log2(3) + 0) / 2, 4)
    assert per["1-4"]["hit@2"] == 0.5
    assert overall["hit@2"] == 0.75
    rows = evaluator.rows
    assert rows["user"].tolist() == [10, 11, 12, 13] and rows["target"].tolist() == [1, 2, 5, 4]
    assert rows["popularity"] == ["0", "1-4", "1-4", "20+"]
    assert rows["ndcg@2"] == pytest.approx([1.0, 1 / math.log2(3), 0.0, 1.0])
    assert rows["hit@2"] == [1.0, 1.0, 0.0, 1.0]


def _hand_buckets():
    """Target item -> bucket label, counting each user's items but the last two (valid, test)."""
    per_user = {}
    with open(ATOMIC_DIR / "tiny_mixed" / "tiny_mixed.inter", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            per_user.setdefault(row["user_id:token"], []).append(row["item_id:token"])
    counts = Counter(i for items in per_user.values() for i in items[:-2])
    labels = bucket_labels([0, 1, 5, 20])
    edges = [0, 1, 5, 20]
    return {i: labels[max(b for b, e in enumerate(edges) if counts[i] >= e)]
            for items in per_user.values() for i in items}


@pytest.mark.parametrize("model", ["Pop", "SASRec"])  # a general and a sequential training split
def test_run_reports_per_popularity(model, tiny_config_dict):
    result = run(model, "tiny_mixed", [str(TINY_YAML)],
                 dict(tiny_config_dict, popularity_buckets=[0, 1, 5, 20]), saved=False)
    per = result["per_popularity"]
    assert per["edges"] == [0, 1, 5, 20] and per["valid"] is not None
    rows = result["per_row"]["test"]
    assert len(rows["user"]) == len(set(rows["user"])) == 36
    # the mean of the per-row values is RecBole's metric ...
    for metric in ("ndcg@10", "recall@10"):
        assert sum(rows[metric]) / 36 == pytest.approx(result["test_result"][metric], abs=1e-4)
    # ... and over the rows whose target falls in a bucket (counted by hand), the bucket's metric
    bucket_of = _hand_buckets()
    assert rows["popularity"] == [bucket_of[t] for t in rows["target"]]
    groups = {}
    for target, value in zip(rows["target"], rows["ndcg@10"]):
        groups.setdefault(bucket_of[target], []).append(value)
    assert sorted(per["test"]) == sorted(groups)
    for label, values in groups.items():
        assert per["test"][label]["ndcg@10"] == pytest.approx(sum(values) / len(values), abs=1e-4)


def test_popularity_off_and_bad_config(tiny_config_dict):
    result = run("Pop", "tiny_mixed", [str(TINY_YAML)],
                 dict(tiny_config_dict, popularity_buckets=None, row_metrics=None), saved=False)
    assert "per_popularity" not in result and "per_row" not in result
    with pytest.raises(ValueError, match="popularity_buckets"):
        run("Pop", "tiny_mixed", [str(TINY_YAML)],
            dict(tiny_config_dict, popularity_buckets=[1, 5]), saved=False)
    with pytest.raises(ValueError, match="row_metrics"):
        run("Pop", "tiny_mixed", [str(TINY_YAML)],
            dict(tiny_config_dict, row_metrics=["ndcg"]), saved=False)
    # a metric the run does not compute (beyond its largest topk) is skipped with a warning
    result = run("Pop", "tiny_mixed", [str(TINY_YAML)],
                 dict(tiny_config_dict, row_metrics=["ndcg@50", "recall@10"]), saved=False)
    assert list(result["per_row"]["test"]) == ["user", "target", "domain", "popularity",
                                                "recall@10"]
