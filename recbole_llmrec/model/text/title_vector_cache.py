"""The frozen LM's title vectors in the vector cache (``title_vector_cache``: a folder or null).

The key covers everything the vectors depend on: the LM (:func:`lm_identity`: its resolved
location, files and config, the pooling, the compute dtype) and the exact token ids of every title
(so titles, tokenizer and ``max_title_tokens``). Storage is
:class:`~recbole_llmrec.model.text.vector_cache.VectorCache`.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Optional

import torch

from recbole_llmrec.model.text.precision import resolve_autocast_dtype
from recbole_llmrec.model.text.vector_cache import VectorCache
from recbole_llmrec.model.text.vector_cache import cache_key as vector_key

logger = logging.getLogger(__name__)

_NAME = "title_vectors"


def lm_identity(encoder: Any, device: torch.device) -> dict:
    """What a :class:`~recbole_llmrec.model.text.text_encoder.TextEncoder`'s title vectors depend on besides
    the titles."""
    resolved = encoder.resolved
    files = {}
    if os.path.isdir(resolved.path):
        for name in sorted(os.listdir(resolved.path)):
            full = os.path.join(resolved.path, name)
            if os.path.isfile(full):
                stat = os.stat(full)
                files[name] = [stat.st_size, int(stat.st_mtime)]
    dtype = resolve_autocast_dtype(encoder.settings.autocast_dtype, device)
    return {"path": resolved.path, "gguf": resolved.gguf_file, "files": files, "pooling": encoder.pooling,
            "dtype": str(dtype), "config": encoder.backbone.config.to_json_string()}


def cache_key(identity: dict, title_ids: torch.Tensor, title_offsets: torch.Tensor) -> str:
    """Key of the title vectors of an LM (``identity``) and a tokenized title table."""
    return vector_key({"kind": _NAME, "lm": identity}, title_ids, title_offsets)


def load(folder: Optional[str], key: str) -> Optional[torch.Tensor]:
    """The cached vectors for ``key``, or None (no folder, no file, or an unreadable file: logged)."""
    if not folder:
        return None
    stored = VectorCache(folder).load(key)
    if stored is None or _NAME not in stored:
        return None
    logger.info("title vectors read from cache %s", VectorCache(folder).path(key))
    return stored[_NAME]


def save(folder: Optional[str], key: str, vectors: torch.Tensor) -> None:
    """Store ``vectors`` under ``key`` (no-op without a folder)."""
    if not folder:
        return
    path = VectorCache(folder).save(key, {_NAME: vectors})
    logger.info("title vectors cached in %s", path)
