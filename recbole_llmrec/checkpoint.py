"""Checkpoints that load with ``torch.load(weights_only=True)`` and never run pickled code.

RecBole pickles its whole ``Config`` into every checkpoint, which torch >= 2.6 refuses to load.
Ours store the config as plain data: a :class:`~recbole_llmrec.config.PluginConfig` whose pickled
state holds only strings, numbers, lists and dicts (RecBole's enums and ``torch.device`` are
written as tagged dicts). ``PluginConfig`` is the single class added to torch's safe globals;
rebuilding it runs our own ``__setstate__``, never code named by the file.
"""
from __future__ import annotations

import logging
from enum import Enum
from typing import Any, Dict

import torch
from recbole.utils import enum_type

from recbole_llmrec.atomic import atomic_output

logger = logging.getLogger(__name__)

_ENUM_TAG = "__recbole_enum__"
_DEVICE_TAG = "__torch_device__"
_ENUMS = {cls.__name__: cls for cls in vars(enum_type).values()
          if isinstance(cls, type) and issubclass(cls, Enum) and cls is not Enum}


def _encode(value: Any) -> Any:
    if isinstance(value, Enum) and type(value).__name__ in _ENUMS:
        return {_ENUM_TAG: type(value).__name__, "name": value.name}
    if isinstance(value, torch.device):
        return {_DEVICE_TAG: str(value)}
    if isinstance(value, dict):
        return {key: _encode(val) for key, val in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(val) for val in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"config value of type {type(value).__name__} cannot be checkpointed safely")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if _ENUM_TAG in value:
            return _ENUMS[value[_ENUM_TAG]][value["name"]]
        if _DEVICE_TAG in value:
            return torch.device(value[_DEVICE_TAG])
        return {key: _decode(val) for key, val in value.items()}
    if isinstance(value, list):
        return [_decode(val) for val in value]
    return value


def config_to_state(config: Any) -> Dict[str, Any]:
    """Plain-data state of a RecBole config (what a checkpoint stores)."""
    return {
        "model": config.model,
        "dataset": config.dataset,
        "parameters": _encode(config.parameters),
        "final_config_dict": _encode(config.final_config_dict),
    }


def config_from_state(config: Any, state: Dict[str, Any]) -> None:
    """Fill a bare config object from :func:`config_to_state` output."""
    from recbole_llmrec.registry import get_model

    config.parameters = _decode(state["parameters"])
    config.final_config_dict = _decode(state["final_config_dict"])
    config.model = state["model"]
    config.dataset = state["dataset"]
    config.yaml_loader = config._build_yaml_loader()
    config.model_class = get_model(state["model"])
    for name in ("file_config_dict", "variable_config_dict", "cmd_config_dict",
                 "external_config_dict", "internal_config_dict"):
        setattr(config, name, {})


def register_safe_globals() -> None:
    """Allow our plain-data config class in ``torch.load(weights_only=True)``."""
    from recbole_llmrec.config import PluginConfig

    torch.serialization.add_safe_globals([PluginConfig])


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a torn file."""
    with atomic_output(path, ".pth") as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str, map_location: Any = "cpu") -> Dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (refuses anything but plain data)."""
    register_safe_globals()
    return torch.load(path, map_location=map_location, weights_only=True)
