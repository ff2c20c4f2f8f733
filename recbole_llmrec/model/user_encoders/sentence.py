"""``user_encoder: sentence`` (the paper): the history's recent titles are one sentence through the LM;
each item is its title through the same LM."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from recbole_llmrec.data.bucketing import history_token_lengths
from recbole_llmrec.distributed.collectives import gather_sharded_items, rank_and_world
from recbole_llmrec.model.text.text_encoder import SAME_WIDTH, TextOutput
from recbole_llmrec.model.user_encoders.base import UserEncoder


class SentenceUserEncoder(UserEncoder):
    """Tables: the evaluation item table, and for ``full_catalogue`` training a table encoded without
    gradient that goes stale after ``item_table_refresh_steps`` steps (then it is encoded again).
    ``settings``: :class:`~recbole_llmrec.model.settings.SentenceSettings`; its projection head
    (``projection_size``) and normalization are applied by the LM (:meth:`text_output`)."""

    def __init__(self, settings: Any, text: nn.Module, catalogue: Any) -> None:
        super().__init__(settings, text, catalogue)
        self._width = text.output_size
        self._steps_since_refresh = 0
        #: How many times the stale training item table was (re)encoded.
        self.table_refreshes = 0
        #: Encode the evaluation item table in shards across DDP ranks (every rank must call ``model.items.table()``).
        self.shard_item_table = False

    @classmethod
    def check(cls, settings: Any, lm: Any) -> None:
        if lm.title_vectors_file is not None:
            raise ValueError("title_vectors_file replaces the frozen LM's title vectors: it needs user_encoder "
                             "'sequence' (the sentence encoder runs the LM over every history)")

    @classmethod
    def text_output(cls, settings: Any, lm: Any) -> TextOutput:
        """The projection head (``projection_size``; a frozen LM gets one of its own width, the only trained
        part) and the normalization (``normalize_embeddings``) of the LM's vectors."""
        size = settings.projection_size
        return TextOutput(SAME_WIDTH if size is None and lm.tuning == "frozen" else size, settings.normalize_embeddings)

    @property
    def width(self) -> int:
        return self._width

    def user_vectors(self, text: nn.Module, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        return text.encode_histories(item_seq, item_len, self.settings.max_history)

    def item_vectors(self, text: nn.Module, item_ids: torch.Tensor) -> torch.Tensor:
        return text(item_ids)

    def training_item_table(self, text: nn.Module, fresh_ids: torch.Tensor,
                            fresh_vectors: torch.Tensor) -> torch.Tensor:
        table = self.tables.peek("training_table")
        if table is None or self._steps_since_refresh >= self.settings.item_table_refresh_steps:
            table = text.encode_catalogue(torch.arange(1, text.n_items, device=fresh_ids.device))
            table = torch.cat([torch.zeros_like(table[:1]), table])
            self.tables.put("training_table", table, until="forget")
            self._steps_since_refresh = 0
            self.table_refreshes += 1
        self._steps_since_refresh += 1
        return table.index_copy(0, fresh_ids, fresh_vectors.to(table.dtype))

    def _encode_item_table(self, text: nn.Module, n_items: int) -> torch.Tensor:
        """Every title through the LM; with :attr:`shard_item_table` (DDP) each rank encodes every
        ``world``-th title (shortest first) and the shards are all-gathered."""
        rank, world = rank_and_world() if self.shard_item_table else (0, 1)
        if world == 1:
            return text.encode_catalogue(torch.arange(n_items, device=text.title_ids.device))
        order = torch.argsort(text.title_lengths()[:n_items], stable=True)
        mine = order[rank::world]
        if len(mine) == 0:  # more ranks than items: an empty shard of the right width
            vecs = text(order[:1])[:0]
        else:
            vecs = text.encode_catalogue(mine)
        return gather_sharded_items(vecs, order, world)

    def example_lengths(self, text: nn.Module, item_seq: torch.Tensor, item_len: torch.Tensor) -> Optional[torch.Tensor]:
        return history_token_lengths(item_len.cpu(), item_seq.cpu(), text.title_lengths().cpu(),
                                     self.settings.max_history, text.lm.special)
