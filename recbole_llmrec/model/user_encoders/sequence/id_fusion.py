"""Item-id fusion: a learned id embedding added to the text part of an item vector.

It starts at zero, so training begins from the text vectors. Items are matched to the embedding by
their raw item id (token): an item of another catalogue that the model never trained on (zero-shot,
a user's own catalogue) gets no id part and is scored from its text alone. So does a *cold* item: one
of the training catalogue that no training interaction reached. Its id vector could only have
learned to be a negative, so it has none (``learned`` is False for its row).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn


class ItemIdFusion(nn.Module):
    """``forward(ids) -> [N, dim]``: the learned id vector of each current id (zeros for unseen and
    cold items)."""

    def __init__(self, trained_tokens: Sequence[str], dim: int,
                 learned: Optional[Sequence[bool]] = None) -> None:
        super().__init__()
        self.embedding = nn.Embedding(len(trained_tokens), dim, padding_idx=0)
        nn.init.zeros_(self.embedding.weight)
        self.register_buffer("remap", torch.arange(len(trained_tokens)), persistent=False)
        self.register_buffer("catalogue", torch.ones(len(trained_tokens), dtype=torch.bool), persistent=False)
        self._current: Optional[list[str]] = None
        self._n_items = len(trained_tokens)
        self.set_trained_tokens(trained_tokens, learned)

    def set_trained_tokens(self, tokens: Sequence[str], learned: Optional[Sequence[bool]] = None) -> None:
        """The raw item id of every row of the embedding (index = trained id) and whether the row has an
        id vector (``learned``; None: every row; row 0, padding, is never matched). Both are saved
        with checkpoints."""
        if len(tokens) != self.embedding.num_embeddings:
            raise ValueError(f"{len(tokens)} item ids for an id embedding of {self.embedding.num_embeddings} rows")
        if learned is not None and len(learned) != len(tokens):
            raise ValueError(f"{len(learned)} learned flags for {len(tokens)} item ids")
        self.trained_tokens = [str(t) for t in tokens]
        self.learned = [True] * len(tokens) if learned is None else [bool(f) for f in learned]
        self._index = {token: i for i, token in enumerate(self.trained_tokens) if i > 0}
        self.rebind(self._current, self._n_items)

    def resize(self, rows: int) -> None:
        """Make room for a checkpoint's embedding of ``rows`` items (trained on another catalogue); until
        :meth:`set_trained_tokens` names them, no current item is matched."""
        device = self.embedding.weight.device
        self.embedding = nn.Embedding(rows, self.embedding.embedding_dim, padding_idx=0).to(device)
        self.trained_tokens, self.learned, self._index = [""] * rows, [True] * rows, {}
        self.rebind(self._current, self._n_items)

    def rebind(self, item_tokens: Optional[Sequence[str]], n_items: int) -> None:
        """Map the current catalogue's ids (``item_tokens``, index = id) to trained ids with an id vector;
        unknown and cold items -> 0 (no id part).

        ``item_tokens=None`` means a catalogue without raw ids: no item gets an id part.
        """
        self._current = None if item_tokens is None else [str(t) for t in item_tokens[:n_items]]
        self._n_items = n_items
        remap = np.zeros(n_items, dtype=np.int64)
        catalogue = np.zeros(n_items, dtype=bool)
        if self._current is not None:
            for i, token in enumerate(self._current):
                row = self._index.get(token, 0) if i > 0 else 0
                catalogue[i] = row > 0
                remap[i] = row if self.learned[row] else 0
        device = self.embedding.weight.device
        self.remap = torch.from_numpy(remap).to(device)
        self.catalogue = torch.from_numpy(catalogue).to(device)

    @property
    def known(self) -> torch.Tensor:
        """Bool [n_items]: which current ids have a learned id part."""
        return self.remap > 0

    @property
    def cold(self) -> torch.Tensor:
        """Bool [n_items]: current ids of the training catalogue without an id part (no training interaction)."""
        return self.catalogue & ~self.known

    def forward(self, item_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Id vectors of ``item_ids`` (None: of every current id, in id order)."""
        return self.embedding(self.remap if item_ids is None else self.remap[item_ids])
