"""The interface every training negative-sampling strategy implements."""
from __future__ import annotations

from typing import Any, Optional, Protocol

import torch
from torch import nn


class ItemScorer(Protocol):
    """What a strategy scores against (LLMRec's :class:`~recbole_llmrec.model.item_table.ScoredItems`)."""

    def vectors(self, item_ids: torch.Tensor) -> torch.Tensor:
        """Fresh item vectors [N, D] of ``item_ids`` [N], with gradient."""

    def training_table(self, fresh_ids: torch.Tensor, fresh_vectors: torch.Tensor) -> torch.Tensor:
        """Vectors [n_items, D] of the whole catalogue for training, ``fresh_ids`` rows = ``fresh_vectors``."""


class NegativeStrategy(nn.Module):
    """Turns user vectors [B, D] and positive item ids [B] into ``(logits [B, C], targets [B])``.

    ``calculate_loss`` applies the logit scale and the cross-entropy; a strategy only chooses the
    candidates each example is scored against. ``settings`` is the
    :class:`~recbole_llmrec.model.settings.NegativeSettings` record. Register a new one in ``STRATEGIES``
    (``negative_sampling/__init__.py``) and document its name under ``negative_sampling`` in
    ``properties/model/LLMRec.yaml``.
    """

    #: Whether the strategy samples by item domain (the model warns when a catalogue has none).
    needs_domains: bool = False

    def __init__(self, settings: Any) -> None:
        super().__init__()
        self.settings = settings

    @classmethod
    def check(cls, settings: Any) -> None:
        """Raise ``ValueError`` when ``settings`` do not fit this strategy (called by settings validation)."""

    def rebind(self, n_items: int, item_domain: Optional[torch.Tensor],
               item_counts: Optional[torch.Tensor] = None) -> None:
        """The model was bound to a (new) catalogue of ``n_items`` ids with these domain ids (0 = unknown)
        and interactions per item (``item_counts`` [n_items]: the training positives; None = unknown)."""

    def forward(self, items: ItemScorer, users: torch.Tensor, positives: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


def in_batch_logits(users: torch.Tensor, positives: torch.Tensor, pos_vectors: torch.Tensor) -> torch.Tensor:
    """Scores [B, B] of every user against every example's positive; repeats of one's own positive
    (another example with the same item, not the diagonal) are masked with -inf."""
    logits = users @ pos_vectors.T
    same = positives.unsqueeze(1) == positives.unsqueeze(0)
    same.fill_diagonal_(False)
    return logits.masked_fill(same, float("-inf"))
