"""TitleKNN: a no-training baseline that ranks items by the title similarity to the user's history.

TitleKNN is LLMRec's ``title_similarity`` scoring term alone, with weight 1 on every item: every
title is encoded once by the frozen LM LLMRec reads (its ``TextItemEncoder``: same LM, pooling,
``max_title_tokens``, normalized vectors, the same ``title_vector_cache`` files); the user side is
the last title or the recency-weighted mean of the last ``title_similarity_history`` titles
(weight ``title_similarity_decay ** age``, age 0 = the last title); the score of a candidate is the
cosine of its title vector with that. It shows what "recommend titles similar to the last one"
scores without anything trained.

Nothing is trained (``epochs: 0``: the trainer validates, saves and tests the model as built); the
only parameter is a dummy (as RecBole's ``Pop``), which RecBole's optimizer needs. Items are known by their titles, so
a TitleKNN checkpoint ranks any other catalogue (``--evaluate_checkpoint``); the LM itself is never
saved in checkpoints, it is loaded from ``llm_path``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

import torch
import yaml
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import InputType
from torch import nn

from recbole_llmrec.model.checks import optional_integer
from recbole_llmrec.model.item_catalogue import CatalogueSize, ItemCatalogue
from recbole_llmrec.model.pretrained import Pretrained
from recbole_llmrec.model.scoring import Scoring
from recbole_llmrec.model.scoring.title_similarity import TitleSimilarity
from recbole_llmrec.model.settings import LMSettings, build_record, config_value
from recbole_llmrec.model.text.resolve import resolve_llm_path
from recbole_llmrec.model.text.text_encoder import TextOutput
from recbole_llmrec.model.text.text_items import TextItemEncoder
from recbole_llmrec.model.text.title_words import TitleWords
from recbole_llmrec.utils.resources import properties_dir

logger = logging.getLogger(__name__)


def _yaml_defaults() -> dict[str, Any]:
    """The documented defaults: ``properties/model/TitleKNN.yaml`` is their one source."""
    with open(properties_dir() / "model" / "TitleKNN.yaml", encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


_DEFAULTS = _yaml_defaults()


def _default(name: str) -> Any:
    return _DEFAULTS.get(name)


@dataclass
class TitleKNNSettings:
    """TitleKNN's options; defaults and meaning: ``properties/model/TitleKNN.yaml``."""

    llm_path: str = _default("llm_path")
    trust_remote_code: bool = _default("trust_remote_code")
    pooling: str = _default("pooling")
    autocast_dtype: str = _default("autocast_dtype")
    max_title_tokens: int = _default("max_title_tokens")
    title_field: str = _default("title_field")
    title_vector_cache: Optional[str] = _default("title_vector_cache")
    title_vectors_file: Optional[str] = _default("title_vectors_file")
    item_encode_batch_size: int = _default("item_encode_batch_size")
    title_similarity_history: int = _default("title_similarity_history")
    title_similarity_decay: float = _default("title_similarity_decay")
    title_similarity_words: float = _default("title_similarity_words")
    score_chunk_items: Optional[int] = _default("score_chunk_items")

    @classmethod
    def from_config(cls, config: Any) -> "TitleKNNSettings":
        """Build from a RecBole ``Config`` (or a mapping) and validate; missing keys keep their defaults."""
        values = {f.name: config_value(config, f.name) for f in dataclasses.fields(cls)}
        settings = cls(**{k: v for k, v in values.items() if v is not None})
        settings.validate(config_value(config, "MAX_ITEM_LIST_LENGTH"))
        return settings

    def validate(self, max_item_list_length: Optional[int] = None) -> None:
        """Raise ``ValueError`` naming the key of a bad value."""
        TitleSimilarity.check(self.term_values())
        self.score_chunk_items = optional_integer("score_chunk_items", self.score_chunk_items, 1)
        if max_item_list_length is not None and self.title_similarity_history > int(max_item_list_length):
            raise ValueError(f"title_similarity_history ({self.title_similarity_history}) must be <= "
                             f"MAX_ITEM_LIST_LENGTH ({max_item_list_length}): RecBole keeps no older items")
        self.lm_settings()  # the LM keys: LLMRec's names, LLMRec's checks

    def term_values(self) -> dict[str, Any]:
        """The ``title_similarity`` term's values: weight 1 on every item, this user side."""
        return {"title_similarity_weight": 1.0, "unseen_title_similarity_weight": None,
                "cold_title_similarity_weight": None, "title_similarity_history": self.title_similarity_history,
                "title_similarity_decay": self.title_similarity_decay,
                "title_similarity_words": self.title_similarity_words}

    def lm_settings(self) -> LMSettings:
        """The frozen LM's settings (LLMRec's record and checks, the text item encoder reads them as LLMRec's)."""
        return build_record(LMSettings, {
            "llm_path": self.llm_path, "trust_remote_code": self.trust_remote_code, "pooling": self.pooling,
            "tuning": "frozen", "autocast_dtype": self.autocast_dtype, "max_title_tokens": self.max_title_tokens,
            "title_vector_cache": self.title_vector_cache, "title_vectors_file": self.title_vectors_file,
            "item_encode_batch_size": self.item_encode_batch_size,
        })


