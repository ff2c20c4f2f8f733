"""Negative sampling for LLM-Rec: uniform over the target's domain, never the target itself."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn


class DomainSampler(nn.Module):
    """Samples negatives from the positive's domain (all items when the domain is unknown or too small).

    Item ids ``1..n_items-1`` are grouped by domain in ``sorted_items``; ``rank`` is each item's
    position there, so skipping the target keeps sampling exactly uniform over the other items.
    """

    def __init__(self, n_items: int, item_domain: Optional[torch.Tensor]) -> None:
        super().__init__()
        self.rebind(n_items, item_domain)

    def rebind(self, n_items: int, item_domain: Optional[torch.Tensor]) -> None:
        """Rebuild the tables for a (new) catalogue; ``item_domain`` [n_items] holds domain ids, 0 = unknown."""
        device = self.sorted_items.device if hasattr(self, "sorted_items") else torch.device("cpu")
        self.n_items = int(n_items)
        if item_domain is None:
            item_domain = torch.zeros(n_items, dtype=torch.long)
        item_domain = item_domain.detach().cpu().long().clone()
        item_domain[0] = -1  # padding item: never sampled
        order = torch.argsort(item_domain, stable=True)
        sorted_domain = item_domain[order]
        n_domains = int(item_domain.max().item()) + 1 if n_items > 1 else 1
        counts = torch.bincount(item_domain[1:], minlength=n_domains)
        starts = torch.searchsorted(sorted_domain, torch.arange(n_domains))
        rank = torch.empty_like(order)
        rank[order] = torch.arange(n_items)
        self.register_buffer("sorted_items", order.to(device), persistent=False)
        self.register_buffer("item_domain", item_domain.clamp(min=0).to(device), persistent=False)
        self.register_buffer("domain_start", starts.to(device), persistent=False)
        self.register_buffer("domain_count", counts.to(device), persistent=False)
        self.register_buffer("rank", rank.to(device), persistent=False)
        self.has_domains = bool((item_domain[1:] > 0).any().item())

    @torch.no_grad()
    def forward(self, positives: torch.Tensor, num: int) -> torch.Tensor:
        """``num`` negatives [B, num] per positive item id [B]."""
        device = positives.device
        positives = positives.long()
        batch = positives.shape[0]
        domain = self.item_domain[positives]
        count = self.domain_count[domain]
        start = self.domain_start[domain]
        rank = self.rank[positives]
        # Unknown domain (0) or a domain holding only the target: sample among all real items.
        use_all = (domain == 0) | (count < 2)
        all_start = 1  # sorted_items[0] is the padding item (domain -1 sorts first)
        all_count = self.n_items - 1
        start = torch.where(use_all, torch.full_like(start, all_start), start)
        count = torch.where(use_all, torch.full_like(count, all_count), count)
        # rank of the target inside the all-items block: position among ids sorted by domain
        pick = (torch.rand(batch, num, device=device) * (count - 1).clamp(min=1).unsqueeze(1)).long()
        pick = pick + (pick >= (rank - start).unsqueeze(1)).long()  # skip the target
        pick = torch.minimum(pick, (count - 1).clamp(min=0).unsqueeze(1))
        return self.sorted_items[start.unsqueeze(1) + pick]
