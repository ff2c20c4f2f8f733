"""``user_encoder: sequence`` (the CPU default): the frozen LM encodes every title once; an adaptor
(whitening / MLP) maps those vectors to item vectors, optionally plus a learned item-id part
(``id_fusion``), and a SASRec-sized transformer over the history's item vectors gives the user vector."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import nn

from recbole_llmrec.data.item_counts import item_train_counts
from recbole_llmrec.model.adaptor import TextAdaptor
from recbole_llmrec.model.id_fusion import ItemIdFusion
from recbole_llmrec.model.sequence_user_encoder import HistoryTransformer, recent_items
from recbole_llmrec.model.user_encoders.base import UserEncoder


class SequenceUserEncoder(UserEncoder):
    """Caches: the evaluation item table and the whitened title vectors (``features``: stale when the
    catalogue changes or weights are loaded, since the whitening statistics may change)."""

    reads_frozen_titles = True
    frozen_lm = True

    def __init__(self, settings: Any, text: nn.Module, dataset: Any) -> None:
        super().__init__(settings, text, dataset)
        s = settings
        d = s.seq_hidden_size
        self.adaptor = TextAdaptor(s.adaptor, text.output_size, d, s.seq_dropout)
        self.id_fusion: Optional[ItemIdFusion] = None
        if s.id_fusion:  # items without a training interaction get no id vector (only ever a negative)
            learned = (item_train_counts(dataset) > 0).tolist()
            self.id_fusion = ItemIdFusion(dataset.field2id_token[dataset.iid_field], d, learned)
        self.transformer = HistoryTransformer(d, s.seq_inner_size, s.seq_layers, s.seq_heads, s.seq_dropout, s.max_history)
        self._features: Optional[torch.Tensor] = None

    @classmethod
    def check(cls, settings: Any) -> None:
        if settings.tuning != "frozen":
            raise ValueError("user_encoder 'sequence' reads LM title vectors encoded once: it needs tuning "
                             f"'frozen', got {settings.tuning!r}")

    @property
    def width(self) -> int:
        return self.settings.seq_hidden_size

    def rebind(self, text: nn.Module, item_tokens: Optional[Sequence[str]]) -> None:
        if self.id_fusion is not None:
            self.id_fusion.rebind(item_tokens, text.n_items)
        self._features = None
        super().rebind(text, item_tokens)

    def forget_features(self) -> None:
        """The whitening statistics may have changed (weights loaded)."""
        self._features = None

    def features(self, text: nn.Module) -> torch.Tensor:
        """The adaptor's fixed part (whitening) of every title vector, computed once. Whitening
        statistics are fitted on the first catalogue the model trains with, then kept (checkpoints)."""
        if self._features is None:
            vectors = text.title_vectors()
            if self.adaptor.needs_fit:
                self.adaptor.fit(vectors[1:])
            with torch.no_grad():
                self._features = self.adaptor.fixed(vectors)
        return self._features

    def item_vectors(self, text: nn.Module, item_ids: torch.Tensor) -> torch.Tensor:
        vectors = self.adaptor(self.features(text)[item_ids])
        if self.id_fusion is not None:
            ids = self.id_fusion(item_ids)
            if self.training and self.settings.id_dropout > 0:  # learn to rank from text alone too
                keep = torch.rand(ids.shape[:-1] + (1,), device=ids.device) >= self.settings.id_dropout
                ids = ids * keep
            vectors = vectors + ids
        return vectors

    def text_item_vectors(self, lm_vectors: torch.Tensor) -> torch.Tensor:
        """Item vectors of LM title vectors alone (no id part)."""
        return self.adaptor(self.adaptor.fixed(lm_vectors))

    def user_vectors(self, text: nn.Module, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        seq, length = recent_items(item_seq, item_len, self.settings.max_history)
        return self.transformer(self.item_vectors(text, seq), seq, length)

    def encode_item_table(self, text: nn.Module, n_items: int) -> torch.Tensor:
        return self.item_vectors(text, torch.arange(n_items, device=text.title_ids.device))

    def training_item_table(self, text: nn.Module, fresh_ids: torch.Tensor,
                            fresh_vectors: torch.Tensor) -> torch.Tensor:
        """Every row exact and with gradient (item vectors are cheap)."""
        return self.item_vectors(text, torch.arange(text.n_items, device=fresh_ids.device))

    def scored(self, vectors: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(vectors, dim=-1) if self.settings.normalize_embeddings else vectors

    def item_groups(self) -> dict[str, torch.Tensor]:
        """``cold``: items of the training catalogue without an id part; ``unseen``: items of another
        catalogue. Empty without ``id_fusion``."""
        if self.id_fusion is None:
            return {}
        cold = self.id_fusion.cold
        return {"cold": cold, "unseen": ~self.id_fusion.known & ~cold}

    def upgrade_state(self, state_dict: dict, prefix: str) -> None:
        rows = state_dict.get(prefix + "id_fusion.embedding.weight")
        if self.id_fusion is not None and rows is not None and rows.shape[0] != self.id_fusion.embedding.num_embeddings:
            # trained on another catalogue (zero-shot): its items are named by load_other_parameter
            self.id_fusion.resize(rows.shape[0])
        self._features = None

    def other_parameter(self) -> dict:
        """The raw item ids of the id embedding and which rows have an id vector."""
        if self.id_fusion is None:
            return {}
        return {"id_fusion_tokens": list(self.id_fusion.trained_tokens),
                "id_fusion_learned": list(self.id_fusion.learned)}

    def load_other_parameter(self, para: dict) -> None:
        if self.id_fusion is not None and para.get("id_fusion_tokens") is not None:
            # checkpoints written before cold items lost their id vector have no flags: every row has one
            self.id_fusion.set_trained_tokens(para["id_fusion_tokens"], para.get("id_fusion_learned"))
            self.forget()