class TitleCatalogue:
    """TitleKNN's ``model.catalogue`` (LLMRec's :class:`~recbole_llmrec.model.catalogue_vectors.CatalogueVectors`
    for a model with the frozen LM's title vectors only)."""

    def __init__(self, model: "TitleKNN") -> None:
        self._model = model
        self._vectors: Optional[torch.Tensor] = None

    def title_vectors(self) -> torch.Tensor:
        """The frozen LM vector of every title [n_items, H] (row 0: padding), encoded once and kept in
        ``title_vector_cache`` when set (the same files as LLMRec's; memory-mapped on a CPU). The
        scoring term normalizes the rows it reads (a chunk, the histories), so no normalized copy of
        the whole catalogue is made."""
        if self._vectors is None:
            self._vectors = self._model.texts.title_vectors().float().to(self._model.fake_loss.device)
        return self._vectors

    def title_words(self) -> TitleWords:
        """The bound titles' tf-idf word vectors (``title_similarity_words``)."""
        return self._model.texts.title_words()

    def item_groups(self) -> dict[str, torch.Tensor]:
        """No item has a weight of its own."""
        return {}

    def vectors(self) -> dict[str, torch.Tensor]:
        """What to keep of the bound catalogue (row 0 = padding): ``title_vectors``."""
        return {"title_vectors": self.title_vectors().detach().float().cpu()}

    def load_vectors(self, vectors: dict[str, torch.Tensor], extra_titles: Sequence[str] = ()) -> None:
        """Restore :meth:`vectors` of a catalogue bound with ``extra_titles`` after it (their vectors encoded)."""
        text = vectors["title_vectors"]
        if extra_titles:
            text = torch.cat([text, self._model.texts.encode_titles(list(extra_titles)).float().cpu()])
        self._model.texts.load_title_vectors(text)
        self._vectors = None


class TitleKNN(Pretrained, SequentialRecommender):
    """TitleKNN: ``TitleKNN(config, dataset)``; options in ``properties/model/TitleKNN.yaml``."""

    input_type = InputType.POINTWISE

    def __init__(self, config: Any, dataset: Any) -> None:
        """RecBole's constructor (``dataset``: the training split's, or an :class:`ItemCatalogue`)."""
        is_catalogue = isinstance(dataset, ItemCatalogue)
        super().__init__(config, CatalogueSize(dataset) if is_catalogue else dataset)
        self.settings = TitleKNNSettings.from_config(config)
        # LLMRec's scoring with only its title_similarity term used: full rankings in item chunks
        self.scoring = Scoring(self.settings.term_values(), self.settings.score_chunk_items)
        self.fake_loss = nn.Parameter(torch.zeros(1))  # RecBole's optimizer needs one parameter
        # Kept out of the module tree: the frozen LM is loaded from llm_path, never saved in checkpoints.
        texts = TextItemEncoder(self.settings.lm_settings(), True, TextOutput(normalize=True))
        texts = texts.eval().to(config["device"])
        self._texts = (texts,)
        self._built_items = dataset if is_catalogue else ItemCatalogue.from_dataset(dataset, self.settings.title_field)
        self.attach_catalogue(self._built_items)
        self.to(config["device"])

    @classmethod
    def check_config(cls, config: Any) -> None:
        """Cheap checks before the dataset and the LM are loaded: the settings and ``llm_path``."""
        resolve_llm_path(TitleKNNSettings.from_config(config).llm_path)

    @property
    def texts(self) -> TextItemEncoder:
        """The frozen LM over the bound catalogue's titles (LLMRec's text item encoder)."""
        return self._texts[0]

    # ------------------------------------------------------------------ catalogue binding
    def attach_dataset(self, dataset: Any) -> None:
        """Bind the titles and ``n_items`` of ``dataset`` (e.g. another domain, zero-shot)."""
        self.attach_catalogue(ItemCatalogue.from_dataset(dataset, self.settings.title_field))

    def attach_catalogue(self, catalogue: ItemCatalogue) -> None:
        """Bind ``catalogue`` (its ids find the rows of ``title_vectors_file``)."""
        self.attach_titles(catalogue.titles, catalogue.item_ids)

    def attach_titles(self, titles: Sequence[str], item_tokens: Optional[Sequence[str]] = None) -> None:
        """Bind a plain catalogue: ``titles[i]`` is item id ``i`` (``titles[0]``: padding, ``""``); ``item_tokens``:
        raw item ids (find rows of ``title_vectors_file``; None: rows are found by title)."""
        self.texts.bind(titles, item_tokens)
        self.n_items = self.texts.n_items
        #: What the scoring term reads of the bound catalogue, and its vectors out and back in.
        self.catalogue = TitleCatalogue(self)

    # ------------------------------------------------------------------ RecBole API
    def calculate_loss(self, interaction: Any) -> torch.Tensor:
        """Zero: nothing to train (the pass RecBole's trainer makes changes nothing)."""
        return self.fake_loss.sum() * 0.0

    def predict(self, interaction: Any) -> torch.Tensor:
        """Cosine [B] of each row's candidate ``ITEM_ID`` with the user's history (sampled protocol)."""
        return self.scoring.scores(self, interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN],
                                   interaction[self.ITEM_ID].long(), terms=["title_similarity"])

    def full_sort_predict(self, interaction: Any) -> torch.Tensor:
        """Cosines [B, n_items] against every item, in chunks of ``score_chunk_items`` (each chunk's
        normalized title rows are the only other [chunk, H] matrix); column 0 (padding) is -inf."""
        scores = self.scoring.scores(self, interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN],
                                     terms=["title_similarity"])
        scores[:, 0] = float("-inf")
        return scores

    def top_items(self, item_seq: torch.Tensor, item_len: torch.Tensor, k: int, start: int = 1,
                  stop: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(scores, ids)`` [B, k]: the ``k`` best of ids ``start..stop-1`` by title similarity, over chunks."""
        return self.scoring.top_k(self, item_seq, item_len, k, start, stop, terms=["title_similarity"])
