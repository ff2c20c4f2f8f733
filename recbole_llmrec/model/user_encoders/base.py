"""The interface of a user encoder (``user_encoder``): user vectors from histories, item vectors for a
catalogue; the tables it keeps live in one :class:`~recbole_llmrec.model.user_encoders.item_tables.ItemTableCache`."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import nn

from recbole_llmrec.model.text.text_encoder import TextOutput
from recbole_llmrec.model.user_encoders.item_tables import ItemTableCache


class UserEncoder(nn.Module):
    """Maps RecBole histories to user vectors [B, D] and the bound catalogue's items to vectors [N, D];
    the learned score is their inner product (``LearnedScore``).

    ``settings`` is the encoder's own record (``model/settings.py``). :attr:`tables` keeps the evaluation
    item table (:meth:`_encode_item_table`'s, read through ``model.items``) and whatever else the encoder
    computes once per catalogue. Register a
    new encoder in ``USER_ENCODERS`` (``user_encoders/__init__.py``), its record in ``model/settings.py``
    and document its name under ``user_encoder`` in ``properties/model/LLMRec.yaml``.
    """

    #: Whether the encoder reads the frozen LM's title vectors (ranking terms on titles need them).
    reads_frozen_titles: bool = False
    #: Whether the LM behind ``text`` is frozen (encodes titles into fixed vectors).
    frozen_lm: bool = False

    def __init__(self, settings: Any, text: nn.Module, catalogue: Any) -> None:
        super().__init__()
        self.settings = settings
        #: The tables kept between calls (:mod:`~recbole_llmrec.model.user_encoders.item_tables`).
        self.tables = ItemTableCache()

    @classmethod
    def check(cls, settings: Any, lm: Any) -> None:
        """Raise ``ValueError`` when the encoder's ``settings`` do not fit the LM's (``LMSettings``)."""

    @classmethod
    def text_output(cls, settings: Any, lm: Any) -> TextOutput:
        """What the LM's pooled vectors become for this encoder (projection head, normalization)."""
        return TextOutput()

    @property
    def width(self) -> int:
        """D, the width of user and item vectors."""
        raise NotImplementedError

    def rebind(self, text: nn.Module, item_tokens: Optional[Sequence[str]]) -> None:
        """The model was bound to another catalogue (``item_tokens``: its raw ids, or None)."""
        self.tables.drop("catalogue")

    def user_vectors(self, text: nn.Module, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def item_vectors(self, text: nn.Module, item_ids: torch.Tensor) -> torch.Tensor:
        """Vectors [N, D] of bound items, with gradient when training."""
        raise NotImplementedError

    def _encode_item_table(self, text: nn.Module, n_items: int) -> torch.Tensor:
        """The vectors [n_items, D] of bound items ``0 .. n_items - 1``: the hook behind the model's evaluation
        table (``model.items.table()``, called without gradient and kept in :attr:`tables`)."""
        raise NotImplementedError

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

    def other_parameter(self) -> dict:
        """Plain data saved beside the weights."""
        return {}

    def load_other_parameter(self, para: dict) -> None:
        """Restore :meth:`other_parameter`'s data."""
