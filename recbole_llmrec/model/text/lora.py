"""LoRA adapters on a backbone (peft), with peft's own per-architecture target modules."""
from __future__ import annotations

from typing import Optional, Sequence

from peft import LoraConfig, get_peft_model
from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
from torch import nn


def check_lora_targets(model_type: str, target_modules: Optional[Sequence[str]]) -> None:
    """ValueError when ``target_modules`` is unset and peft has no default for ``model_type``."""
    if not target_modules and model_type not in TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING:
        raise ValueError(
            f"peft has no default LoRA target modules for model type {model_type!r}; set "
            "lora_target_modules (the names of its attention projections, e.g. [q_proj, v_proj])"
        )


def add_lora(backbone: nn.Module, model_type: str, r: int, alpha: float, dropout: float,
             target_modules: Optional[Sequence[str]] = None) -> nn.Module:
    """``backbone`` wrapped with LoRA adapters; ``target_modules`` None: peft's default for
    ``model_type`` (e.g. BERT: query, value; OPT/Llama: q_proj, v_proj; T5: q, v)."""
    check_lora_targets(model_type, target_modules)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, bias="none",
                        target_modules=list(target_modules) if target_modules else None)
    return get_peft_model(backbone, config)
