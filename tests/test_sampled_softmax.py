"""``negative_sampling: sampled``: in-batch positives plus sampled items, each logit minus log q (the
sampled-softmax correction), accidental hits masked; ``auto`` picks it for large catalogues."""

from types import SimpleNamespace

import pytest
import torch
from model_helpers import SEQUENCE_SETTINGS, first_batch, make_config, make_model

import recbole_llmrec.model.negative_sampling as negative_sampling
from recbole_llmrec.model.negative_sampling import AUTO_FULL_CATALOGUE_ITEMS, resolve_strategy
from recbole_llmrec.model.negative_sampling.full_catalogue import FullCatalogueNegatives
from recbole_llmrec.model.negative_sampling.sampled import SampledSoftmaxNegatives, corrected_logits
from recbole_llmrec.model.settings import LLMRecSettings


def _strategy(n_items, counts, distribution, num):
    settings = SimpleNamespace(negative_sampling="sampled", sampled_negatives=num, sampled_distribution=distribution)
    strategy = SampledSoftmaxNegatives(settings)
    strategy.rebind(n_items, None, counts)
    return strategy


class Table:
    """An ItemScorer over a plain table of item vectors."""

    def __init__(self, vectors):
        self.table = vectors

    def vectors(self, ids):
        return self.table[ids]


def test_corrected_logits_subtract_log_q_and_mask_accidental_hits():
    logits = torch.arange(10.0).view(2, 5)
    candidates = torch.tensor([4, 7, 7, 2, 4])  # columns 0, 1: the positives; 2..4: sampled
    log_q = torch.tensor([-1.0, -2.0, -2.0, -3.0, -1.0])
    out = corrected_logits(logits, candidates, torch.tensor([4, 7]), log_q)
    expected = logits - log_q
    expected[0, 0], expected[1, 1] = logits[0, 0], logits[1, 1]  # the targets: the positives, not draws
    expected[0, 4] = expected[1, 2] = float("-inf")  # a sampled copy of the row's own positive
    assert torch.equal(out, expected)


def test_the_candidates_are_a_sample_of_the_known_mixture():
    counts = torch.tensor([0.0, 6.0, 3.0, 1.0, 0.0, 10.0])
    pop = _strategy(6, counts, "popularity", 4)
    p = counts / counts.sum()
    assert torch.allclose(pop.positive_probs, p) and torch.allclose(pop.sample_probs, p)
    # expected count among one example's other candidates: 7 other positives + 4 samples
    assert torch.allclose(pop.log_q(torch.tensor([1, 5, 3]), 8, 4), torch.log(11 * p[[1, 5, 3]]))
    uni = _strategy(6, counts, "uniform", 4)
    q = 7 * p + 4 * torch.tensor([0.0, 0.2, 0.2, 0.2, 0.2, 0.2])
    assert torch.allclose(uni.log_q(torch.arange(1, 6), 8, 4), torch.log(q[1:]))
    torch.manual_seed(0)
    draws = pop.sample(200_000, torch.device("cpu"))
    assert torch.allclose(torch.bincount(draws, minlength=6) / 200_000.0, p, atol=0.005)
    assert set(uni.sample(20_000, torch.device("cpu")).tolist()) == {1, 2, 3, 4, 5}  # never the padding
    # a positive the counts never saw (item 4) stays finite: floored at the smallest q
    assert torch.isfinite(pop.log_q(torch.tensor([4]), 8, 4)).all()


def test_forward_scores_positives_and_samples_with_the_correction():
    torch.manual_seed(1)
    table = Table(torch.randn(12, 4))
    counts = torch.arange(12.0)
    strategy = _strategy(12, counts, "popularity", 6)
    users, positives = torch.randn(3, 4), torch.tensor([11, 5, 11])
    torch.manual_seed(2)
    logits, targets = strategy(table, users, positives)
    torch.manual_seed(2)
    candidates = torch.cat([positives, strategy.sample(6, torch.device("cpu"))])
    p = counts / counts.sum()
    expected = users @ table.table[candidates].T - torch.log(8 * p[candidates])  # 2 other positives + 6
    target = users @ table.table[positives].T
    expected[range(3), range(3)] = target.diagonal()
    hits = candidates.unsqueeze(0) == positives.unsqueeze(1)
    hits[range(3), range(3)] = False
    assert torch.equal(targets, torch.arange(3)) and logits.shape == (3, 9)
    assert torch.isneginf(logits[hits]).all() and hits[0, 2] and hits[2, 0]
    assert torch.allclose(logits[~hits], expected[~hits], atol=1e-6)


