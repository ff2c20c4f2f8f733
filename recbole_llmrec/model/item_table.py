"""``model.items``: LLMRec's item table, the bound catalogue's item vectors as the learned score reads them.

The learned score is an inner product: a user vector (:meth:`ItemTable.query`) against item vectors
(:meth:`ItemTable.scored`, :meth:`ItemTable.scored_rows`), both as the user encoder scores them
(L2-normalized where scores are cosines; the user side times ``logit_scale``). In training the item
vectors are fresh, with gradient (:meth:`ItemTable.vectors`, :meth:`ItemTable.training_table`, read by
the negative-sampling strategies through :class:`ScoredItems`); for ranking the whole table is encoded
once without gradient and kept in the user encoder's
:class:`~recbole_llmrec.model.user_encoders.item_tables.ItemTableCache` until the model trains again.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import torch

if TYPE_CHECKING:
    from recbole_llmrec.model.llmrec import LLMRec


class ItemTable:
    """The item vectors of the model's bound catalogue (``model.items``); reads the model's ``text``,
    ``users`` and ``n_items`` (RecBole's, which a benchmark may cut to rank part of the catalogue)."""

    def __init__(self, model: "LLMRec") -> None:
        self._model = model

    @property
    def width(self) -> int:
        """D, the width of item and user vectors."""
        return self._model.users.width

    @property
    def shard(self) -> bool:
        """Encode the evaluation table in shards across DDP ranks (set by the trainer; sentence encoder)."""
        return bool(getattr(self._model.users, "shard_item_table", False))

    @shard.setter
    def shard(self, value: bool) -> None:
        if hasattr(self._model.users, "shard_item_table"):
            self._model.users.shard_item_table = value

    def vectors(self, item_ids: torch.Tensor) -> torch.Tensor:
        """Item vectors [N, D] of ``item_ids`` [N], with gradient when training."""
        return self._model.users.item_vectors(self._model.text, item_ids)

    def training_table(self, fresh_ids: torch.Tensor, fresh_vectors: torch.Tensor) -> torch.Tensor:
        """The whole catalogue's vectors for a training softmax, ``fresh_ids`` rows = ``fresh_vectors``."""
        return self._model.users.training_item_table(self._model.text, fresh_ids, fresh_vectors)

    def table(self) -> torch.Tensor:
        """All item vectors [n_items, D] for evaluation, computed once without gradient and kept."""
        model = self._model

        def encode() -> torch.Tensor:
            with torch.no_grad():
                return model.users._encode_item_table(model.text, model.n_items)
        return model.users.tables.get("item_table", encode)

    def load(self, table: torch.Tensor) -> None:
        """Use ``table`` [n_items, D] (e.g. from an on-disk cache) as the evaluation table."""
        expected = (self._model.n_items, self.width)
        if tuple(table.shape) != expected:
            raise ValueError(f"item table has shape {tuple(table.shape)}, expected {expected}")
        self._model.users.tables.put("item_table", table.to(self._model.text.device))

    def invalidate(self) -> None:
        """Forget the kept tables (weights changed outside training, e.g. a step in eval mode)."""
        self._model.users.tables.drop("forget")

    def query(self, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        """User vectors [B, D] as scored against the table: normalized where scores are cosines, times
        ``logit_scale``."""
        model = self._model
        return model.users.scored(model.encode_users(item_seq, item_len)) * model.settings.negatives.logit_scale

    def scored(self, item_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Item vectors as scored (of ``item_ids``, default all): fresh in training, else the table's rows."""
        users = self._model.users
        if self._model.training and item_ids is not None:
            return users.scored(self.vectors(item_ids))
        table = self.table()
        return users.scored(table if item_ids is None else table[item_ids])

    def scored_rows(self, start: int, stop: int) -> torch.Tensor:
        """Rows ``start..stop-1`` of the table as scored (one chunk of full-catalogue scoring)."""
        return self._model.users.scored(self.table()[start:stop])


class ScoredItems:
    """The item vectors a negative-sampling strategy scores against (as scored: normalized where cosines)."""

    def __init__(self, items: ItemTable, users: torch.nn.Module) -> None:
        self._items = items
        self._users = users

    def vectors(self, item_ids: torch.Tensor) -> torch.Tensor:
        """Fresh item vectors [N, D] of ``item_ids`` [N], with gradient."""
        return self._users.scored(self._items.vectors(item_ids))

    def training_table(self, fresh_ids: torch.Tensor, fresh_vectors: torch.Tensor) -> torch.Tensor:
        """Vectors [n_items, D] of the whole catalogue for training, ``fresh_ids`` rows = ``fresh_vectors``."""
        return self._users.scored(self._items.training_table(fresh_ids, fresh_vectors))
