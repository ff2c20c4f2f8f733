"""Item-id fusion: a learned id embedding added to the text part of an item vector.

It starts at zero, so training begins from the text vectors. Items are matched to the embedding by
their raw item id (token): an item of another catalogue that the model never trained on (zero-shot,
a user's own catalogue) gets no id part and is scored from its text alone.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn


class ItemIdFusion(nn.Module):
    """``forward(ids) -> [N, dim]``: the learned id vector of each current id (zeros for unseen items)."""

    def __init__(self, trained_tokens: Sequence[str], dim: int) -> None:
        super().__init__()
        self.trained_tokens = [str(t) for t in trained_tokens]  # index = trained item id
        self._index = {token: i for i, token in enumerate(self.trained_tokens) if i > 0}
        self.embedding = nn.Embedding(len(self.trained_tokens), dim, padding_idx=0)
        nn.init.zeros_(self.embedding.weight)
        self.register_buffer("remap", torch.arange(len(self.trained_tokens)), persistent=False)

    def rebind(self, item_tokens: Optional[Sequence[str]], n_items: int) -> None:
        """Map the current catalogue's ids (``item_tokens``, index = id) to trained ids; unknown -> 0.

        ``item_tokens=None`` means a catalogue without raw ids: no item gets an id part.
        """
        remap = np.zeros(n_items, dtype=np.int64)
        if item_tokens is not None:
            for i, token in enumerate(item_tokens[:n_items]):
                if i > 0:
                    remap[i] = self._index.get(str(token), 0)
        self.remap = torch.from_numpy(remap).to(self.embedding.weight.device)

    @property
    def known(self) -> torch.Tensor:
        """Bool [n_items]: which current ids have a learned id part."""
        return self.remap > 0

    def forward(self, item_ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(self.remap[item_ids])
