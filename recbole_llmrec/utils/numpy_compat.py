"""NumPy aliases RecBole 1.2.1 still uses (``np.float``, ``np.long``, ...), restored on import.

NumPy >= 1.24 removed ``np.float``, ``np.int``, ``np.bool`` and friends. RecBole 1.2.1 uses them
in its metrics (``NDCG``, ``MAP``, ...), its dataset loader and some models, and restores them
only as a side effect of building a ``Config``. A process that never builds one, e.g.
``recbole.quick_start.load_data_and_model(checkpoint)`` followed by ``trainer.evaluate``, would
crash inside RecBole's NDCG. Importing :mod:`recbole_llmrec` calls :func:`restore_numpy_aliases`,
which sets the same aliases RecBole's ``Config.compatibility_settings`` sets.
"""
from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

#: Alias name -> the NumPy type RecBole's Config binds it to.
_ALIASES = {
    "bool": "bool_",
    "int": "int_",
    "float": "float64",
    "complex": "complex128",
    "object": "object_",
    "str": "str_",
    "long": "int_",
    "unicode": "str_",
}


def restore_numpy_aliases() -> None:
    """Define each removed alias that is missing (existing attributes are left untouched)."""
    for alias, target in _ALIASES.items():
        if alias not in np.__dict__:
            setattr(np, alias, getattr(np, target))
