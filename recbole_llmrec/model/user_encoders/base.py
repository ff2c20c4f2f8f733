"""The interface of a user encoder (``user_encoder``): user vectors from histories, item vectors for a
catalogue, and the caches they keep."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import nn


class UserEncoder(nn.Module):
    """Maps RecBole histories to user vectors [B, D] and the bound catalogue's items to vectors [N, D];
    the learned score is their inner product (``LearnedScore``).

    Caches: :meth:`item_table` (every item's vector, evaluation) is kept until the model trains
    again (``train()``: :meth:`drop_item_table`); :meth:`forget` drops it and whatever else a
    subclass keeps, when the model loads weights or binds another catalogue. Register a new encoder in ``USER_ENCODERS``
    (``user_encoders/__init__.py``) and document its name under ``user_encoder`` in
    ``properties/model/LLMRec.yaml``.
    """

    #: Whether the encoder reads the frozen LM's title vectors (ranking terms on titles need them).
    reads_frozen_titles: bool = False
    #: Whether the LM behind ``text`` is frozen (encodes titles into fixed vectors).
    frozen_lm: bool = False

    def __init__(self, settings: Any, text: nn.Module, dataset: Any) -> None:
        super().__init__()
        self.settings = settings
        self._item_cache: Optional[torch.Tensor] = None

    @classmethod
    def check(cls, settings: Any) -> None:
        """Raise ``ValueError`` when ``settings`` (all records) do not fit this encoder."""

    @property
    def width(self) -> int:
        """D, the width of user and item vectors."""
        raise NotImplementedError

    def rebind(self, text: nn.Module, item_tokens: Optional[Sequence[str]]) -> None:
        """The model was bound to another catalogue (``item_tokens``: its raw ids, or None)."""
        self.forget()

    def forget(self) -> None:
        """Drop every cached table (they are stale)."""
        self._item_cache = None

    def drop_item_table(self) -> None:
        """Drop the evaluation item table (the weights are about to change)."""
        self._item_cache = None

    def user_vectors(self, text: nn.Module, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def item_vectors(self, text: nn.Module, item_ids: torch.Tensor) -> torch.Tensor:
        """Vectors [N, D] of bound items, with gradient when training."""
        raise NotImplementedError

    def encode_item_table(self, text: nn.Module, n_items: int) -> torch.Tensor:
        """The vectors [n_items, D] of bound items ``0 .. n_items - 1`` (called without gradient)."""
        raise NotImplementedError

    def item_table(self, text: nn.Module, n_items: int) -> torch.Tensor:
        """:meth:`encode_item_table`, computed once without gradient until :meth:`forget`."""
        if self._item_cache is None:
            with torch.no_grad():
                self._item_cache = self.encode_item_table(text, n_items)
        return self._item_cache

    def load_item_table(self, table: torch.Tensor) -> None:
        """Use ``table`` as the cached item table."""
        self._item_cache = table

    def training_item_table(self, text: nn.Module, fresh_ids: torch.Tensor,
                            fresh_vectors: torch.Tensor) -> torch.Tensor:
        """The catalogue's vectors for a training softmax, rows ``fresh_ids`` = ``fresh_vectors``."""
        raise NotImplementedError

    def scored(self, vectors: torch.Tensor) -> torch.Tensor:
        """User or item vectors as the inner product reads them (e.g. L2-normalized)."""
        return vectors

    def example_lengths(self, text: nn.Module, item_seq: torch.Tensor, item_len: torch.Tensor) -> Optional[torch.Tensor]:
        """LM tokens per example for length bucketing, or None (no LM pass per example)."""
        return None

    def item_groups(self) -> dict[str, torch.Tensor]:
        """Bool masks [n_items] of item groups the encoder knows less about (``cold``, ``unseen``)."""
        return {}

    def upgrade_state(self, state_dict: dict, prefix: str) -> None:
        """Adapt ``state_dict`` (keys under ``prefix``) before loading, e.g. to another catalogue's size."""

    def other_parameter(self) -> dict:
        """Plain data saved beside the weights."""
        return {}

    def load_other_parameter(self, para: dict) -> None:
        """Restore :meth:`other_parameter`'s data."""
