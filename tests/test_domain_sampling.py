"""The paper's protocol: negatives from the target's domain, never the target, fixed per seed."""
import numpy as np
import torch

from recbole_llmrec.config.plugin_config import build_config, properties_dir
from recbole_llmrec.evaluation.domain_sampling import DomainNegativeSampler, apply_eval_neg_scope
from recbole_llmrec.runs.quick_start import run
from conftest import TINY_YAML

PAPER = str(properties_dir() / "protocol" / "paper.yaml")


def _loaders(tiny_config_dict, n=20):
    from recbole.data import create_dataset, data_preparation

    mode = {"valid": f"uni{n}", "test": f"uni{n}"}
    config = build_config("Pop", "tiny_mixed", [str(TINY_YAML), PAPER],
                          dict(tiny_config_dict, eval_args={
                              "split": {"LS": "valid_and_test"}, "order": "TO",
                              "group_by": "user", "mode": mode}, eval_batch_size=(n + 1) * 4))
    dataset = create_dataset(config)
    _, valid, test = data_preparation(config, dataset)
    apply_eval_neg_scope(config, valid, test)
    return config, dataset, valid, test


def test_negatives_from_target_domain_never_target(tiny_config_dict):
    config, dataset, _, test = _loaders(tiny_config_dict)
    sampler = test._sampler
    assert isinstance(sampler, DomainNegativeSampler)
    domains = dataset.item_feat["domain"].numpy()
    seen = 0
    for batch in test:
        interaction, row_idx, positive_u, positive_i = batch
        items = interaction["item_id"].numpy()
        rows = row_idx.numpy()
        for u, target in zip(positive_u.numpy(), positive_i.numpy()):
            candidates = items[rows == u]
            negatives = candidates[candidates != target]
            assert len(negatives) == 20 and len(set(negatives)) == 20
            assert (domains[negatives] == domains[target]).all()
            seen += 1
    assert seen == dataset.user_num - 1


def test_negatives_fixed_per_seed_user_target(tiny_config_dict):
    _, _, _, test = _loaders(tiny_config_dict)
    sampler = test._sampler
    first = sampler.sample_by_user_ids(np.array([1, 2]), np.array([3, 4]), 5)
    again = sampler.sample_by_user_ids(np.array([1, 2]), np.array([3, 4]), 5)
    assert torch.equal(first, again) and first.shape == (10,)
    other_seed = DomainNegativeSampler(sampler, torch.from_numpy(sampler.item_domain), 7)
    assert not np.array_equal(other_seed.sample_for(1, 3, 5), sampler.sample_for(1, 3, 5))


def test_paper_protocol_runs_for_any_model(tiny_config_dict):
    config = dict(tiny_config_dict, eval_batch_size=21 * 4, eval_args={
        "split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user",
        "mode": {"valid": "uni20", "test": "uni20"}})
    result = run("SASRec", "tiny_mixed", [str(TINY_YAML), PAPER], config)
    # 20 negatives + target: a random ranker has hit@10 about 10/21
    assert 0.0 <= result["test_result"]["hit@10"] <= 1.0
    assert set(result["per_domain"]["test"]) == {"Beauty", "Toys_and_Games"}
