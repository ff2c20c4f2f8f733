"""Choice of autocast precision (``autocast_dtype``: auto | bf16 | fp16 | fp32)."""

from __future__ import annotations

import contextlib
import logging
from typing import ContextManager, Optional

import torch

logger = logging.getLogger(__name__)

_NAMED = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 math (AVX512-BF16 or AMX), i.e. bf16 autocast pays off."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    for name in checks:
        fn = getattr(torch.cpu, name, None)
        try:
            if fn is not None and fn():
                return True
        except RuntimeError:  # pragma: no cover
            continue
    return False


def resolve_autocast_dtype(setting: str, device: torch.device) -> Optional[torch.dtype]:
    """Autocast dtype for ``device`` (None = run in fp32). ``auto``: bf16 on CUDA (fp16 if no bf16)
    and on CPUs with native bf16; fp32 elsewhere."""
    if setting != "auto":
        return _NAMED[setting]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        return torch.bfloat16 if cpu_supports_bf16() else None
    return None


def autocast_context(device: torch.device, dtype: Optional[torch.dtype]) -> ContextManager:
    """``torch.autocast`` for ``dtype`` on ``device``, or a no-op for fp32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def full_precision(device: torch.device) -> ContextManager:
    """Autocast off on ``device``: for values computed once and kept (a cache must not depend on whether
    it was first needed inside a training step's autocast)."""
    return torch.autocast(device_type=device.type, enabled=False)


def step_autocast(enabled: bool, setting: str, device: torch.device) -> ContextManager:
    """A training step's autocast (``autocast_training``): ``setting`` resolved on ``device`` when
    ``enabled``, else a no-op."""
    return autocast_context(device, resolve_autocast_dtype(setting, device) if enabled else None)
