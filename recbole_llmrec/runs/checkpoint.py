"""Checkpoints that load with ``torch.load(weights_only=True)`` and never run pickled code.

Ours store the config as plain data (:mod:`recbole_llmrec.config.state`): a
:class:`~recbole_llmrec.config.PluginConfig`, the single class added to torch's safe globals;
rebuilding it runs our own ``__setstate__``, never code named by the file. Files are written
atomically (a temporary file, then a rename).
"""
from __future__ import annotations

import logging
from typing import Any, Dict

import torch

from recbole_llmrec.utils.atomic import atomic_output
from recbole_llmrec.config.plugin_config import PluginConfig
from recbole_llmrec.runs.files import file_sha256

logger = logging.getLogger(__name__)


def register_safe_globals() -> None:
    """Allow our plain-data config class in ``torch.load(weights_only=True)``."""
    torch.serialization.add_safe_globals([PluginConfig])


def atomic_save(obj: Any, path: str) -> str:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a torn file.
    Returns the SHA-256 of the bytes written (taken before the rename)."""
    with atomic_output(path, ".pth") as tmp:
        torch.save(obj, tmp)
        digest = file_sha256(tmp)
    return digest


def load_checkpoint(path: str, map_location: Any = "cpu") -> Dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (refuses anything but plain data)."""
    register_safe_globals()
    return torch.load(path, map_location=map_location, weights_only=True)
