"""``sampled``: a sampled softmax with the log-q correction, for catalogues too large to score whole.

The columns are the batch's positives (in-batch negatives, Yi et al. 2019, RecSys) and
``sampled_negatives`` items drawn once per batch, with replacement, from ``sampled_distribution``
(``uniform`` over the items, or ``popularity``: proportional to training interactions). For example
i, the candidates other than its own positive are B - 1 draws from the positives' distribution ``p``
(each item's share of the training interactions; uniform when unknown) and m draws from the sampling
one ``Q``: item j is expected ``q_j = (B - 1) p_j + m Q_j`` times among them, and each such logit is
corrected by subtracting ``log q_j`` (the sampled-softmax correction: the corrected exponentials
estimate the full softmax's sum over the other items; uncorrected, popular items are negatives more
often and the model learns to under-score them). A column holding example i's positive other than
its target is an accidental hit and masked (-inf), so the others estimate the sum over the items
other than the positive; the target column, the positive itself and not a draw, adds its own term
uncorrected. Costs B + m item vectors per step, whatever the catalogue's size.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

import torch

from recbole_llmrec.model.negative_sampling.base import ItemScorer, NegativeStrategy

logger = logging.getLogger(__name__)

DISTRIBUTIONS = ("uniform", "popularity")


def corrected_logits(logits: torch.Tensor, candidates: torch.Tensor, positives: torch.Tensor,
                     log_q: torch.Tensor) -> torch.Tensor:
    """``logits`` [B, C] of ``candidates`` [C] (column i = example i's positive, its target) minus
    ``log_q`` [C], the target columns left as they are; columns other than i that hold example i's
    positive are masked with -inf (accidental hits)."""
    rows = torch.arange(positives.shape[0], device=positives.device)
    correction = log_q.unsqueeze(0).expand_as(logits).clone()
    correction[rows, rows] = 0.0
    hits = candidates.unsqueeze(0) == positives.unsqueeze(1)
    hits[rows, rows] = False
    return (logits - correction).masked_fill(hits, float("-inf"))


class SampledSoftmaxNegatives(NegativeStrategy):
    """In-batch positives plus ``sampled_negatives`` shared sampled items, each negative's logit minus
    log q; the target of example i is column i."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.rebind(1, None)

    @classmethod
    def check(cls, settings: Any) -> None:
        if settings.sampled_distribution not in DISTRIBUTIONS:
            raise ValueError(f"sampled_distribution must be one of {list(DISTRIBUTIONS)}, "
                             f"got {settings.sampled_distribution!r}")

    def rebind(self, n_items: int, item_domain: Optional[torch.Tensor],
               item_counts: Optional[torch.Tensor] = None) -> None:
        device = self.positive_probs.device if hasattr(self, "positive_probs") else torch.device("cpu")
        real = torch.ones(n_items)
        real[0] = 0.0  # padding: never a candidate
        counts = real
        if item_counts is not None and float(item_counts[1:].sum()) > 0:
            counts = torch.zeros(n_items)
            given = item_counts.detach().cpu().float()[:n_items]
            counts[1:given.shape[0]] = given[1:]
        positive = counts / counts.sum().clamp(min=1e-12)
        sample = positive if self.settings.sampled_distribution == "popularity" else real / real.sum().clamp(min=1)
        self.register_buffer("positive_probs", positive.to(device), persistent=False)
        self.register_buffer("sample_probs", sample.to(device), persistent=False)
        self.register_buffer("sample_cdf", torch.cumsum(sample.double(), 0).to(device), persistent=False)
        logger.debug("sampled softmax over %d items: %s sampling, positives' distribution from %s", n_items,
                     self.settings.sampled_distribution, "counts" if counts is not real else "uniform")

    def sample(self, num: int, device: torch.device) -> torch.Tensor:
        """``num`` item ids drawn from the sampling distribution, with replacement."""
        cdf = self.sample_cdf
        draws = torch.rand(num, dtype=torch.float64, device=device) * cdf[-1]
        return torch.searchsorted(cdf, draws, right=True).clamp(max=cdf.shape[0] - 1)

    def log_q(self, candidates: torch.Tensor, batch: int, num: int) -> torch.Tensor:
        """log of the expected count of each of ``candidates`` among one example's other candidates: the
        ``batch - 1`` other positives and ``num`` sampled items (floored at the smallest over the
        catalogue, so an item the counts never saw stays finite)."""
        q = (batch - 1) * self.positive_probs + num * self.sample_probs
        floor = q[q > 0].min() if bool((q > 0).any()) else q.new_tensor(1.0)
        return torch.log(q[candidates].clamp(min=floor))

    def forward(self, items: ItemScorer, users: torch.Tensor, positives: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, num = positives.shape[0], int(self.settings.sampled_negatives)
        candidates = torch.cat([positives, self.sample(num, positives.device)]) if num else positives
        unique, inverse = torch.unique(candidates, return_inverse=True)
        vectors = items.vectors(unique)[inverse]
        logits = users @ vectors.T
        log_q = self.log_q(candidates, batch, num).to(logits.dtype)
        return corrected_logits(logits, candidates, positives, log_q), torch.arange(batch, device=positives.device)
