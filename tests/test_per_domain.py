"""Per-domain metrics: equal to metrics computed by hand, reported for every model."""
import csv
import math

import torch
from recbole.evaluator.collector import DataStruct

from recbole_llmrec.config.plugin_config import build_config
from recbole_llmrec.evaluation.grouped_evaluator import GroupedEvaluator, row_info
from recbole_llmrec.evaluation.groups import Grouping
from recbole_llmrec.runs.quick_start import run
from conftest import TINY_YAML


def test_per_domain_matches_hand_computed(tiny_config_dict):
    # a real RecBole config (its constructor also installs RecBole's numpy compatibility aliases)
    config = build_config("Pop", "tiny_mixed", [str(TINY_YAML)],
                          dict(tiny_config_dict, metrics=["Hit", "NDCG", "MRR"], topk=[2],
                               row_metrics=None))
    # 4 users, top-2 lists; row = [hit at rank 1, hit at rank 2, number of positives]
    topk = torch.tensor([[1, 0, 1],   # user 0, domain A: hit at rank 1
                         [0, 1, 1],   # user 1, domain B: hit at rank 2
                         [0, 0, 1],   # user 2, domain A: miss
                         [0, 0, 1]])  # user 3, domain B: miss
    struct = DataStruct()
    struct["rec.topk"] = topk
    evaluator = GroupedEvaluator(config)
    per_domain = evaluator.evaluate_groups(struct, torch.tensor([0, 1, 0, 1]), ["A", "B"])
    assert per_domain["A"]["hit@2"] == 0.5 and per_domain["B"]["hit@2"] == 0.5
    assert per_domain["A"]["ndcg@2"] == 0.5                       # (1 + 0) / 2
    assert per_domain["B"]["ndcg@2"] == round(1 / math.log2(3) / 2, 4)
    assert per_domain["A"]["mrr@2"] == 0.5 and per_domain["B"]["mrr@2"] == 0.25


def test_row_group_is_target_item_group():
    grouping = Grouping("domain", torch.tensor([-1, 2, 1, 2]), ["x", "a", "b"])  # item -> group
    info = row_info(torch.tensor([7, 8, 9]), torch.tensor([0, 1, 2]), torch.tensor([3, 2, 1]), 3,
                    [grouping])
    assert info.tolist() == [[7, 3, 2], [8, 2, 1], [9, 1, 2]]  # user, target, group


def test_run_reports_per_domain_consistent_with_overall(tiny_config_dict, tmp_path):
    result = run("Pop", "tiny_mixed", [str(TINY_YAML)], tiny_config_dict)
    per_domain = result["per_domain"]["test"]
    assert sorted(per_domain) == ["Beauty", "Toys_and_Games"]
    assert result["per_domain"]["valid"] is not None
    # every test user belongs to exactly one domain: overall = user-weighted mean of domains
    counts = {}
    inter = (TINY_YAML.parent / "data" / "atomic" / "tiny_mixed" / "tiny_mixed.inter")
    item = inter.with_suffix(".item")
    with open(item, newline="", encoding="utf-8") as handle:
        domain_of = {r["item_id:token"]: r["domain:token"]
                     for r in csv.DictReader(handle, delimiter="\t")}
    last = {}
    with open(inter, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            last[row["user_id:token"]] = row["item_id:token"]
    for item_id in last.values():
        counts[domain_of[item_id]] = counts.get(domain_of[item_id], 0) + 1
    total = sum(counts.values())
    for metric, value in result["test_result"].items():
        mixed = sum(counts[d] * per_domain[d][metric] for d in counts) / total
        assert abs(mixed - value) < 2e-4, metric