@pytest.mark.parametrize("distribution", ["uniform", "popularity"])
def test_the_correction_removes_the_popularity_bias(distribution, monkeypatch):
    """One user, item scores w_j: the full softmax learns the positives' distribution p. The sampled
    softmax without the correction under-scores popular items (they are negatives more often); with
    it, it learns p."""
    n, batch, num = 30, 64, 16
    p = torch.zeros(n)
    p[1:] = 1.0 / torch.arange(1, n).float() ** 1.2
    p /= p.sum()

    def learned_distribution(correct: bool, full: bool = False) -> torch.Tensor:
        torch.manual_seed(0)
        strategy = _strategy(n, p * 1000, distribution, num)
        if not correct:
            monkeypatch.setattr(strategy, "log_q", lambda ids, b, m: torch.zeros(len(ids)))
        w = torch.zeros(n, 1, requires_grad=True)
        optimizer = torch.optim.Adam([w], lr=0.05)
        for _ in range(400):
            positives = torch.multinomial(p, batch, replacement=True)
            if full:
                logits, targets = w[:, 0].expand(batch, -1).clone(), positives
                logits[:, 0] = float("-inf")
            else:
                logits, targets = strategy(Table(w), torch.ones(batch, 1), positives)
            loss = torch.nn.functional.cross_entropy(logits, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return torch.softmax(w.detach()[1:, 0], 0)

    def kl(q: torch.Tensor) -> float:
        return float((p[1:] * (p[1:] / q).log()).sum())

    full = kl(learned_distribution(True, full=True))  # the same steps on the full softmax: SGD's noise
    corrected, uncorrected = kl(learned_distribution(True)), kl(learned_distribution(False))
    assert full < 0.015 and corrected < 0.015 and uncorrected > 0.2, (full, corrected, uncorrected)


def test_auto_is_full_catalogue_up_to_the_bound_then_sampled(tiny_lms, tiny_data, monkeypatch):
    assert resolve_strategy("auto", AUTO_FULL_CATALOGUE_ITEMS) == "full_catalogue"
    assert resolve_strategy("auto", AUTO_FULL_CATALOGUE_ITEMS + 1) == "sampled"
    assert resolve_strategy("in_batch", 10 ** 7) == "in_batch"
    assert LLMRecSettings(negative_sampling="auto").negatives.negative_sampling == "auto"
    with pytest.raises(ValueError, match="sampled_distribution"):
        LLMRecSettings(negative_sampling="auto", sampled_distribution="zipf")
    with pytest.raises(ValueError, match="sampled_negatives"):
        LLMRecSettings(negative_sampling="sampled", sampled_negatives=-1)
    dataset, train, _, _ = tiny_data
    settings = {**SEQUENCE_SETTINGS, "negative_sampling": "auto", "sampled_negatives": 20}
    model = make_model(make_config(tiny_lms["bert"], **settings), train._dataset)
    assert type(model.negatives) is FullCatalogueNegatives
    monkeypatch.setattr(negative_sampling, "AUTO_FULL_CATALOGUE_ITEMS", 100)
    model = make_model(make_config(tiny_lms["bert"], **settings), train._dataset)
    assert type(model.negatives) is SampledSoftmaxNegatives
    # the positives' distribution: the training split's interactions per item
    counts = torch.bincount(train._dataset.inter_feat["item_id"], minlength=dataset.item_num).float()
    assert torch.allclose(model.negatives.positive_probs, counts / counts.sum())
    batch = first_batch(train)
    loss = model.train().calculate_loss(batch)
    assert torch.isfinite(loss)
