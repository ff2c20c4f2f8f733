"""LLM-Rec (arXiv 2310.14304) as a RecBole sequential recommender.

Two user encoders (``user_encoder``):

* ``sentence`` (the paper): the titles of the user's recent items are one sentence, encoded by the
  pretrained LM; the same LM encodes each candidate's title; the score is their inner product.
* ``sequence`` (the CPU default): the LM encodes every title once; an adaptor (whitening / MLP)
  maps those vectors to item vectors, optionally plus a learned item-id part (``id_fusion``), and a
  SASRec-sized transformer over the history's item vectors gives the user vector.

Negatives for the training softmax come from a strategy chosen by ``negative_sampling``
(:mod:`recbole_llmrec.model.negative_sampling`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any, Optional, Sequence

import torch
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import InputType
from torch import nn

from recbole_llmrec.data.bucketing import history_token_lengths
from recbole_llmrec.data.item_counts import item_train_counts
from recbole_llmrec.data.sequences import build_history_batch, build_item_batch
from recbole_llmrec.data.titles import load_domains, load_titles, tokenize_titles
from recbole_llmrec.distributed.collectives import gather_sharded_items, rank_and_world
from recbole_llmrec.model import title_vector_cache
from recbole_llmrec.model.adaptor import TextAdaptor
from recbole_llmrec.model.id_fusion import ItemIdFusion
from recbole_llmrec.model.negative_sampling import build_strategy
from recbole_llmrec.model.precision import resolve_autocast_dtype
from recbole_llmrec.model.resolve import resolve_llm_path
from recbole_llmrec.model.sequence_user_encoder import SequenceUserEncoder, recent_items
from recbole_llmrec.model.settings import LLMRecSettings, _get
from recbole_llmrec.model.text_encoder import TextEncoder

logger = logging.getLogger(__name__)


class LLMRec(SequentialRecommender):
    """LLM-Rec: ``LLMRec(config, dataset)``; options are documented in ``properties/model/LLMRec.yaml``."""

    input_type = InputType.POINTWISE

    def __init__(self, config: Any, dataset: Any) -> None:
        super().__init__(config, dataset)
        self.settings = s = LLMRecSettings.from_config(config)  # validates before the LM is loaded
        if s.autocast_dtype == "fp16" and not _get(config, "enable_scaler"):
            logger.warning(
                "autocast_dtype fp16 without enable_scaler: small gradients may underflow to 0; set "
                "enable_scaler: True (RecBole's GradScaler, CUDA only) or use bf16"
            )
        self.sequence = s.user_encoder == "sequence"
        if self.sequence:
            # The LM only turns titles into fixed vectors (no projection, no gradient); trained parts follow it.
            lm_settings = dataclasses.replace(s, user_encoder="sentence", tuning="full", projection_size=None,
                                              normalize_embeddings=True)
            self.encoder = TextEncoder(lm_settings)
            self.encoder.requires_grad_(False)
            d = s.seq_hidden_size
            self.adaptor = TextAdaptor(s.adaptor, self.encoder.output_size, d, s.seq_dropout)
            self.id_fusion: Optional[ItemIdFusion] = None
            if s.id_fusion:  # items without a training interaction get no id vector (only ever a negative)
                learned = (item_train_counts(dataset) > 0).tolist()
                self.id_fusion = ItemIdFusion(dataset.field2id_token[dataset.iid_field], d, learned)
            self.user_encoder = SequenceUserEncoder(d, s.seq_inner_size, s.seq_layers, s.seq_heads,
                                                    s.seq_dropout, s.max_history)
        else:
            self.encoder = TextEncoder(s)
            self.id_fusion = None
        self.negatives = build_strategy(s)
        self._item_cache: Optional[torch.Tensor] = None  # evaluation: every item's vector
        self._train_table: Optional[torch.Tensor] = None  # sentence + full_catalogue: stale vectors
        self._steps_since_refresh = 0
        #: How many times the stale training item table was (re)encoded (``full_catalogue``, sentence).
        self.table_refreshes = 0
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

    # ------------------------------------------------------------------ catalogue binding
    def attach_dataset(self, dataset: Any) -> None:
        """Bind titles, domains and ``n_items`` to ``dataset`` (e.g. an unseen domain for zero-shot)."""
        s = self.settings
        tokens = dataset.field2id_token[dataset.iid_field]
        self._attach(load_titles(dataset, s.title_field), load_domains(dataset, s.domain_field), tokens)

    def attach_titles(self, titles: Sequence[str], domains: Optional[Sequence[str]] = None,
                      item_tokens: Optional[Sequence[str]] = None) -> None:
        """Bind a plain catalogue: ``titles[i]`` is item id ``i`` (``titles[0]`` = padding, ``""``).

        ``domains`` (names) drive in-domain negatives; ``item_tokens`` (raw item ids) let items the
        model was trained on keep their learned id part (``id_fusion``); other items use text alone.
        """
        domain_ids = None
        if domains is not None:
            names = {name: i + 1 for i, name in enumerate(sorted({d for d in domains[1:] if d}))}
            domain_ids = torch.tensor([names.get(d, 0) if i else 0 for i, d in enumerate(domains)])
        self._attach(list(titles), domain_ids, item_tokens)

    def _attach(self, titles: list[str], domains: Optional[torch.Tensor], tokens: Optional[Sequence[str]]) -> None:
        s = self.settings
        table = tokenize_titles(titles, self.encoder.tokenizer, s.max_title_tokens,
                                leading_space=self.encoder.title_leading_space)
        device = self._device()
        self.register_buffer("title_ids", table.ids.to(device), persistent=False)
        self.register_buffer("title_offsets", table.offsets.to(device), persistent=False)
        self.n_items = table.n_items
        if domains is None and s.negative_sampling in ("in_domain", "both"):
            logger.warning("catalogue has no item field %r: negatives are sampled from all items", s.domain_field)
        self.negatives.rebind(self.n_items, domains)
        self.negatives.to(device)
        if self.id_fusion is not None:
            self.id_fusion.rebind(tokens, self.n_items)
        self.text_vectors: Optional[torch.Tensor] = None  # sequence: LM vectors of this catalogue, on demand
        self._features: Optional[torch.Tensor] = None  # sequence: their whitened form
        self.invalidate_item_cache()

    def _device(self) -> torch.device:
        for p in self.encoder.parameters():
            return p.device
        return torch.device("cpu")

    # ------------------------------------------------------------------ encoding
    def encode_titles(self, titles: Sequence[str]) -> torch.Tensor:
        """Text-only item vectors [N, D] of arbitrary titles (no id part), without gradient."""
        s = self.settings
        table = tokenize_titles(list(titles), self.encoder.tokenizer, s.max_title_tokens,
                                leading_space=self.encoder.title_leading_space)
        ids, offsets = table.ids.to(self._device()), table.offsets.to(self._device())
        with torch.no_grad():
            vectors = self._encode_title_table(ids, offsets, torch.arange(table.n_items, device=ids.device))
            return self.adaptor(self.adaptor.fixed(vectors)) if self.sequence else vectors

    def _encode_title_table(self, ids: torch.Tensor, offsets: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """LM vectors of ``items`` of a title table, in chunks of similar length (call under no_grad)."""
        lengths = (offsets[1:] - offsets[:-1])[items]
        perm = torch.argsort(lengths, stable=True)
        order = items[perm]
        step = self.settings.item_encode_batch_size
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            chunks = [self.encoder(*build_item_batch(order[b: b + step], ids, offsets, self.encoder.special))
                      for b in range(0, len(order), step)]
        finally:
            self.encoder.train(was_training)
        out = torch.empty(len(items), chunks[0].shape[1], dtype=chunks[0].dtype, device=ids.device)
        out[perm] = torch.cat(chunks)
        return out

    def lm_title_vectors(self) -> torch.Tensor:
        """``user_encoder: sequence``: the frozen LM vector of every title [n_items, H], encoded once."""
        if self.text_vectors is None:
            folder = self.settings.title_vector_cache
            key = title_vector_cache.cache_key(self._lm_identity(), self.title_ids, self.title_offsets)
            cached = title_vector_cache.load(folder, key)
            if cached is not None and cached.shape[0] == self.n_items:
                self.text_vectors = cached.to(self._device())
            else:
                start = time.perf_counter()
                with torch.no_grad():
                    items = torch.arange(self.n_items, device=self.title_ids.device)
                    self.text_vectors = self._encode_title_table(self.title_ids, self.title_offsets, items)
                logger.info("encoded %d titles once with the frozen LM [time: %.2fs]", self.n_items,
                            time.perf_counter() - start)
                title_vector_cache.save(folder, key, self.text_vectors)
        return self.text_vectors

    def _lm_identity(self) -> dict:
        """What the frozen title vectors depend on besides the titles (the title vector cache's key)."""
        resolved = self.encoder.resolved
        files = {}
        if os.path.isdir(resolved.path):
            for name in sorted(os.listdir(resolved.path)):
                full = os.path.join(resolved.path, name)
                if os.path.isfile(full):
                    stat = os.stat(full)
                    files[name] = [stat.st_size, int(stat.st_mtime)]
        dtype = resolve_autocast_dtype(self.settings.autocast_dtype, self._device())
        return {"path": resolved.path, "gguf": resolved.gguf_file, "files": files, "pooling": self.encoder.pooling,
                "dtype": str(dtype), "config": self.encoder.backbone.config.to_json_string()}

    def item_features(self) -> torch.Tensor:
        """``sequence``: the adaptor's fixed part (whitening) of every title vector, computed once.

        Whitening statistics are fitted on the first catalogue the model trains with and then kept
        (they are saved in checkpoints).
        """
        if self._features is None:
            vectors = self.lm_title_vectors()
            if self.adaptor.needs_fit:
                self.adaptor.fit(vectors[1:])
            with torch.no_grad():
                self._features = self.adaptor.fixed(vectors)
        return self._features

    def item_vectors(self, item_ids: torch.Tensor) -> torch.Tensor:
        """Item vectors [N, D] of ``item_ids`` [N], with gradient when training."""
        if not self.sequence:
            return self.encode_items(item_ids)
        vectors = self.adaptor(self.item_features()[item_ids])
        if self.id_fusion is not None:
            ids = self.id_fusion(item_ids)
            if self.training and self.settings.id_dropout > 0:  # learn to rank from text alone too
                keep = torch.rand(ids.shape[:-1] + (1,), device=ids.device) >= self.settings.id_dropout
                ids = ids * keep
            vectors = vectors + ids
        return vectors

    def encode_items(self, item_ids: torch.Tensor) -> torch.Tensor:
        """``user_encoder: sentence``: LM vectors [N, D] of the items' titles."""
        input_ids, mask = build_item_batch(item_ids, self.title_ids, self.title_offsets, self.encoder.special)
        return self.encoder(input_ids, mask)

    def encode_users(self, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        """User vectors [B, D] from a RecBole history batch."""
        if self.sequence:
            seq, length = recent_items(item_seq, item_len, self.settings.max_history)
            return self.user_encoder(self.item_vectors(seq), seq, length)
        input_ids, mask = build_history_batch(
            item_seq, item_len, self.title_ids, self.title_offsets, self.settings.max_history, self.encoder.special
        )
        return self.encoder(input_ids, mask)

    def forward(self, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        return self.encode_users(item_seq, item_len)

    def example_lengths(self, item_seq: torch.Tensor, item_len: torch.Tensor) -> Optional[torch.Tensor]:
        """LM tokens of each example's user sentence (length bucketing); None for ``sequence``."""
        if self.sequence:
            return None
        return history_token_lengths(item_len.cpu(), item_seq.cpu(), (self.title_offsets[1:] - self.title_offsets[:-1]).cpu(),
                                     self.settings.max_history, self.encoder.special)

    # ------------------------------------------------------------------ item tables
    def training_item_table(self, fresh_ids: torch.Tensor, fresh_vectors: torch.Tensor) -> torch.Tensor:
        """The whole catalogue's vectors for a training softmax, ``fresh_ids`` rows = ``fresh_vectors``.

        ``sequence``: every row is exact and carries gradient (item vectors are cheap). ``sentence``:
        a table encoded without gradient, re-encoded every ``item_table_refresh_steps`` calls.
        """
        if self.sequence:
            return self.item_vectors(torch.arange(self.n_items, device=fresh_ids.device))
        if self._train_table is None or self._steps_since_refresh >= self.settings.item_table_refresh_steps:
            with torch.no_grad():
                self._train_table = self._encode_title_table(
                    self.title_ids, self.title_offsets, torch.arange(1, self.n_items, device=fresh_ids.device))
                self._train_table = torch.cat([torch.zeros_like(self._train_table[:1]), self._train_table])
            self._steps_since_refresh = 0
            self.table_refreshes += 1
        self._steps_since_refresh += 1
        return self._train_table.index_copy(0, fresh_ids, fresh_vectors.to(self._train_table.dtype))

    def item_table(self) -> torch.Tensor:
        """All item vectors [n_items, D] for evaluation, computed once without gradient and cached.

        ``sentence`` with :attr:`shard_item_table` (set by the trainer under DDP): each rank encodes
        every ``world``-th title (shortest first) and the shards are all-gathered: every rank must call this.
        """
        if self._item_cache is not None:
            return self._item_cache
        with torch.no_grad():
            if self.sequence:
                table = self.item_vectors(torch.arange(self.n_items, device=self.title_ids.device))
            else:
                table = self._sentence_item_table()
        self._item_cache = table
        return table

    def _sentence_item_table(self) -> torch.Tensor:
        items = torch.arange(self.n_items, device=self.title_ids.device)
        rank, world = rank_and_world() if self.shard_item_table else (0, 1)
        if world == 1:
            return self._encode_title_table(self.title_ids, self.title_offsets, items)
        order = torch.argsort(self.title_offsets[1:] - self.title_offsets[:-1], stable=True)
        mine = order[rank::world]
        if len(mine) == 0:  # more ranks than items: an empty shard of the right width
            vecs = self.encode_items(order[:1])[:0]
        else:
            vecs = self._encode_title_table(self.title_ids, self.title_offsets, mine)
        return gather_sharded_items(vecs, order, world)

    def load_item_table(self, table: torch.Tensor) -> None:
        """Use ``table`` [n_items, D] (e.g. from an on-disk cache) as the evaluation item table."""
        expected = (self.n_items, self.item_table_width)
        if tuple(table.shape) != expected:
            raise ValueError(f"item table has shape {tuple(table.shape)}, expected {expected}")
        self._item_cache = table.to(self._device())

    @property
    def item_table_width(self) -> int:
        """D, the width of item and user vectors."""
        return self.settings.seq_hidden_size if self.sequence else self.encoder.output_size

    def invalidate_item_cache(self) -> None:
        """Forget cached item tables (called on ``train()``, state loading and catalogue changes)."""
        self._item_cache = None
        self._train_table = None

    def train(self, mode: bool = True) -> "LLMRec":
        if mode:
            self._item_cache = None
        super().train(mode)
        if self.sequence:
            self.encoder.eval()  # the frozen LM never uses dropout
        return self

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        self.invalidate_item_cache()
        self._features = None  # whitening statistics may change
        rows = state_dict.get("id_fusion.embedding.weight")
        if self.id_fusion is not None and rows is not None and rows.shape[0] != self.id_fusion.embedding.num_embeddings:
            # trained on another catalogue (zero-shot): its items are named by load_other_parameter
            self.id_fusion.resize(rows.shape[0])
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def other_parameter(self) -> dict:
        """Plain data saved beside the weights (RecBole's hook): the raw item ids of the id embedding and
        which rows have an id vector."""
        if self.id_fusion is None:
            return {}
        return {"id_fusion_tokens": list(self.id_fusion.trained_tokens),
                "id_fusion_learned": list(self.id_fusion.learned)}

    def load_other_parameter(self, para: Optional[dict]) -> None:
        if para and self.id_fusion is not None and para.get("id_fusion_tokens") is not None:
            # checkpoints written before cold items lost their id vector have no flags: every row has one
            self.id_fusion.set_trained_tokens(para["id_fusion_tokens"], para.get("id_fusion_learned"))
            self.invalidate_item_cache()

    # ------------------------------------------------------------------ RecBole API
    def _scale(self, users: torch.Tensor) -> torch.Tensor:
        if self.sequence and self.settings.normalize_embeddings:
            users = nn.functional.normalize(users, dim=-1)
        return users * self.settings.logit_scale

    def _scored_items(self, vectors: torch.Tensor) -> torch.Tensor:
        if self.sequence and self.settings.normalize_embeddings:
            return nn.functional.normalize(vectors, dim=-1)
        return vectors

    def calculate_loss(self, interaction: Any) -> torch.Tensor:
        """Cross-entropy of each positive against the negatives of the ``negative_sampling`` strategy."""
        users = self._scale(self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN]))
        logits, targets = self.negatives(_NormalizedItems(self), users, interaction[self.POS_ITEM_ID].long())
        return nn.functional.cross_entropy(logits, targets)

    def predict(self, interaction: Any) -> torch.Tensor:
        """Score [B] of ``interaction[ITEM_ID]`` for each user (uses the cached item table in eval).

        Sampled evaluation repeats each user's row once per candidate (1,001 times under the paper's
        protocol): each distinct history is encoded once.
        """
        rows = torch.cat([interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN].unsqueeze(1)], dim=1)
        histories, inverse = torch.unique(rows, dim=0, return_inverse=True)
        users = self._scale(self.forward(histories[:, :-1], histories[:, -1]))[inverse]
        items = interaction[self.ITEM_ID].long()
        item_vecs = self.item_vectors(items) if self.training else self.item_table()[items]
        scores = (users * self._scored_items(item_vecs)).sum(-1)
        if self._title_similarity_on():
            scores = scores + self._title_similarity(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN], items)
        return scores

    def full_sort_predict(self, interaction: Any) -> torch.Tensor:
        """Scores [B, n_items] against every item; column 0 (padding) is -inf."""
        item_seq, item_len = interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN]
        users = self._scale(self.forward(item_seq, item_len))
        scores = users @ self._scored_items(self.item_table()).T
        if self._title_similarity_on():
            scores = scores + self._title_similarity(item_seq, item_len)
        scores[:, 0] = float("-inf")
        return scores

    def _title_similarity_on(self) -> bool:
        s = self.settings
        return self.sequence and not self.training and (
            s.title_similarity_weight > 0 or bool(s.unseen_title_similarity_weight)
            or bool(s.cold_title_similarity_weight))

    def _title_similarity(self, item_seq: torch.Tensor, item_len: torch.Tensor,
                          items: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Cosine of the frozen LM vectors of each user's last title and the candidates' titles:
        [B, n_items], or [B] for ``items`` [B]. Needs no training, so it carries over to any catalogue."""
        text = nn.functional.normalize(self.lm_title_vectors(), dim=-1)
        last = item_seq.gather(1, (item_len.long() - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        weight = self._title_similarity_weights()
        if items is None:
            return (text[last] @ text.T) * weight
        return (text[last] * text[items]).sum(-1) * weight[items]

    def _title_similarity_weights(self) -> torch.Tensor:
        """Per item: ``title_similarity_weight``; ``cold_title_similarity_weight`` for items of the
        training catalogue without an id part (no training interaction); ``unseen_title_similarity_weight``
        for items of another catalogue (what the trained part knows least)."""
        s = self.settings
        weight = torch.full((self.n_items,), s.title_similarity_weight, device=self.title_ids.device)
        if self.id_fusion is not None:
            cold = self.id_fusion.cold
            if s.unseen_title_similarity_weight is not None:
                weight[~self.id_fusion.known & ~cold] = s.unseen_title_similarity_weight
            if s.cold_title_similarity_weight is not None:
                weight[cold] = s.cold_title_similarity_weight
        return weight


class _NormalizedItems:
    """The model's item vectors as the strategies see them (L2-normalized where scores are cosines)."""

    def __init__(self, model: LLMRec) -> None:
        self.model = model

    def item_vectors(self, item_ids: torch.Tensor) -> torch.Tensor:
        return self.model._scored_items(self.model.item_vectors(item_ids))

    def training_item_table(self, fresh_ids: torch.Tensor, fresh_vectors: torch.Tensor) -> torch.Tensor:
        return self.model._scored_items(self.model.training_item_table(fresh_ids, fresh_vectors))
