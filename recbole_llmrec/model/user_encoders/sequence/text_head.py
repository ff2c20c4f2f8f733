"""``text_head``: a learned text-similarity path in the frozen LM's own vector space.

The sequence encoder's main path maps LM title vectors to a small item space (whitening fitted on
the training catalogue, a 64-wide linear map, item ids): on items it never saw it keeps little of
what the LM knows. The text head scores in the LM's space itself: an item is its unit LM title
vector ``t`` (plus a low-rank learned correction ``t A B``, rank ``text_head_rank``, which starts at
0); a user is the normalized, recency-weighted sum of the history's item vectors, with one learned
weight per age (0 = the last item). The item side carries a learned scale, one for items with a
learned id part and one for items scored from text alone (cold items, items of another catalogue,
and in training the items whose id part ``id_dropout`` dropped): how much the title similarity
counts against the main path is learned for both cases. Trained with the rest of the model by the
same loss, it reads only titles, so it carries over to a catalogue of unseen items as it is.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn


class TextHead(nn.Module):
    """``items(unit [N, dim]) -> [N, dim]``, times ``scale(has_id)``, and ``users(items(history units)
    [B, L, dim], seq, len) -> [B, dim]``: the text score is their inner product."""

    def __init__(self, dim: int, max_history: int, rank: int, init_scale: float = 4.0) -> None:
        super().__init__()
        self.dim = dim
        # one logit per age; starts favouring recent items (softmax weight of the last one: ~0.63)
        self.recency = nn.Parameter(-torch.arange(max_history, dtype=torch.float))
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))  # items with an id part
        self.log_scale_text_only = nn.Parameter(torch.tensor(math.log(init_scale)))
        self.down = nn.Linear(dim, rank, bias=False) if rank else None
        self.up = nn.Linear(rank, dim, bias=False) if rank else None
        if rank:
            nn.init.normal_(self.down.weight, std=dim ** -0.5)
            nn.init.zeros_(self.up.weight)  # the head starts as the LM's own cosine

    def items(self, unit: torch.Tensor) -> torch.Tensor:
        """Item vectors of unit LM title vectors (the LM space, plus the learned low-rank part)."""
        return unit if self.down is None else unit + self.up(self.down(unit))

    def scale(self, has_id: Optional[torch.Tensor]) -> torch.Tensor:
        """The item-side scale [..., 1] (``has_id``: bool [...]; None: every item has an id part)."""
        if has_id is None:
            return self.log_scale.exp()
        return torch.where(has_id, self.log_scale, self.log_scale_text_only).exp().unsqueeze(-1)

    def users(self, history: torch.Tensor, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        """Unit user vectors from the :meth:`items` vectors [B, L, dim] of left-aligned histories (oldest first)."""
        slots = torch.arange(item_seq.shape[1], device=item_seq.device)
        age = (item_len.long().unsqueeze(1) - 1 - slots).clamp(min=0, max=self.recency.shape[0] - 1)
        real = (item_seq > 0) & (slots.unsqueeze(0) < item_len.long().unsqueeze(1))
        logits = self.recency[age].masked_fill(~real, float("-inf"))
        weights = torch.softmax(logits, dim=1).nan_to_num(0.0)  # an empty history scores 0
        mixed = (weights.unsqueeze(-1) * history).sum(1)
        return nn.functional.normalize(mixed, dim=-1)
