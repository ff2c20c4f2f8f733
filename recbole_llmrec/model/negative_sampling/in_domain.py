"""``in_domain`` (the paper): ``num_negatives`` items drawn uniformly from the target's domain."""
from __future__ import annotations

from typing import Any, Optional

import torch

from recbole_llmrec.model.negative_sampling.base import ItemScorer, NegativeStrategy
from recbole_llmrec.model.negative_sampling.domain_sampler import DomainSampler


class InDomainNegatives(NegativeStrategy):
    """Column 0 is the positive, then ``num_negatives`` sampled items of its domain (never itself)."""

    needs_domains = True

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.sampler = DomainSampler(1, None)

    @classmethod
    def check(cls, settings: Any) -> None:
        if settings.num_negatives < 1:
            raise ValueError(f"negative_sampling={settings.negative_sampling!r} needs num_negatives >= 1")

    def rebind(self, n_items: int, item_domain: Optional[torch.Tensor],
               item_counts: Optional[torch.Tensor] = None) -> None:
        self.sampler.rebind(n_items, item_domain)

    def candidate_logits(self, items: ItemScorer, users: torch.Tensor, positives: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits [B, 1 + num_negatives], positive vectors [B, D])``; each distinct item encoded once."""
        batch, num = positives.shape[0], self.settings.num_negatives
        negatives = self.sampler(positives, num)
        unique, inverse = torch.unique(torch.cat([positives, negatives.reshape(-1)]), return_inverse=True)
        vectors = items.vectors(unique)
        pos_vectors = vectors[inverse[:batch]]
        neg_vectors = vectors[inverse[batch:]].view(batch, num, -1)
        logits = torch.cat([(users * pos_vectors).sum(-1, keepdim=True),
                            torch.einsum("bd,bnd->bn", users, neg_vectors)], dim=1)
        return logits, pos_vectors

    def forward(self, items: ItemScorer, users: torch.Tensor, positives: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, _ = self.candidate_logits(items, users, positives)
        return logits, positives.new_zeros(positives.shape[0])
