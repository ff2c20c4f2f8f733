"""LLM-Rec (arXiv 2310.14304) as a RecBole sequential recommender.

A user's time-ordered, multi-domain history becomes one sentence of item titles; the same pretrained
LM encodes that sentence and each candidate item's title; the score is their inner product.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import torch
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import InputType
from torch import nn

from recbole_llmrec import distributed
from recbole_llmrec.data.sequences import build_history_batch, build_item_batch
from recbole_llmrec.data.titles import load_domains, load_titles, tokenize_titles
from recbole_llmrec.model.negatives import DomainSampler
from recbole_llmrec.model.resolve import resolve_llm_path
from recbole_llmrec.model.settings import LLMRecSettings
from recbole_llmrec.model.text_encoder import TextEncoder

logger = logging.getLogger(__name__)


def _config_get(config: Any, key: str) -> Any:
    try:
        return config[key]
    except KeyError:
        return None


class LLMRec(SequentialRecommender):
    """LLM-Rec: ``LLMRec(config, dataset)``; options are documented in ``properties/model/LLMRec.yaml``."""

    input_type = InputType.POINTWISE

    def __init__(self, config: Any, dataset: Any) -> None:
        super().__init__(config, dataset)
        self.settings = LLMRecSettings.from_config(config)  # validates before the LM is loaded
        if self.settings.autocast_dtype == "fp16" and not _config_get(config, "enable_scaler"):
            logger.warning(
                "autocast_dtype fp16 without enable_scaler: small gradients may underflow to 0; set "
                "enable_scaler: True (RecBole's GradScaler, CUDA only) or use bf16"
            )
        self.encoder = TextEncoder(self.settings)
        self.sampler = DomainSampler(1, None)
        self._item_cache: Optional[torch.Tensor] = None
        #: Encode the item table in shards across DDP ranks (every rank must call item_table).
        self.shard_item_table = False
        self.attach_dataset(dataset)
        self.to(config["device"])

    @classmethod
    def check_config(cls, config: Any) -> None:
        """Cheap checks run before the dataset and the LM are loaded: the settings and ``llm_path``.

        Raises ``ValueError`` for a bad setting, an ``llm_path`` that is no folder, package or hub
        name, or a hub name that is not cached while offline (``HF_HUB_OFFLINE=1``).
        """
        settings = LLMRecSettings.from_config(config)
        resolve_llm_path(settings.llm_path)

    # ------------------------------------------------------------------ dataset binding
    def attach_dataset(self, dataset: Any) -> None:
        """Bind titles, domains and ``n_items`` to ``dataset`` (e.g. an unseen domain for zero-shot)."""
        s = self.settings
        titles = load_titles(dataset, s.title_field)
        table = tokenize_titles(
            titles, self.encoder.tokenizer, s.max_title_tokens, leading_space=self.encoder.title_leading_space
        )
        device = self._device()
        self.register_buffer("title_ids", table.ids.to(device), persistent=False)
        self.register_buffer("title_offsets", table.offsets.to(device), persistent=False)
        self.n_items = table.n_items
        domains = load_domains(dataset, s.domain_field)
        if domains is None and s.negative_sampling != "in_batch":
            logger.warning("dataset has no item field %r: negatives are sampled from all items", s.domain_field)
        self.sampler.rebind(self.n_items, domains)
        self.sampler.to(device)
        self.invalidate_item_cache()

    def _device(self) -> torch.device:
        for p in self.encoder.parameters():
            return p.device
        return torch.device("cpu")

    # ------------------------------------------------------------------ encoding
    def encode_users(self, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        """User vectors [B, D] from a RecBole history batch."""
        input_ids, mask = build_history_batch(
            item_seq, item_len, self.title_ids, self.title_offsets, self.settings.max_history, self.encoder.special
        )
        return self.encoder(input_ids, mask)

    def encode_items(self, item_ids: torch.Tensor) -> torch.Tensor:
        """Item vectors [N, D] for item ids [N] (with gradients when training)."""
        input_ids, mask = build_item_batch(item_ids, self.title_ids, self.title_offsets, self.encoder.special)
        return self.encoder(input_ids, mask)

    def forward(self, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        return self.encode_users(item_seq, item_len)

    def item_table(self) -> torch.Tensor:
        """All item vectors [n_items, D], encoded once in chunks (shortest titles together) and cached.

        With :attr:`shard_item_table` (set by the trainer under DDP), each rank encodes every
        ``world``-th item of that order and the shards are all-gathered: every rank must call this.
        """
        if self._item_cache is not None:
            return self._item_cache
        device = self._device()
        lengths = (self.title_offsets[1:] - self.title_offsets[:-1])[: self.n_items].to(device)
        order = torch.argsort(lengths, stable=True)
        rank, world = distributed.rank_and_world() if self.shard_item_table else (0, 1)
        mine = order[rank::world]
        step = self.settings.item_encode_batch_size
        with torch.no_grad():
            if len(mine) == 0:  # more ranks than items: an empty shard of the right width
                chunks = [self.encode_items(order[:1])[:0]]
            else:
                chunks = [self.encode_items(mine[b : b + step]) for b in range(0, len(mine), step)]
            vecs = torch.cat(chunks)
            if world > 1:
                table = distributed.gather_sharded_items(vecs, order, world)
            else:
                table = torch.empty(self.n_items, vecs.shape[1], dtype=vecs.dtype, device=device)
                table[mine] = vecs
        self._item_cache = table
        return table

    def invalidate_item_cache(self) -> None:
        """Forget the cached item table (called on ``train()``, state loading and dataset changes)."""
        self._item_cache = None

    def train(self, mode: bool = True) -> "LLMRec":
        if mode:
            self.invalidate_item_cache()
        return super().train(mode)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        self.invalidate_item_cache()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    # ------------------------------------------------------------------ RecBole API
    def calculate_loss(self, interaction: Any) -> torch.Tensor:
        """Cross-entropy of the positive against in-domain and/or in-batch negatives."""
        s = self.settings
        users = self.encode_users(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        positives = interaction[self.POS_ITEM_ID].long()
        batch = positives.shape[0]
        use_domain = s.negative_sampling in ("in_domain", "both") and s.num_negatives > 0
        use_batch = s.negative_sampling in ("in_batch", "both")
        negatives = self.sampler(positives, s.num_negatives) if use_domain else positives.new_zeros(batch, 0)

        candidates = torch.cat([positives, negatives.reshape(-1)])
        unique, inverse = torch.unique(candidates, return_inverse=True)
        item_vecs = self.encode_items(unique)
        pos_vecs = item_vecs[inverse[:batch]]
        logits = [(users * pos_vecs).sum(-1, keepdim=True)]
        if use_domain:
            neg_vecs = item_vecs[inverse[batch:]].view(batch, s.num_negatives, -1)
            logits.append(torch.einsum("bd,bnd->bn", users, neg_vecs))
        if use_batch:
            in_batch = users @ pos_vecs.T
            same = positives.unsqueeze(1) == positives.unsqueeze(0)  # includes the diagonal
            logits.append(in_batch.masked_fill(same, float("-inf")))
        logits = torch.cat(logits, dim=1) * s.logit_scale
        target = torch.zeros(batch, dtype=torch.long, device=logits.device)
        return nn.functional.cross_entropy(logits, target)

    def predict(self, interaction: Any) -> torch.Tensor:
        """Score [B] of ``interaction[ITEM_ID]`` for each user (uses the cached item table in eval)."""
        users = self.encode_users(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        items = interaction[self.ITEM_ID].long()
        item_vecs = self.encode_items(items) if self.training else self.item_table()[items]
        return (users * item_vecs).sum(-1) * self.settings.logit_scale

    def full_sort_predict(self, interaction: Any) -> torch.Tensor:
        """Scores [B, n_items] against every item; column 0 (padding) is -inf."""
        users = self.encode_users(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        scores = users @ self.item_table().T * self.settings.logit_scale
        scores[:, 0] = float("-inf")
        return scores
