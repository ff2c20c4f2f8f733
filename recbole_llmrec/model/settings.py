"""Typed, validated settings of LLM-Rec, one record per part, read from a RecBole config before the LM
is loaded; each part is given its own record and only that.

* :class:`LMSettings` -> the text side (``model/text/``): the LM, LoRA, pooling, precision, title
  tokens, and where the frozen title vectors come from (``title_vector_cache``, ``title_vectors_file``);
* :class:`SentenceSettings` -> ``user_encoder: sentence`` (its projection head, its training item table);
* :class:`SequenceSettings` -> ``user_encoder: sequence`` (adaptor, id fusion, transformer, text head);
* :class:`NegativeSettings` -> the training softmax (``negative_sampling`` strategy, logit scale);
* :class:`ScoringSettings` -> the ranking score (chunking, every scoring term's keys);
* :class:`FieldSettings` -> the dataset's title and domain fields.

A key of two parts (``max_history``, ``normalize_embeddings``: both user encoders) is in both records.
Each record validates itself and raises ``ValueError`` naming the key; a key given to a part it is not a
setting of is a ``ValueError`` naming the key and the part. :class:`LLMRecSettings` holds one record of
each (``settings.lm.tuning``, ``settings.users.max_history``: the chosen user encoder's record).
``properties/model/LLMRec.yaml`` is the one source of defaults.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import yaml

from recbole_llmrec.model.checks import bools as _bools
from recbole_llmrec.model.checks import choice as _choice
from recbole_llmrec.model.checks import fraction as _fraction
from recbole_llmrec.model.checks import integer as _int
from recbole_llmrec.model.checks import number as _float
from recbole_llmrec.model.checks import optional_integer as _optional_int
from recbole_llmrec.model.negative_sampling import AUTO_CHOICES, STRATEGIES
from recbole_llmrec.model.scoring import SCORING_TERMS
from recbole_llmrec.model.user_encoders import USER_ENCODERS
from recbole_llmrec.utils.resources import properties_dir

logger = logging.getLogger(__name__)

TUNING_MODES = ("full", "lora", "frozen")
POOLINGS = ("auto", "cls", "last", "mean")
AUTOCAST_DTYPES = ("auto", "bf16", "fp16", "fp32")
ADAPTORS = ("none", "whiten", "mlp", "whiten_mlp", "moe")


def _yaml_defaults() -> dict[str, Any]:
    """The documented defaults: ``properties/model/LLMRec.yaml`` is their one source."""
    with open(properties_dir() / "model" / "LLMRec.yaml", encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


_DEFAULTS = _yaml_defaults()


def yaml_default(name: str) -> Any:
    """The default of ``name`` in ``LLMRec.yaml`` (None when the YAML has no such key)."""
    value = _DEFAULTS.get(name)
    return list(value) if isinstance(value, list) else value


def _default(name: str) -> Any:
    value = _DEFAULTS.get(name)
    if isinstance(value, list):
        return dataclasses.field(default_factory=lambda: list(value))
    return value


@dataclass
class LMSettings:
    """The language model and its title inputs (``# --- language model`` in the YAML)."""

    PART = "the language model"

    llm_path: str = _default("llm_path")
    trust_remote_code: bool = _default("trust_remote_code")
    pooling: str = _default("pooling")
    tuning: str = _default("tuning")
    lora_r: int = _default("lora_r")
    lora_alpha: int = _default("lora_alpha")
    lora_dropout: float = _default("lora_dropout")
    lora_target_modules: Optional[list[str]] = _default("lora_target_modules")
    gradient_checkpointing: bool = _default("gradient_checkpointing")
    autocast_dtype: str = _default("autocast_dtype")
    autocast_training: bool = _default("autocast_training")
    max_title_tokens: int = _default("max_title_tokens")
    title_separator: str = _default("title_separator")
    title_vector_cache: Optional[str] = _default("title_vector_cache")
    title_vectors_file: Optional[str] = _default("title_vectors_file")
    item_encode_batch_size: int = _default("item_encode_batch_size")
    pack_min_efficiency: float = _default("pack_min_efficiency")

    def __post_init__(self) -> None:
        _choice("tuning", self.tuning, TUNING_MODES)
        _choice("pooling", self.pooling, POOLINGS)
        _choice("autocast_dtype", self.autocast_dtype, AUTOCAST_DTYPES)
        if not isinstance(self.llm_path, str) or not self.llm_path.strip():
            raise ValueError("llm_path must be a non-empty string (folder, installed package or hub name)")
        self.max_title_tokens = _int("max_title_tokens", self.max_title_tokens, minimum=1)
        self.item_encode_batch_size = _int("item_encode_batch_size", self.item_encode_batch_size, minimum=1)
        self.lora_r = _int("lora_r", self.lora_r, minimum=1)
        self.lora_alpha = _int("lora_alpha", self.lora_alpha, minimum=1)
        self.lora_dropout = _fraction("lora_dropout", self.lora_dropout)
        self.pack_min_efficiency = _float("pack_min_efficiency", self.pack_min_efficiency)
        if not 0.0 <= self.pack_min_efficiency <= 1.0:
            raise ValueError(f"pack_min_efficiency must be in [0, 1] (0 = off), got {self.pack_min_efficiency}")
        if self.title_vector_cache is not None and not isinstance(self.title_vector_cache, str):
            raise ValueError(f"title_vector_cache must be a folder path or null, got {self.title_vector_cache!r}")
        if self.title_vectors_file is not None and not isinstance(self.title_vectors_file, str):
            raise ValueError(f"title_vectors_file must be a file path or null, got {self.title_vectors_file!r}")
        if not isinstance(self.title_separator, str):
            raise ValueError(f"title_separator must be a string, got {self.title_separator!r}")
        if isinstance(self.lora_target_modules, str):
            self.lora_target_modules = [m.strip() for m in self.lora_target_modules.split(",") if m.strip()]
        if self.lora_target_modules is not None:
            if not isinstance(self.lora_target_modules, (list, tuple)) or not self.lora_target_modules:
                raise ValueError("lora_target_modules must be null or a non-empty list of module names, "
                                 f"got {self.lora_target_modules!r}")
            self.lora_target_modules = [str(m) for m in self.lora_target_modules]
        _bools(self, ("trust_remote_code", "gradient_checkpointing", "autocast_training"))


@dataclass
class SentenceSettings:
    """``user_encoder: sentence`` (the paper): the history's titles as one sentence through the LM."""

    PART = "user_encoder 'sentence'"

    max_history: int = _default("max_history")
    projection_size: Optional[int] = _default("projection_size")
    normalize_embeddings: bool = _default("normalize_embeddings")
    item_table_refresh_steps: int = _default("item_table_refresh_steps")

    def __post_init__(self) -> None:
        self.max_history = _int("max_history", self.max_history, minimum=1)
        if self.projection_size is not None:
            self.projection_size = _int("projection_size", self.projection_size, minimum=0) or None
        self.item_table_refresh_steps = _int("item_table_refresh_steps", self.item_table_refresh_steps, minimum=1)
        _bools(self, ("normalize_embeddings",))


@dataclass
class SequenceSettings:
    """``user_encoder: sequence`` (the CPU default) and its parts (``# --- user encoder`` in the YAML)."""

    PART = "user_encoder 'sequence'"

    max_history: int = _default("max_history")
    normalize_embeddings: bool = _default("normalize_embeddings")
    adaptor: str = _default("adaptor")
    adaptor_experts: int = _default("adaptor_experts")
    id_fusion: bool = _default("id_fusion")
    id_dropout: float = _default("id_dropout")
    seq_hidden_size: int = _default("seq_hidden_size")
    seq_inner_size: int = _default("seq_inner_size")
    seq_layers: int = _default("seq_layers")
    seq_heads: int = _default("seq_heads")
    seq_dropout: float = _default("seq_dropout")
    text_head: bool = _default("text_head")
    text_head_rank: int = _default("text_head_rank")

    def __post_init__(self) -> None:
        _choice("adaptor", self.adaptor, ADAPTORS)
        self.max_history = _int("max_history", self.max_history, minimum=1)
        self.adaptor_experts = _int("adaptor_experts", self.adaptor_experts, minimum=1)
        for name in ("seq_hidden_size", "seq_inner_size", "seq_layers", "seq_heads"):
            setattr(self, name, _int(name, getattr(self, name), minimum=1))
        self.id_dropout = _fraction("id_dropout", self.id_dropout)
        self.seq_dropout = _fraction("seq_dropout", self.seq_dropout)
        if self.seq_hidden_size % self.seq_heads:
            raise ValueError(f"seq_hidden_size ({self.seq_hidden_size}) must be a multiple of seq_heads ({self.seq_heads})")
        self.text_head_rank = _int("text_head_rank", self.text_head_rank, minimum=0)
        _bools(self, ("id_fusion", "text_head", "normalize_embeddings"))


@dataclass
class NegativeSettings:
    """The training softmax: ``negative_sampling`` strategy (or ``auto``: chosen by catalogue size) and its keys."""

    PART = "negative sampling"

    negative_sampling: str = _default("negative_sampling")
    num_negatives: int = _default("num_negatives")
    sampled_negatives: int = _default("sampled_negatives")
    sampled_distribution: str = _default("sampled_distribution")
    logit_scale: float = _default("logit_scale")

    def __post_init__(self) -> None:
        _choice("negative_sampling", self.negative_sampling, tuple(STRATEGIES) + ("auto",))
        self.num_negatives = _int("num_negatives", self.num_negatives, minimum=0)
        self.sampled_negatives = _int("sampled_negatives", self.sampled_negatives, minimum=0)
        self.logit_scale = _float("logit_scale", self.logit_scale)
        if self.logit_scale <= 0:
            raise ValueError(f"logit_scale must be > 0, got {self.logit_scale}")
        for name in AUTO_CHOICES if self.negative_sampling == "auto" else (self.negative_sampling,):
            STRATEGIES[name].check(self)


@dataclass
class ScoringSettings:
    """The ranking score: the chunking of full-catalogue scoring (``score_chunk_items``), the evaluation
    batches' bound (``full_sort_max_entries``), and the keys of every registered scoring term (``terms``:
    key -> value; a key missing from the config takes its YAML default)."""

    PART = "scoring"

    score_chunk_items: Optional[int] = _default("score_chunk_items")
    full_sort_max_entries: Optional[int] = _default("full_sort_max_entries")
    terms: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("score_chunk_items", "full_sort_max_entries"):
            setattr(self, name, _optional_int(name, getattr(self, name), minimum=1))
        values = {key: yaml_default(key) for term in SCORING_TERMS.values() for key in term.keys}
        values.update(self.terms)
        for term in SCORING_TERMS.values():
            term.check({key: values[key] for key in term.keys})
        self.terms = values


@dataclass
class FieldSettings:
    """The dataset's item fields LLM-Rec reads."""

    PART = "dataset fields"

    title_field: str = _default("title_field")
    domain_field: str = _default("domain_field")


#: Record name on :class:`LLMRecSettings` -> record class.
RECORDS: dict[str, type] = {"lm": LMSettings, "sentence": SentenceSettings, "sequence": SequenceSettings,
                            "negatives": NegativeSettings, "scoring": ScoringSettings, "fields": FieldSettings}
#: ``user_encoder`` value -> the name of its record.
USER_ENCODER_RECORDS = {"sentence": "sentence", "sequence": "sequence"}


def _term_keys() -> set[str]:
    return {key for term in SCORING_TERMS.values() for key in term.keys}


def _owners() -> dict[str, list[str]]:
    """Key -> the records it is a setting of (scoring terms' keys: ``scoring``)."""
    owners: dict[str, list[str]] = {}
    for record, cls in RECORDS.items():
        for field in dataclasses.fields(cls):
            if field.name != "terms":
                owners.setdefault(field.name, []).append(record)
    for key in _term_keys():
        owners.setdefault(key, []).append("scoring")
    return owners


def build_record(cls: type, values: Mapping[str, Any]) -> Any:
    """``cls(**values)`` (a record class of :data:`RECORDS`), validated; a key that is not one of its
    settings is a ``ValueError`` naming the key, the part and the part(s) it belongs to."""
    own = {f.name for f in dataclasses.fields(cls)} - {"terms"}
    terms = _term_keys() if cls is ScoringSettings else set()
    for key in values:
        if key not in own and key not in terms:
            where = [RECORDS[r].PART for r in _owners().get(key, [])]
            hint = f"; it is a setting of {' and '.join(where)}" if where else ""
            raise ValueError(f"{key!r} is not a setting of {cls.PART} ({cls.__name__}){hint}")
    if terms:
        values = {**{k: v for k, v in values.items() if k in own},
                  "terms": {k: v for k, v in values.items() if k in terms}}
    return cls(**values)


class LLMRecSettings:
    """All LLM-Rec model options, one record per part (:data:`RECORDS`); defaults and meaning:
    ``properties/model/LLMRec.yaml``. ``LLMRecSettings(key=value, ...)`` takes any part's key (an unknown
    key is a ``ValueError``); read a value from its part's record (``settings.lm.llm_path``)."""

    def __init__(self, **values: Any) -> None:
        owners = _owners()
        user_encoder = values.pop("user_encoder", _DEFAULTS.get("user_encoder"))
        _choice("user_encoder", user_encoder, tuple(USER_ENCODERS))
        parts: dict[str, dict[str, Any]] = {record: {} for record in RECORDS}
        for key, value in values.items():
            if key not in owners:
                raise ValueError(f"LLMRec has no setting {key!r} (properties/model/LLMRec.yaml lists them)")
            for record in owners[key]:
                parts[record][key] = value
        #: Which user encoder (``USER_ENCODERS`` key).
        self.user_encoder: str = user_encoder
        self.lm: LMSettings = build_record(LMSettings, parts["lm"])
        self.sentence: SentenceSettings = build_record(SentenceSettings, parts["sentence"])
        self.sequence: SequenceSettings = build_record(SequenceSettings, parts["sequence"])
        self.negatives: NegativeSettings = build_record(NegativeSettings, parts["negatives"])
        self.scoring: ScoringSettings = build_record(ScoringSettings, parts["scoring"])
        self.fields: FieldSettings = build_record(FieldSettings, parts["fields"])
        USER_ENCODERS[user_encoder].check(self.users, self.lm)

    @property
    def users(self) -> Any:
        """The chosen user encoder's record (:class:`SentenceSettings` or :class:`SequenceSettings`)."""
        return getattr(self, USER_ENCODER_RECORDS[self.user_encoder])

    def idle_keys(self) -> list[str]:
        """Keys changed from their default (``LLMRec.yaml``) that only the user encoder *not* chosen reads:
        they have no effect (e.g. ``adaptor`` with ``user_encoder: sentence``)."""
        chosen = USER_ENCODER_RECORDS[self.user_encoder]
        owners = _owners()
        idle = []
        for record in set(USER_ENCODER_RECORDS.values()) - {chosen}:
            values, defaults = getattr(self, record), RECORDS[record]()
            idle += [f.name for f in dataclasses.fields(values)
                     if chosen not in owners[f.name] and getattr(values, f.name) != getattr(defaults, f.name)]
        return sorted(idle)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LLMRecSettings) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"LLMRecSettings({self.as_dict()!r})"

    def as_dict(self) -> dict[str, Any]:
        """Every key and its value, flat (a key of two records has one value)."""
        out: dict[str, Any] = {"user_encoder": self.user_encoder}
        for record in RECORDS:
            part = dataclasses.asdict(getattr(self, record))
            out.update(part.pop("terms", {}))
            out.update(part)
        return out

    @classmethod
    def from_config(cls, config: Any) -> "LLMRecSettings":
        """Build from a RecBole ``Config`` (or any mapping); missing/None keys keep their defaults."""
        keys = ["user_encoder"] + list(_owners())
        values = {key: config_value(config, key) for key in keys}
        settings = cls(**{k: v for k, v in values.items() if v is not None})
        max_len = config_value(config, "MAX_ITEM_LIST_LENGTH")
        if max_len is not None and int(max_len) < settings.users.max_history:
            logger.warning("MAX_ITEM_LIST_LENGTH=%s < max_history=%s: only %s items of history reach the model",
                           max_len, settings.users.max_history, max_len)
        return settings


def config_value(config: Any, key: str) -> Any:
    """``config[key]`` of a RecBole ``Config`` or a mapping; None when absent."""
    if isinstance(config, Mapping):
        return config.get(key)
    try:
        return config[key]  # RecBole Config returns None for unknown keys
    except KeyError:
        return None
