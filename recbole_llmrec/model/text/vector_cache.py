"""The one on-disk vector cache: named tensors in a safetensors file per key, one key function.

Used for the frozen LM's title vectors (:mod:`recbole_llmrec.model.text.title_vector_cache`, training,
evaluation, zero-shot) and for a checkpoint's catalogue vectors (``recommend``, item-vector export).
A key is the SHA-256 of an identity (plain data: what the vectors depend on) and, optionally, of
tensors (e.g. the titles' token ids). Files are written all-or-nothing; an unreadable file is
logged and encoded again, never trusted.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import torch

from recbole_llmrec.utils.atomic import atomic_output

logger = logging.getLogger(__name__)

#: Bumped when the cached content or its key changes meaning.
CACHE_FORMAT = 2
#: Environment variable naming the default cache folder.
CACHE_ENV = "RECBOLE_LLMREC_CACHE"


def default_cache_dir() -> Path:
    """``$RECBOLE_LLMREC_CACHE``, else ``$XDG_CACHE_HOME/recbole_llmrec/serving/item_vectors`` (``~/.cache``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "recbole_llmrec" / "item_vectors"


def file_identity(path: str) -> Dict[str, Any]:
    """What identifies a file (e.g. a checkpoint) cheaply: absolute path, size and modification time (ns)."""
    stat = os.stat(path)
    return {"path": os.path.abspath(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cache_key(identity: Mapping[str, Any], *tensors: torch.Tensor) -> str:
    """Hex key (32 digits) of ``identity`` (JSON-able) and the bytes of ``tensors``."""
    payload = {"format": CACHE_FORMAT, **identity}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode())
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


class VectorCache:
    """Named tensors per key, one safetensors file each, in ``folder`` (default :func:`default_cache_dir`)."""

    def __init__(self, folder: Optional[str | os.PathLike] = None) -> None:
        self.folder = Path(folder) if folder is not None else default_cache_dir()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.safetensors"

    def load(self, key: str) -> Optional[Dict[str, torch.Tensor]]:
        """The tensors stored under ``key``, or None (missing, or unreadable: logged, encoded again)."""
        from safetensors.torch import load_file

        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return load_file(str(path))
        except Exception as err:  # a damaged cache file is not fatal: encode again
            logger.warning("ignoring unreadable vector cache file %s (%s)", path, err)
            return None

    def save(self, key: str, tensors: Dict[str, torch.Tensor], metadata: Optional[Dict[str, Any]] = None) -> Path:
        """Store ``tensors`` (as float32) under ``key`` (temporary file + rename)."""
        from safetensors.torch import save_file

        path = self.path(key)
        plain = {name: t.detach().to("cpu", torch.float32).contiguous() for name, t in tensors.items()}
        with atomic_output(str(path), ".safetensors") as tmp:
            save_file(plain, tmp, metadata={k: str(v) for k, v in (metadata or {}).items()})
        return path
