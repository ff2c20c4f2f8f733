"""Typed, validated settings of LLM-Rec, read from a RecBole config before the LM is loaded."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import yaml

from recbole_llmrec.model.negative_sampling import STRATEGIES
from recbole_llmrec.resources import properties_dir

logger = logging.getLogger(__name__)

TUNING_MODES = ("full", "lora", "frozen")
POOLINGS = ("auto", "cls", "last", "mean")
AUTOCAST_DTYPES = ("auto", "bf16", "fp16", "fp32")
USER_ENCODERS = ("sentence", "sequence")
ADAPTORS = ("none", "whiten", "mlp", "whiten_mlp")


def _yaml_defaults() -> dict[str, Any]:
    """The documented defaults: ``properties/model/LLMRec.yaml`` is their one source."""
    with open(properties_dir() / "model" / "LLMRec.yaml", encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


_DEFAULTS = _yaml_defaults()


def _default(name: str) -> Any:
    value = _DEFAULTS.get(name)
    if isinstance(value, list):
        return dataclasses.field(default_factory=lambda: list(value))
    return value


@dataclass
class LLMRecSettings:
    """All LLM-Rec model options; defaults and meaning: ``properties/model/LLMRec.yaml``."""

    llm_path: str = _default("llm_path")
    trust_remote_code: bool = _default("trust_remote_code")
    pooling: str = _default("pooling")
    tuning: str = _default("tuning")
    lora_r: int = _default("lora_r")
    lora_alpha: int = _default("lora_alpha")
    lora_dropout: float = _default("lora_dropout")
    lora_target_modules: Optional[list[str]] = _default("lora_target_modules")
    projection_size: Optional[int] = _default("projection_size")
    gradient_checkpointing: bool = _default("gradient_checkpointing")
    autocast_dtype: str = _default("autocast_dtype")
    user_encoder: str = _default("user_encoder")
    max_history: int = _default("max_history")
    max_title_tokens: int = _default("max_title_tokens")
    title_separator: str = _default("title_separator")
    title_field: str = _default("title_field")
    domain_field: str = _default("domain_field")
    title_vector_cache: Optional[str] = _default("title_vector_cache")
    adaptor: str = _default("adaptor")
    id_fusion: bool = _default("id_fusion")
    id_dropout: float = _default("id_dropout")
    title_similarity_weight: float = _default("title_similarity_weight")
    unseen_title_similarity_weight: Optional[float] = _default("unseen_title_similarity_weight")
    cold_title_similarity_weight: Optional[float] = _default("cold_title_similarity_weight")
    seq_hidden_size: int = _default("seq_hidden_size")
    seq_inner_size: int = _default("seq_inner_size")
    seq_layers: int = _default("seq_layers")
    seq_heads: int = _default("seq_heads")
    seq_dropout: float = _default("seq_dropout")
    negative_sampling: str = _default("negative_sampling")
    num_negatives: int = _default("num_negatives")
    item_table_refresh_steps: int = _default("item_table_refresh_steps")
    logit_scale: float = _default("logit_scale")
    normalize_embeddings: bool = _default("normalize_embeddings")
    item_encode_batch_size: int = _default("item_encode_batch_size")
    pack_min_efficiency: float = _default("pack_min_efficiency")

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_config(cls, config: Any) -> "LLMRecSettings":
        """Build from a RecBole ``Config`` (or any mapping); missing/None keys keep their defaults."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            value = _get(config, f.name)
            if value is not None:
                values[f.name] = value
        # projection_size / lora_target_modules may legitimately be null: keep None.
        settings = cls(**values)
        max_len = _get(config, "MAX_ITEM_LIST_LENGTH")
        if max_len is not None and int(max_len) < settings.max_history:
            logger.warning(
                "MAX_ITEM_LIST_LENGTH=%s < max_history=%s: only %s items of history reach the model",
                max_len, settings.max_history, max_len,
            )
        return settings

    def validate(self) -> None:
        """Normalize types and raise ``ValueError`` with a clear message on a bad value."""
        _choice("tuning", self.tuning, TUNING_MODES)
        _choice("pooling", self.pooling, POOLINGS)
        _choice("negative_sampling", self.negative_sampling, tuple(STRATEGIES))
        _choice("user_encoder", self.user_encoder, USER_ENCODERS)
        _choice("adaptor", self.adaptor, ADAPTORS)
        _choice("autocast_dtype", self.autocast_dtype, AUTOCAST_DTYPES)
        if not isinstance(self.llm_path, str) or not self.llm_path.strip():
            raise ValueError("llm_path must be a non-empty string (folder, installed package or hub name)")
        self.max_history = _int("max_history", self.max_history, minimum=1)
        self.max_title_tokens = _int("max_title_tokens", self.max_title_tokens, minimum=1)
        self.num_negatives = _int("num_negatives", self.num_negatives, minimum=0)
        self.item_table_refresh_steps = _int("item_table_refresh_steps", self.item_table_refresh_steps, minimum=1)
        for name in ("seq_hidden_size", "seq_inner_size", "seq_layers", "seq_heads"):
            setattr(self, name, _int(name, getattr(self, name), minimum=1))
        self.id_dropout = _float("id_dropout", self.id_dropout)
        if not 0.0 <= self.id_dropout < 1.0:
            raise ValueError(f"id_dropout must be in [0, 1), got {self.id_dropout}")
        self.title_similarity_weight = _float("title_similarity_weight", self.title_similarity_weight)
        if self.title_similarity_weight < 0:
            raise ValueError(f"title_similarity_weight must be >= 0, got {self.title_similarity_weight}")
        for key in ("unseen_title_similarity_weight", "cold_title_similarity_weight"):
            value = getattr(self, key)
            if value is not None:
                setattr(self, key, _float(key, value))
                if getattr(self, key) < 0:
                    raise ValueError(f"{key} must be >= 0, got {value}")
        self.seq_dropout = _float("seq_dropout", self.seq_dropout)
        if not 0.0 <= self.seq_dropout < 1.0:
            raise ValueError(f"seq_dropout must be in [0, 1), got {self.seq_dropout}")
        if self.seq_hidden_size % self.seq_heads:
            raise ValueError(f"seq_hidden_size ({self.seq_hidden_size}) must be a multiple of seq_heads ({self.seq_heads})")
        if self.user_encoder == "sequence" and self.tuning != "frozen":
            raise ValueError(
                f"user_encoder 'sequence' reads LM title vectors encoded once: it needs tuning 'frozen', got {self.tuning!r}"
            )
        self.item_encode_batch_size = _int("item_encode_batch_size", self.item_encode_batch_size, minimum=1)
        self.lora_r = _int("lora_r", self.lora_r, minimum=1)
        self.lora_alpha = _int("lora_alpha", self.lora_alpha, minimum=1)
        self.lora_dropout = _float("lora_dropout", self.lora_dropout)
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        self.pack_min_efficiency = _float("pack_min_efficiency", self.pack_min_efficiency)
        if not 0.0 <= self.pack_min_efficiency <= 1.0:
            raise ValueError(f"pack_min_efficiency must be in [0, 1] (0 = off), got {self.pack_min_efficiency}")
        self.logit_scale = _float("logit_scale", self.logit_scale)
        if self.logit_scale <= 0:
            raise ValueError(f"logit_scale must be > 0, got {self.logit_scale}")
        if self.projection_size is not None:
            self.projection_size = _int("projection_size", self.projection_size, minimum=0) or None
        STRATEGIES[self.negative_sampling].check(self)
        if self.title_vector_cache is not None and not isinstance(self.title_vector_cache, str):
            raise ValueError(f"title_vector_cache must be a folder path or null, got {self.title_vector_cache!r}")
        if not isinstance(self.title_separator, str):
            raise ValueError(f"title_separator must be a string, got {self.title_separator!r}")
        if isinstance(self.lora_target_modules, str):
            self.lora_target_modules = [m.strip() for m in self.lora_target_modules.split(",") if m.strip()]
        if self.lora_target_modules is not None:
            if not isinstance(self.lora_target_modules, (list, tuple)) or not self.lora_target_modules:
                raise ValueError(
                    "lora_target_modules must be null or a non-empty list of module names, "
                    f"got {self.lora_target_modules!r}"
                )
            self.lora_target_modules = [str(m) for m in self.lora_target_modules]
        for name in ("trust_remote_code", "gradient_checkpointing", "normalize_embeddings", "id_fusion"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, got {value!r}")


def _get(config: Any, key: str) -> Any:
    if isinstance(config, Mapping):
        return config.get(key)
    try:
        return config[key]  # RecBole Config returns None for unknown keys
    except KeyError:
        return None


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)
