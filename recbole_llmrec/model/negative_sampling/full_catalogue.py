"""``full_catalogue``: every item is a negative (softmax over the whole catalogue, as SASRec's CE).

The model supplies the catalogue's vectors (``training_table``): exact and with gradient
where items are cheap to encode (``user_encoder: sequence``), or a table encoded without gradient and
refreshed every ``item_table_refresh_steps`` steps (stale negatives) where each item is an LM pass
(``user_encoder: sentence``). The batch's positives are always encoded fresh, with gradient, and take
their rows in that table: the other examples' positives are fresh negatives too (in-batch included).
"""
from __future__ import annotations

import torch

from recbole_llmrec.model.negative_sampling.base import ItemScorer, NegativeStrategy


class FullCatalogueNegatives(NegativeStrategy):
    """Logits [B, n_items] against every item (column 0, padding, is -inf); the target is the item id."""

    def forward(self, items: ItemScorer, users: torch.Tensor, positives: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        unique = torch.unique(positives)
        table = items.training_table(unique, items.vectors(unique))
        logits = users @ table.T
        logits[:, 0] = float("-inf")
        return logits, positives
