"""An on-disk cache of frozen LM title vectors (``title_vector_cache``), for ``user_encoder: sequence``.

The key covers everything the vectors depend on: the LM (its resolved location and config), the
pooling, the compute dtype and the exact token ids of every title (so titles, tokenizer and
``max_title_tokens``). Files are written all-or-nothing and read with ``weights_only=True``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Optional

import torch

from recbole_llmrec.atomic import atomic_output

logger = logging.getLogger(__name__)


def cache_key(lm_identity: dict, title_ids: torch.Tensor, title_offsets: torch.Tensor) -> str:
    """Hex digest of the LM identity and the tokenized titles."""
    digest = hashlib.sha256(json.dumps(lm_identity, sort_keys=True, default=str).encode())
    digest.update(title_ids.detach().cpu().numpy().tobytes())
    digest.update(title_offsets.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:32]


def load(folder: Optional[str], key: str) -> Optional[torch.Tensor]:
    """The cached vectors for ``key``, or None (no folder, no file, or an unreadable file: logged)."""
    if not folder:
        return None
    path = os.path.join(folder, f"{key}.pt")
    if not os.path.isfile(path):
        return None
    try:
        vectors = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged file is re-encoded, never trusted
        logger.warning("title vector cache %s unreadable (%s): encoding again", path, err)
        return None
    logger.info("title vectors read from cache %s", path)
    return vectors


def save(folder: Optional[str], key: str, vectors: torch.Tensor) -> None:
    """Store ``vectors`` under ``key`` (no-op without a folder)."""
    if not folder:
        return
    path = os.path.join(folder, f"{key}.pt")
    with atomic_output(path, ".pt") as tmp:
        torch.save(vectors.detach().cpu(), tmp)
    logger.info("title vectors cached in %s", path)
