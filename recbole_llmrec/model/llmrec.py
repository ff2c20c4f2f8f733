"""LLM-Rec (arXiv 2310.14304) as a RecBole sequential recommender: the adapter that wires its parts,
``text`` (:mod:`~recbole_llmrec.model.text.text_items`: titles -> LM vectors), ``users``
(:mod:`~recbole_llmrec.model.user_encoders`, ``user_encoder``: ``sentence``, the paper, or ``sequence``,
the CPU default), ``negatives`` (:mod:`~recbole_llmrec.model.negative_sampling`) and ``scoring``
(:mod:`~recbole_llmrec.model.scoring`: the ranking score, a sum of terms whose weights are data), and two
views over them: ``items`` (:mod:`~recbole_llmrec.model.item_table`: the item vectors the learned score
reads, the evaluation item table) and ``catalogue`` (:mod:`~recbole_llmrec.model.catalogue_vectors`: title
vectors, words and item groups of the bound catalogue, its vectors out and back in).
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
from recbole_llmrec.model.catalogue_vectors import CatalogueVectors
from recbole_llmrec.model.item_catalogue import CatalogueSize, ItemCatalogue, domain_ids
from recbole_llmrec.model.item_table import ItemTable, ScoredItems
from recbole_llmrec.model.legacy_state import upgrade_keys
from recbole_llmrec.model.negative_sampling import build_strategy
from recbole_llmrec.model.pretrained import Pretrained
from recbole_llmrec.model.scoring import Scoring
from recbole_llmrec.model.settings import LLMRecSettings, config_value
from recbole_llmrec.model.text.resolve import resolve_llm_path
from recbole_llmrec.model.text.text_items import TextItemEncoder
from recbole_llmrec.model.user_encoders import USER_ENCODERS

logger = logging.getLogger(__name__)


class LLMRec(Pretrained, SequentialRecommender):
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
        for key in s.idle_keys():
            logger.warning("%s is a setting of the %s user encoder; user_encoder is %s, so it has no effect", key,
                           "sentence" if s.user_encoder == "sequence" else "sequence", s.user_encoder)
        catalogue = dataset if is_catalogue else ItemCatalogue.from_dataset(dataset, **vars(s.fields))
        self._built_items = catalogue
        users_class = USER_ENCODERS[s.user_encoder]
        self.text = TextItemEncoder(s.lm, users_class.frozen_lm, users_class.text_output(s.users, s.lm))
        self.users = users_class(s.users, self.text, catalogue)
        self.negatives = build_strategy(s.negatives, len(catalogue))
        self.scoring = Scoring(s.scoring.terms, s.scoring.score_chunk_items)
        #: The bound catalogue's item vectors as the learned score reads them (:mod:`~recbole_llmrec.model.item_table`).
        self.items = ItemTable(self)
        #: Title vectors, words and item groups of the bound catalogue, its vectors out and back in
        #: (:mod:`~recbole_llmrec.model.catalogue_vectors`).
        self.catalogue = CatalogueVectors(self)
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

    # ------------------------------------------------------------------ vectors
    def encode_users(self, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        """User vectors [B, D] from a RecBole history batch."""
        return self.users.user_vectors(self.text, item_seq, item_len)

    forward = encode_users

    def example_lengths(self, item_seq: torch.Tensor, item_len: torch.Tensor) -> Optional[torch.Tensor]:
        """The trainer's length-bucketing hook: LM tokens of each example's user sentence; None without one."""
        return self.users.example_lengths(self.text, item_seq, item_len)

    # ------------------------------------------------------------------ state
    def train(self, mode: bool = True) -> "LLMRec":
        if mode:
            self.users.tables.drop("training")
        return super().train(mode)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        state_dict = upgrade_keys(state_dict)  # the user encoder adapts its own keys (_load_from_state_dict)
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
                self.scoring.set_values(para["scoring_values"], fitted=True)

    # ------------------------------------------------------------------ scores
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
            users = self.items.query(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
            logits, targets = self.negatives(ScoredItems(self.items, self.users), users,
                                             interaction[self.POS_ITEM_ID].long())
        return nn.functional.cross_entropy(logits.float(), targets)

    def predict(self, interaction: Any) -> torch.Tensor:
        """Score [B] of ``interaction[ITEM_ID]`` for each user."""
        return self.scores(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN], interaction[self.ITEM_ID].long())

    def full_sort_predict(self, interaction: Any) -> torch.Tensor:
        """Scores [B, n_items] against every item, in chunks of ``score_chunk_items``; column 0 (padding) is -inf."""
        scores = self.scores(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        scores[:, 0] = float("-inf")
        return scores
