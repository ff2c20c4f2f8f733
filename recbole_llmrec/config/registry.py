"""Model lookup by name: this plugin's models first, RecBole's built-ins next (trainers:
:func:`recbole_llmrec.runs.trainer.get_trainer`).

RecBole's own utilities (``load_data_and_model``, ``case_study``) find models by importing
``recbole.model.<type>_recommender.<name>``; :func:`register_with_recbole` makes our models
resolvable there too, so checkpoints written by this plugin work with RecBole's tools.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import logging
import sys
from typing import Dict, Type

import recbole.data.dataset as recbole_datasets
from recbole.utils import get_model as recbole_get_model

from recbole_llmrec.data.text_dataset import TextFieldDataset

logger = logging.getLogger(__name__)

#: Plugin models: name -> (module, RecBole submodule that RecBole's own lookup searches).
PLUGIN_MODELS: Dict[str, tuple] = {
    "LLMRec": ("recbole_llmrec.model.llmrec", "sequential_recommender"),
    "TitleKNN": ("recbole_llmrec.model.title_knn", "sequential_recommender"),
}


def get_model(model_name: str) -> Type:
    """Return the model class named ``model_name``: a plugin model, else a RecBole model."""
    if model_name in PLUGIN_MODELS:
        module = importlib.import_module(PLUGIN_MODELS[model_name][0])
        return getattr(module, model_name)
    try:
        return recbole_get_model(model_name)
    except (ValueError, ModuleNotFoundError):
        # RecBole's lookup ends in its exlib package, which imports lightgbm/xgboost: for an
        # unknown name without them installed it fails with ModuleNotFoundError instead.
        known = ", ".join(sorted(PLUGIN_MODELS))
        raise ValueError(
            f"unknown model '{model_name}': neither a recbole_llmrec model ({known}) nor a "
            "RecBole model (names are case-sensitive, e.g. SASRec, GRU4Rec, BERT4Rec, Pop)"
        ) from None


class _AliasLoader(importlib.abc.Loader):
    """Loads an alias name as the already-importable plugin module ``target``."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec):  # noqa: D102 - importlib protocol
        return importlib.import_module(self.target)

    def exec_module(self, module) -> None:  # noqa: D102 - importlib protocol
        return None


class _PluginModelFinder(importlib.abc.MetaPathFinder):
    """Resolves ``recbole.model.<submodule>.<name>`` to our model modules, on first use."""

    def find_spec(self, fullname, path, target=None):  # noqa: D102 - importlib protocol
        for name, (module_name, submodule) in PLUGIN_MODELS.items():
            if fullname == f"recbole.model.{submodule}.{name.lower()}":
                return importlib.util.spec_from_loader(fullname, _AliasLoader(module_name))
        return None


def register_with_recbole() -> None:
    """Make plugin models importable under RecBole's model namespace, with their dataset class.

    After this, ``recbole.utils.get_model('LLMRec')`` (and so RecBole's ``load_data_and_model``
    and ``case_study``) resolves our classes. The plugin module is imported only when RecBole
    asks for it; RecBole's own modules are never shadowed (our finder runs after the standard
    ones). RecBole's ``create_dataset`` builds ``recbole.data.dataset.<model>Dataset`` when that
    name exists: each plugin model gets :class:`TextFieldDataset` there (titles kept as Python
    strings), unless RecBole defines the name itself. Calling it twice is harmless.
    """
    if not any(isinstance(finder, _PluginModelFinder) for finder in sys.meta_path):
        sys.meta_path.append(_PluginModelFinder())
    for name in PLUGIN_MODELS:
        if not hasattr(recbole_datasets, f"{name}Dataset"):
            setattr(recbole_datasets, f"{name}Dataset", TextFieldDataset)
