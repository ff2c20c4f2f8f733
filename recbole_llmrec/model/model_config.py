"""The config a model is built from without a dataset (``from_catalogue``): a RecBole ``Config``, its
checkpoint state (:func:`~recbole_llmrec.config.state.config_to_state`, what a model folder's
``config.json`` holds) or plain config entries.

Plain entries are layered over RecBole's own defaults (its ``overall.yaml`` and
``dataset/sample.yaml``, as RecBole's ``Config`` layers them), so ``{"llm_path": ...}`` is enough;
the model's keys default to its YAML (``properties/model/<Model>.yaml``) as always.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional

import recbole
import torch
import yaml

from recbole_llmrec.config import PluginConfig
from recbole_llmrec.config.state import config_from_state, config_to_state

_STATE_KEYS = ("model", "dataset", "parameters", "final_config_dict")


def _recbole_defaults() -> dict[str, Any]:
    folder = os.path.join(os.path.dirname(recbole.__file__), "properties")
    entries: dict[str, Any] = {}
    for name in ("overall.yaml", os.path.join("dataset", "sample.yaml")):
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            entries.update(yaml.safe_load(handle) or {})
    return entries


def model_config(config: Any, model: str, device: Optional[str | torch.device] = None) -> Any:
    """``config`` as a RecBole config of ``model`` (a :class:`PluginConfig` unless a ``Config`` is given
    without ``device``); ``device`` (e.g. ``"cpu"``) replaces the config's own."""
    if not isinstance(config, Mapping):
        if device is None:
            return config
        state = config_to_state(config, single_process=True)
    elif set(_STATE_KEYS) <= set(config):
        state = {key: config[key] for key in _STATE_KEYS}
    else:
        entries = {**_recbole_defaults(), "device": "cpu", **config}
        state = {"model": model, "dataset": entries.get("dataset") or "", "parameters": {},
                 "final_config_dict": entries}
    built = PluginConfig.__new__(PluginConfig)
    config_from_state(built, state)
    if built["model"] is None:
        built.final_config_dict["model"] = model
    if device is not None or isinstance(built["device"], str):
        built.final_config_dict["device"] = torch.device(device if device is not None else built["device"])
    return built


class FromCatalogue:
    """Mixed into a RecBole model whose constructor also takes an :class:`ItemCatalogue` as its dataset."""

    @classmethod
    def from_catalogue(cls, config: Any, catalogue: Any, device: Optional[str | torch.device] = None) -> Any:
        """Build from settings and items alone (no RecBole dataset, splits, samplers or trainer).

        ``config``: a RecBole ``Config``, its checkpoint state or plain config entries (missing keys
        take RecBole's and the model YAML's defaults); ``device`` replaces the config's.
        """
        return cls(model_config(config, cls.__name__, device), catalogue)
