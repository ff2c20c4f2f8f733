"""``in_batch``: the other examples' positives are each example's negatives (no extra item encodings)."""
from __future__ import annotations

import torch

from recbole_llmrec.model.negative_sampling.base import ItemScorer, NegativeStrategy, in_batch_logits


class InBatchNegatives(NegativeStrategy):
    """Scores each user against every positive of the batch; the target is its own (the diagonal)."""

    def forward(self, items: ItemScorer, users: torch.Tensor, positives: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        unique, inverse = torch.unique(positives, return_inverse=True)
        pos_vectors = items.vectors(unique)[inverse]
        logits = in_batch_logits(users, positives, pos_vectors)
        return logits, torch.arange(positives.shape[0], device=positives.device)
