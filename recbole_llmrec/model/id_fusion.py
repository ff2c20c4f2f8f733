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
        self.embedding = nn.Embedding(len(trained_tokens), dim, padding_idx=0)
        nn.init.zeros_(self.embedding.weight)
        self.register_buffer("remap", torch.arange(len(trained_tokens)), persistent=False)
        self._current: Optional[list[str]] = None
        self._n_items = len(trained_tokens)
        self.set_trained_tokens(trained_tokens)

    def set_trained_tokens(self, tokens: Sequence[str]) -> None:
        """The raw item id of every row of the embedding (index = trained id; saved with checkpoints)."""
        if len(tokens) != self.embedding.num_embeddings:
            raise ValueError(f"{len(tokens)} item ids for an id embedding of {self.embedding.num_embeddings} rows")
        self.trained_tokens = [str(t) for t in tokens]
        self._index = {token: i for i, token in enumerate(self.trained_tokens) if i > 0}
        self.rebind(self._current, self._n_items)

    def resize(self, rows: int) -> None:
        """Make room for a checkpoint's embedding of ``rows`` items (trained on another catalogue); until
        :meth:`set_trained_tokens` names them, no current item is matched."""
        device = self.embedding.weight.device
        self.embedding = nn.Embedding(rows, self.embedding.embedding_dim, padding_idx=0).to(device)
        self.trained_tokens, self._index = [""] * rows, {}
        self.rebind(self._current, self._n_items)

    def rebind(self, item_tokens: Optional[Sequence[str]], n_items: int) -> None:
        """Map the current catalogue's ids (``item_tokens``, index = id) to trained ids; unknown -> 0.

        ``item_tokens=None`` means a catalogue without raw ids: no item gets an id part.
        """
        self._current = None if item_tokens is None else [str(t) for t in item_tokens[:n_items]]
        self._n_items = n_items
        remap = np.zeros(n_items, dtype=np.int64)
        if self._current is not None:
            for i, token in enumerate(self._current):
                if i > 0:
                    remap[i] = self._index.get(token, 0)
        self.remap = torch.from_numpy(remap).to(self.embedding.weight.device)

    @property
    def known(self) -> torch.Tensor:
        """Bool [n_items]: which current ids have a learned id part."""
        return self.remap > 0

    def forward(self, item_ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(self.remap[item_ids])
