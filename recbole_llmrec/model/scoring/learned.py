"""``learned``: the trained part, the inner product of the user vector and the item vector (times
``logit_scale``); the only term the training loss sees."""
from __future__ import annotations

import torch

from recbole_llmrec.model.scoring.base import ScoringModel, ScoringTerm


class LearnedScore(ScoringTerm):
    """User vector · item vector; weight 1 (the scale is ``logit_scale``, shared with training)."""

    def user_side(self, model: ScoringModel, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        return model.items.query(item_seq, item_len)

    def columns(self, model: ScoringModel, users: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        return users @ model.items.scored_rows(start, stop).T

    def pointwise(self, model: ScoringModel, item_seq: torch.Tensor, item_len: torch.Tensor,
                  items: torch.Tensor) -> torch.Tensor:
        """Sampled evaluation repeats each user's row once per candidate (1,001 times under the
        paper's protocol): each distinct history is encoded once."""
        rows = torch.cat([item_seq, item_len.unsqueeze(1)], dim=1)
        histories, inverse = torch.unique(rows, dim=0, return_inverse=True)
        users = model.items.query(histories[:, :-1], histories[:, -1])[inverse]
        return (users * model.items.scored(items)).sum(-1)
