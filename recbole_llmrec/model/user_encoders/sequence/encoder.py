"""``user_encoder: sequence`` (the CPU default): the frozen LM encodes every title once; an adaptor
(whitening / MLP) maps those vectors to item vectors, optionally plus a learned item-id part
(``id_fusion``), and a SASRec-sized transformer over the history's item vectors gives the user vector.
``text_head`` adds a second learned path in the LM's own space
(:mod:`~recbole_llmrec.model.user_encoders.sequence.text_head`)."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import nn

from recbole_llmrec.model.item_catalogue import ItemCatalogue
from recbole_llmrec.model.text.precision import full_precision
from recbole_llmrec.model.text.text_encoder import TextOutput
from recbole_llmrec.model.user_encoders.base import UserEncoder
from recbole_llmrec.model.user_encoders.sequence.adaptor import TextAdaptor
from recbole_llmrec.model.user_encoders.sequence.history import HistoryTransformer, recent_items
from recbole_llmrec.model.user_encoders.sequence.id_fusion import ItemIdFusion
from recbole_llmrec.model.user_encoders.sequence.text_head import TextHead


class SequenceUserEncoder(UserEncoder):
    """Tables: the evaluation item table, and the whitened and the unit title vectors (``features``,
    ``units``: stale when the catalogue changes or weights are loaded, since the whitening statistics may
    change). ``settings``: :class:`~recbole_llmrec.model.settings.SequenceSettings`."""

    reads_frozen_titles = True
    frozen_lm = True

    def __init__(self, settings: Any, text: nn.Module, catalogue: ItemCatalogue) -> None:
        super().__init__(settings, text, catalogue)
        s = settings
        d = s.seq_hidden_size
        #: Width of the title vectors read (the LM's, or title_vectors_file's).
        self.text_width = text.output_size
        self.adaptor = TextAdaptor(s.adaptor, text.output_size, d, s.seq_dropout, s.adaptor_experts)
        self.id_fusion: Optional[ItemIdFusion] = None
        if s.id_fusion:  # items without a training interaction get no id vector (only ever a negative)
            self.id_fusion = ItemIdFusion(catalogue.item_ids, d, catalogue.trained)
        self.transformer = HistoryTransformer(d, s.seq_inner_size, s.seq_layers, s.seq_heads, s.seq_dropout, s.max_history)
        # a learned scoring path in the LM's own space (see text_head.py): item and user vectors are
        # [main part | text part], so every inner product is the sum of both paths' scores
        self.text_head = TextHead(text.output_size, s.max_history, s.text_head_rank) if s.text_head else None

    @classmethod
    def check(cls, settings: Any, lm: Any) -> None:
        if lm.tuning != "frozen":
            raise ValueError("user_encoder 'sequence' reads LM title vectors encoded once: it needs tuning "
                             f"'frozen', got {lm.tuning!r}")

    @classmethod
    def text_output(cls, settings: Any, lm: Any) -> TextOutput:
        """Unit-length LM vectors, no projection (the adaptor maps them)."""
        return TextOutput(normalize=True)

    @property
    def width(self) -> int:
        return self.settings.seq_hidden_size + (0 if self.text_head is None else self.text_head.dim)

    def rebind(self, text: nn.Module, item_tokens: Optional[Sequence[str]]) -> None:
        if self.id_fusion is not None:
            self.id_fusion.rebind(item_tokens, text.n_items)
        super().rebind(text, item_tokens)

    def _units(self, text: nn.Module) -> torch.Tensor:
        """Unit-length LM title vectors of the bound catalogue (the text head's input), computed once."""
        def compute() -> torch.Tensor:
            with full_precision(text.device):
                return nn.functional.normalize(text.title_vectors().float(), dim=-1)
        return self.tables.get("units", compute, until="catalogue")

    def features(self, text: nn.Module) -> torch.Tensor:
        """The adaptor's fixed part (whitening) of every title vector, computed once. Whitening
        statistics are fitted on the first catalogue the model trains with, then kept (checkpoints)."""
        def compute() -> torch.Tensor:
            vectors = text.title_vectors()
            with full_precision(text.device):
                if self.adaptor.needs_fit:
                    self.adaptor.fit(vectors[1:])
                with torch.no_grad():
                    return self.adaptor.fixed(vectors)
        return self.tables.get("features", compute, until="catalogue")

    def _features_in_autocast(self, text: nn.Module) -> torch.Tensor:
        """:meth:`features` in the autocast dtype active on their device (cast once and kept: the adaptor's
        matmul would cast the whole catalogue's features at every training step), else as they are.
        Only for reads of the whole catalogue: a gather of some rows casts just those."""
        features = self.features(text)
        kind = features.device.type
        if not torch.is_autocast_enabled(kind):
            return features
        dtype = torch.get_autocast_dtype(kind)
        cast = self.tables.peek("features_cast")
        if cast is None or cast.dtype != dtype:
            cast = features.to(dtype)
            self.tables.put("features_cast", cast, until="catalogue")
        return cast

    def _main_vectors(self, text: nn.Module,
                      item_ids: Optional[torch.Tensor]) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The main path's item vectors [..., seq_hidden_size] and whether each item has its id part
        (None without ``id_fusion``; in training ``id_dropout`` drops some, so the text learns to rank alone).
        ``item_ids`` None: every bound item in id order, read in place (no gathered copy of the features)."""
        features = self._features_in_autocast(text) if item_ids is None else self.features(text)[item_ids]
        vectors = self.adaptor(features)
        if self.id_fusion is None:
            return vectors, None
        ids = self.id_fusion(item_ids)
        has_id = self.id_fusion.known if item_ids is None else self.id_fusion.known[item_ids]
        if self.training and self.settings.id_dropout > 0:
            keep = torch.rand(ids.shape[:-1] + (1,), device=ids.device) >= self.settings.id_dropout
            ids = ids * keep
            has_id = has_id & keep.squeeze(-1)
        return vectors + ids, has_id

    def item_vectors(self, text: nn.Module, item_ids: Optional[torch.Tensor]) -> torch.Tensor:
        """Vectors of ``item_ids`` (None: every bound item, in id order)."""
        vectors, has_id = self._main_vectors(text, item_ids)
        if self.text_head is not None:
            units = self._units(text)
            part = self.text_head.items(units if item_ids is None else units[item_ids]) * self.text_head.scale(has_id)
            vectors = torch.cat([vectors, part], dim=-1)
        return vectors

    def text_item_vectors(self, lm_vectors: torch.Tensor) -> torch.Tensor:
        """Item vectors of LM title vectors alone (no id part)."""
        vectors = self.adaptor(self.adaptor.fixed(lm_vectors))
        if self.text_head is not None:
            unit = nn.functional.normalize(lm_vectors.float(), dim=-1)
            no_id = torch.zeros(unit.shape[:-1], dtype=torch.bool, device=unit.device)
            vectors = torch.cat([vectors, self.text_head.items(unit) * self.text_head.scale(no_id)], dim=-1)
        return vectors

    def user_vectors(self, text: nn.Module, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        seq, length = recent_items(item_seq, item_len, self.settings.max_history)
        users = self.transformer(self._main_vectors(text, seq)[0], seq, length)
        if self.text_head is not None:
            history = self.text_head.items(self._units(text)[seq])
            users = torch.cat([users, self.text_head.users(history, seq, length)], dim=-1)
        return users

    def _encode_item_table(self, text: nn.Module, n_items: int) -> torch.Tensor:
        if n_items == text.n_items:
            return self.item_vectors(text, None)
        return self.item_vectors(text, torch.arange(n_items, device=text.title_ids.device))

    def training_item_table(self, text: nn.Module, fresh_ids: torch.Tensor,
                            fresh_vectors: torch.Tensor) -> torch.Tensor:
        """Every row exact and with gradient (item vectors are cheap)."""
        return self.item_vectors(text, None)

    def scored(self, vectors: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(vectors, dim=-1) if self.settings.normalize_embeddings else vectors

    def item_groups(self) -> dict[str, torch.Tensor]:
        """``cold``: items of the training catalogue without an id part; ``unseen``: items of another
        catalogue. Empty without ``id_fusion``."""
        if self.id_fusion is None:
            return {}
        cold = self.id_fusion.cold
        return {"cold": cold, "unseen": ~self.id_fusion.known & ~cold}

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any) -> None:
        """torch's per-module loading hook, before the children load: fit the id embedding to a checkpoint
        trained on another catalogue, and name a title-width mismatch (``ValueError``)."""
        rows = state_dict.get(prefix + "id_fusion.embedding.weight")
        if self.id_fusion is not None and rows is not None and rows.shape[0] != self.id_fusion.embedding.num_embeddings:
            # trained on another catalogue (zero-shot): its items are named by load_other_parameter
            self.id_fusion.resize(rows.shape[0])
        self.tables.drop("catalogue")
        own = self.state_dict()
        for key, value in state_dict.items():
            mine = own.get(key[len(prefix):]) if key.startswith(prefix) else None
            if mine is not None and mine.shape != value.shape:
                raise ValueError(f"checkpoint weight {key} has shape {list(value.shape)}, this model's "
                                 f"{list(mine.shape)}: its title vectors are {self.text_width}-d (llm_path or "
                                 "title_vectors_file differs from the one the checkpoint was trained with)")
        super()._load_from_state_dict(state_dict, prefix, *args)

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
            self.tables.drop("forget")
