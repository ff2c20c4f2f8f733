"""Pooling token states into one vector per sequence: which pooling a backbone gets
(:func:`resolve_pooling`) and the masked pooling itself (left or right padding)."""

from __future__ import annotations

import json
import os
from typing import Optional

import torch

from recbole_llmrec.model.text.backbone import ENCODER


def first_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the first non-pad token of each row (0 for an all-pad row)."""
    return attention_mask.to(torch.int32).argmax(dim=1)


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last non-pad token of each row (works for left and right padding)."""
    length = attention_mask.shape[1]
    flipped = attention_mask.to(torch.int32).flip(1).argmax(dim=1)
    return (length - 1 - flipped).clamp(min=0)


def _gather(hidden: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, index.to(hidden.device)]


def cls_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """State of the first real token ([CLS] for BERT-family models)."""
    return _gather(hidden, first_token_index(attention_mask))


def last_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """State of the last real token (EOS for decoder-only / T5 encoder sequences)."""
    return _gather(hidden, last_token_index(attention_mask))


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the real tokens' states (zeros for an all-pad row)."""
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    total = (hidden * mask).sum(dim=1)
    return total / mask.sum(dim=1).clamp(min=1.0)


POOLERS = {"cls": cls_pool, "last": last_pool, "mean": mean_pool}


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, method: str) -> torch.Tensor:
    """Pool ``hidden`` [B, T, D] with ``attention_mask`` [B, T] by ``method`` (cls | last | mean)."""
    try:
        return POOLERS[method](hidden, attention_mask)
    except KeyError:
        raise ValueError(f"unknown pooling {method!r}; choose one of {sorted(POOLERS)}") from None


#: sentence-transformers pooling flags -> our pooling names.
_ST_POOLING = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls",
               "pooling_mode_lasttoken": "last"}


def declared_pooling(folder: str) -> Optional[str]:
    """The pooling a sentence-transformers checkpoint declares (``1_Pooling/config.json``), if any."""
    path = os.path.join(folder, "1_Pooling", "config.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        flags = json.load(handle)
    chosen = [name for key, name in _ST_POOLING.items() if flags.get(key)]
    return chosen[0] if len(chosen) == 1 else None


def resolve_pooling(pooling: str, family: str, model_type: str, declared: Optional[str] = None) -> str:
    """Map ``auto`` to the checkpoint's declared pooling (sentence-transformers models), else the
    family's ([CLS] for encoders, last token otherwise); reject a pooling that does not fit."""
    if pooling == "auto":
        if declared is not None and not (declared == "cls" and family != ENCODER):
            return declared
        return "cls" if family == ENCODER else "last"
    if pooling == "cls" and family != ENCODER:
        raise ValueError(
            f"pooling 'cls' needs an encoder-only (BERT-family) model with a [CLS] token; "
            f"{model_type!r} is {family}: use 'last' or 'mean'"
        )
    return pooling
