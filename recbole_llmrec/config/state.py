"""A RecBole config as plain data, and back: what a ``weights_only`` checkpoint stores.

RecBole pickles its whole ``Config`` into every checkpoint, which torch >= 2.6 refuses to load.
:class:`~recbole_llmrec.config.PluginConfig` pickles to :func:`config_to_state` instead: only
strings, numbers, lists and dicts (RecBole's enums and ``torch.device`` are written as tagged
dicts), rebuilt by :func:`config_from_state`, never by code named in the file.
"""
from __future__ import annotations

from enum import Enum
from typing import Any, Dict

import torch
from recbole.utils import enum_type

from recbole_llmrec.config.registry import get_model

_ENUM_TAG = "__recbole_enum__"
_DEVICE_TAG = "__torch_device__"
_ENUMS = {cls.__name__: cls for cls in vars(enum_type).values()
          if isinstance(cls, type) and issubclass(cls, Enum) and cls is not Enum}

#: Config entries of a DDP rank; a checkpoint stores the config without them.
DDP_KEYS = ("nproc", "world_size", "ip", "port", "offset", "init_method")


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


def config_to_state(config: Any, single_process: bool = False) -> Dict[str, Any]:
    """Plain-data state of a RecBole config (what a checkpoint stores).

    With ``single_process``, a DDP rank's config becomes a single-process one (rank 0's view,
    without the DDP entries), so checkpoints written under DDP load in one process.
    """
    state = {
        "model": config.model,
        "dataset": config.dataset,
        "parameters": _encode(config.parameters),
        "final_config_dict": _encode(config.final_config_dict),
    }
    if single_process and not state["final_config_dict"].get("single_spec", True):
        final = state["final_config_dict"]
        for key in DDP_KEYS:
            final.pop(key, None)
        final.update(single_spec=True, local_rank=0)
    return state


def config_from_state(config: Any, state: Dict[str, Any]) -> None:
    """Fill a bare config object from :func:`config_to_state` output."""
    config.parameters = _decode(state["parameters"])
    config.final_config_dict = _decode(state["final_config_dict"])
    config.model = state["model"]
    config.dataset = state["dataset"]
    config.yaml_loader = config._build_yaml_loader()
    config.model_class = get_model(state["model"])
    for name in ("file_config_dict", "variable_config_dict", "cmd_config_dict",
                 "external_config_dict", "internal_config_dict"):
        setattr(config, name, {})
