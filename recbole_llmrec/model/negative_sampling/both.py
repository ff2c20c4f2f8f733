"""``both``: in-domain sampled negatives and the batch's other positives together."""
from __future__ import annotations

import torch

from recbole_llmrec.model.negative_sampling.base import ItemScorer, in_batch_logits
from recbole_llmrec.model.negative_sampling.in_domain import InDomainNegatives


class InDomainAndInBatchNegatives(InDomainNegatives):
    """Columns: the positive, ``num_negatives`` in-domain items (may be 0), then the other examples' positives."""

    @classmethod
    def check(cls, settings) -> None:  # num_negatives = 0 leaves plain in-batch negatives
        pass

    def forward(self, items: ItemScorer, users: torch.Tensor, positives: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, pos_vectors = self.candidate_logits(items, users, positives)
        in_batch = in_batch_logits(users, positives, pos_vectors)
        in_batch.fill_diagonal_(float("-inf"))  # the positive is column 0 already
        return torch.cat([logits, in_batch], dim=1), positives.new_zeros(positives.shape[0])
