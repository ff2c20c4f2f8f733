"""LLM-Rec (arXiv 2310.14304) as a RecBole sequential recommender: the adapter that wires its parts,
``text`` (:mod:`~recbole_llmrec.model.text.text_items`: titles -> LM vectors), ``users``
(:mod:`~recbole_llmrec.model.user_encoders`, ``user_encoder``: ``sentence``, the paper, or ``sequence``,
the CPU default), ``negatives`` (:mod:`~recbole_llmrec.model.negative_sampling`) and ``scoring``
(:mod:`~recbole_llmrec.model.scoring`: the ranking score, a sum of terms whose weights are data).
The public API for tools: ``docs/ARCHITECTURE.md`` ("LLMRec's public API").
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

import torch
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import InputType
from torch import nn

from recbole_llmrec.data.item_counts import item_target_counts
from recbole_llmrec.model.catalogue_vectors import CatalogueVectors, ScoredItems
from recbole_llmrec.model.item_catalogue import CatalogueSize, ItemCatalogue, domain_ids
from recbole_llmrec.model.legacy_state import upgrade_keys
from recbole_llmrec.model.negative_sampling import build_strategy
from recbole_llmrec.model.pretrained import Pretrained
from recbole_llmrec.model.scoring import Scoring
from recbole_llmrec.model.settings import LLMRecSettings, config_value
from recbole_llmrec.model.text.resolve import resolve_llm_path
from recbole_llmrec.model.text.text_items import TextItemEncoder
from recbole_llmrec.model.user_encoders import USER_ENCODERS

logger = logging.getLogger(__name__)


class LLMRec(Pretrained, CatalogueVectors, SequentialRecommender):
    """LLM-Rec: ``LLMRec(config, dataset)``; options are documented in ``properties/model/LLMRec.yaml``."""

    input_type = InputType.POINTWISE

    def __init__(self, config: Any, dataset: Any) -> None:
        """RecBole's constructor (``dataset``: the training split's) or :meth:`from_catalogue`'s (an ItemCatalogue)."""
        is_catalogue = isinstance(dataset, ItemCatalogue)
        super().__init__(config, CatalogueSize(dataset) if is_catalogue else dataset)
        self.settings = s = LLMRecSettings.from_config(config)  # validates before the LM is loaded
        if s.lm.autocast_dtype == "fp16" and not config_value(config, "enable_scaler"):
            logger.warning("autocast_dtype fp16 without enable_scaler: small gradients may underflow to 0; set "
                           "enable_scaler: True (RecBole's GradScaler, CUDA only) or use bf16")
        catalogue = dataset if is_catalogue else ItemCatalogue.from_dataset(dataset, **vars(s.fields))
        users_class = USER_ENCODERS[s.user_encoder]
        self.text = TextItemEncoder(s.lm, users_class.frozen_lm, users_class.text_output(s.users, s.lm))
        self.users = users_class(s.users, self.text, catalogue)
        self.negatives = build_strategy(s.negatives, len(catalogue))
        self.scoring = Scoring(s.scoring.terms, s.scoring.score_chunk_items)
        self.attach_catalogue(catalogue, None if is_catalogue else item_target_counts(dataset))
        self.to(config["device"])

    @classmethod
    def check_config(cls, config: Any) -> None:
        """Cheap checks before the dataset and the LM are loaded: the settings and ``llm_path``
        (``ValueError`` for a bad setting, a missing ``llm_path`` or a hub name not cached offline)."""
        resolve_llm_path(LLMRecSettings.from_config(config).lm.llm_path)

    # ------------------------------------------------------------------ catalogue binding
    def attach_dataset(self, dataset: Any) -> None:
        """Bind the items of ``dataset`` (e.g. an unseen domain for zero-shot)."""
        catalogue = ItemCatalogue.from_dataset(dataset, **vars(self.settings.fields))
        self.attach_catalogue(catalogue, item_target_counts(dataset))

    def attach_catalogue(self, catalogue: ItemCatalogue, target_counts: Optional[torch.Tensor] = None) -> None:
        """Bind ``catalogue`` (``target_counts`` [n_items]: training positives, for popularity negatives)."""
        self._attach(list(catalogue.titles), catalogue.domain_ids(), catalogue.item_ids, target_counts)

    def attach_titles(self, titles: Sequence[str], domains: Optional[Sequence[str]] = None,
                      item_tokens: Optional[Sequence[str]] = None) -> None:
        """Bind a plain catalogue: ``titles[i]`` is item id ``i`` (``titles[0]`` = padding, ``""``); ``domains``
        (names) drive in-domain negatives; ``item_tokens`` (raw ids, None: no id part) as :class:`ItemCatalogue`'s."""
        self._attach(list(titles), domain_ids(domains), item_tokens)

    def _attach(self, titles: list[str], domains: Optional[torch.Tensor], tokens: Optional[Sequence[str]],
                counts: Optional[torch.Tensor] = None) -> None:
        self.text.bind(titles, tokens)
        self.n_items = self.text.n_items
        if domains is None and self.negatives.needs_domains:
            logger.warning("catalogue has no item field %r: negatives are sampled from all items",
                           self.settings.fields.domain_field)
        self.negatives.rebind(self.n_items, domains, counts)
        self.negatives.to(self.text.device)
        self.users.rebind(self.text, tokens)

    @property
    def encoder(self) -> nn.Module:
        """The LM (:class:`~recbole_llmrec.model.text.text_encoder.TextEncoder`)."""
        return self.text.lm

    @property
    def shard_item_table(self) -> bool:
        """Encode the evaluation item table in shards across DDP ranks (set by the trainer)."""
        return bool(getattr(self.users, "shard_item_table", False))

    @shard_item_table.setter
    def shard_item_table(self, value: bool) -> None:
        if hasattr(self.users, "shard_item_table"):
            self.users.shard_item_table = value

    # ------------------------------------------------------------------ vectors
    def item_vectors(self, item_ids: torch.Tensor) -> torch.Tensor:
        """Item vectors [N, D] of ``item_ids`` [N], with gradient when training."""
        return self.users.item_vectors(self.text, item_ids)

    def encode_users(self, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        """User vectors [B, D] from a RecBole history batch."""
        return self.users.user_vectors(self.text, item_seq, item_len)

    forward = encode_users

    def scaled_user_vectors(self, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        """User vectors as scored: normalized where scores are cosines, times ``logit_scale``."""
        return self.users.scored(self.encode_users(item_seq, item_len)) * self.settings.negatives.logit_scale

    def scored_item_vectors(self, item_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Item vectors as scored (of ``item_ids``, default all): fresh in training, else the item table."""
        if self.training and item_ids is not None:
            return self.users.scored(self.item_vectors(item_ids))
        table = self.item_table()
        return self.users.scored(table if item_ids is None else table[item_ids])

    def training_item_table(self, fresh_ids: torch.Tensor, fresh_vectors: torch.Tensor) -> torch.Tensor:
        """The whole catalogue's vectors for a training softmax, ``fresh_ids`` rows = ``fresh_vectors``."""
        return self.users.training_item_table(self.text, fresh_ids, fresh_vectors)

    def item_table(self) -> torch.Tensor:
        """All item vectors [n_items, D] for evaluation, computed once without gradient and cached."""
        return self.users.item_table(self.text, self.n_items)

    @property
    def item_table_width(self) -> int:
        """D, the width of item and user vectors."""
        return self.users.width

    def item_groups(self) -> dict[str, torch.Tensor]:
        """Bool masks [n_items] of the items the trained part knows less about (``cold``, ``unseen``)."""
        return self.users.item_groups()

    def example_lengths(self, item_seq: torch.Tensor, item_len: torch.Tensor) -> Optional[torch.Tensor]:
        """LM tokens of each example's user sentence (length bucketing); None without one."""
        return self.users.example_lengths(self.text, item_seq, item_len)

    def invalidate_item_cache(self) -> None:
        """Forget cached item tables (called on state loading and catalogue changes)."""
        self.users.tables.drop("forget")

    # ------------------------------------------------------------------ state
    def train(self, mode: bool = True) -> "LLMRec":
        if mode:
            self.users.tables.drop("training")
        return super().train(mode)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        state_dict = upgrade_keys(state_dict)
        self.users.upgrade_state(state_dict, "users.")
        self.users.tables.drop("catalogue")
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def other_parameter(self) -> dict:
        """Plain data saved beside the weights (RecBole's hook): the user encoder's, and fitted scoring values."""
        para = self.users.other_parameter()
        if self.scoring.fitted:
            para["scoring_values"] = self.scoring.values()
        return para

    def load_other_parameter(self, para: Optional[dict]) -> None:
        if para:
            self.users.load_other_parameter(para)
            if para.get("scoring_values") is not None:
                self.set_scoring_values(para["scoring_values"], fitted=True)

    # ------------------------------------------------------------------ scores
    def scoring_values(self) -> dict[str, Any]:
        """Every scoring term's weights and options."""
        return self.scoring.values()

    def set_scoring_values(self, values: dict[str, Any], fitted: bool = False) -> None:
        """Change scoring weights (``fitted``: values fitted by calibration, saved with checkpoints)."""
        self.scoring.set_values(values, fitted)

    def scores(self, item_seq: torch.Tensor, item_len: torch.Tensor, items: Optional[torch.Tensor] = None,
               terms: Optional[list[str]] = None) -> torch.Tensor:
        """Sum of the scoring terms (only ``terms`` when given): [B, n_items], or [B] for ``items`` [B]."""
        return self.scoring.scores(self, item_seq, item_len, items, terms)

    def top_items(self, item_seq: torch.Tensor, item_len: torch.Tensor, k: int, start: int = 1,
                  stop: Optional[int] = None, exclude: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scores, ids)`` [B, k]: the best of ids ``start..stop-1`` but ``exclude``, a running top-k over chunks."""
        return self.scoring.top_k(self, item_seq, item_len, k, start, stop, exclude)

    def calculate_loss(self, interaction: Any) -> torch.Tensor:
        """Cross-entropy of each positive against the negatives of the ``negative_sampling`` strategy."""
        with self.text.step_autocast():
            users = self.scaled_user_vectors(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
            logits, targets = self.negatives(ScoredItems(self), users, interaction[self.POS_ITEM_ID].long())
        return nn.functional.cross_entropy(logits.float(), targets)

    def predict(self, interaction: Any) -> torch.Tensor:
        """Score [B] of ``interaction[ITEM_ID]`` for each user."""
        return self.scores(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN], interaction[self.ITEM_ID].long())

    def full_sort_predict(self, interaction: Any) -> torch.Tensor:
        """Scores [B, n_items] against every item, in chunks of ``score_chunk_items``; column 0 (padding) is -inf."""
        scores = self.scores(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        scores[:, 0] = float("-inf")
        return scores
