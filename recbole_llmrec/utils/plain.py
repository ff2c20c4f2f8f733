"""Plain data from RecBole's containers: metric dicts (OrderedDict, numpy scalars and keys) as
dicts, lists, ints, floats and strings -- what JSON files and ``weights_only`` checkpoints hold
(a leaf module)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch


def plain_key(key: Any) -> Any:
    """A dict key as a plain ``int`` or ``str`` (numpy's ``str_``/``int64`` are not
    ``weights_only``-safe)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return int(key)
    return str(key)


def plain_result(value: Any, json_ready: bool = False) -> Any:
    """``value`` with dicts, lists and numpy scalars made plain; tensors are left as they are, or with
    ``json_ready`` made lists (and devices strings)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {plain_key(k): plain_result(v, json_ready) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_result(v, json_ready) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist() if json_ready else value
    if json_ready and isinstance(value, torch.device):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    return value
