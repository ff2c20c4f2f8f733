"""Where the plugin's YAML properties and embedded datasets live, and how a RecBole Config is built.

Layers, lowest first (RecBole's own rule: later wins):
RecBole's internal defaults < ``properties/overall.yaml`` < ``properties/model/<Model>.yaml``
< ``properties/dataset/<dataset>.yaml`` (for datasets without one that are named ``amazon_*`` or
whose ``.inter`` file has the converter's header: the converter's layout,
``properties/dataset/amazon.yaml``) < the user's ``config_file_list`` < ``config_dict``.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Any, Dict, Iterable, List, Optional, Type, Union

import yaml
from recbole.config import Config

from recbole_llmrec.config.state import config_from_state, config_to_state
from recbole_llmrec.distributed.process_group import init_distributed_device
from recbole_llmrec.config.registry import get_model
from recbole_llmrec.utils.resources import embedded_data_path, properties_dir

logger = logging.getLogger(__name__)

#: Datasets whose name starts with this get the converter's column layout (dataset/amazon.yaml).
CONVERTED_PREFIX = "amazon_"
#: The first columns of every ``.inter`` file ``dataset_converters`` writes: a dataset of any name
#: whose ``.inter`` starts so gets the converter's layout too.
CONVERTED_INTER_COLUMNS = ("user_id:token", "item_id:token", "timestamp:float")
#: RecBole's own default ``data_path``.
RECBOLE_DATA_PATH = "dataset/"


def is_converted_dataset(data_path: Optional[str], dataset: str) -> bool:
    """Whether ``<data_path>/<dataset>/<dataset>.inter`` has the converter's header."""
    if not data_path:
        return False
    path = os.path.join(data_path, dataset, f"{dataset}.inter")
    try:
        with open(path, encoding="utf-8") as handle:
            header = handle.readline().rstrip("\r\n").split("\t")
    except (OSError, UnicodeDecodeError):
        return False
    return tuple(header[:len(CONVERTED_INTER_COLUMNS)]) == CONVERTED_INTER_COLUMNS


def default_config_files(model_name: str, dataset: str, data_path: Optional[str] = None) -> List[str]:
    """The plugin's YAML layers that exist for this model and dataset, lowest first (a dataset
    without a layer of its own gets the converter's when named ``amazon_*`` or when its files in
    ``data_path`` are the converter's)."""
    props = properties_dir()
    dataset_layer = props / "dataset" / f"{dataset}.yaml"
    if not dataset_layer.is_file() and (dataset.startswith(CONVERTED_PREFIX)
                                        or is_converted_dataset(data_path, dataset)):
        dataset_layer = props / "dataset" / "amazon.yaml"
    candidates = [props / "overall.yaml", props / "model" / f"{model_name}.yaml", dataset_layer]
    return [str(p) for p in candidates if p.is_file()]


def resolve_show_progress(value: Any) -> bool:
    """``show_progress``: ``auto`` (or unset) means progress bars when stderr is a terminal."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return sys.stderr.isatty()
    if isinstance(value, bool):
        return value
    raise ValueError(f"show_progress must be true, false or auto, got {value!r}")


class PluginConfig(Config):
    """RecBole's Config with four changes made through its own hooks.

    * It never reads ``sys.argv``: our CLI parses the command line and passes ``config_dict``,
      so library calls (tests, notebooks, tuning) are not steered by the host's arguments.
    * ``show_progress: auto`` becomes true when stderr is a terminal (:func:`resolve_show_progress`).
    * It pickles to plain data (see :mod:`recbole_llmrec.config.state`) so that checkpoints load
      with ``torch.load(weights_only=True)``.
    * A DDP rank (``local_rank`` in the config) joins its process group with gloo on CPU and
      nccl on CUDA (RecBole always uses nccl and CUDA); see
      :func:`recbole_llmrec.distributed.process_group.init_distributed_device`.
    """

    def _load_cmd_line(self) -> Dict[str, Any]:
        return {}

    def _set_default_parameters(self) -> None:
        super()._set_default_parameters()
        self.final_config_dict["show_progress"] = resolve_show_progress(
            self.final_config_dict.get("show_progress"))

    def _init_device(self) -> None:
        if "local_rank" not in self.final_config_dict:
            super()._init_device()  # a single process: RecBole's behaviour, unchanged
            return
        init_distributed_device(self.final_config_dict)

    def __getstate__(self) -> Dict[str, Any]:
        return config_to_state(self)

    def __setstate__(self, state: Dict[str, Any]) -> None:
        config_from_state(self, state)


# Checkpoints (and torch's safe-globals list) name the class by its public path.
PluginConfig.__module__ = "recbole_llmrec.config"


def single_process_config(config: Any) -> PluginConfig:
    """``config`` as a :class:`PluginConfig` (plain-data pickling) seen as one process: a DDP
    rank's config becomes rank 0's single-process view; a single-process PluginConfig is
    returned as it is."""
    if isinstance(config, PluginConfig) and config["single_spec"]:
        return config
    plain = PluginConfig.__new__(PluginConfig)
    config_from_state(plain, config_to_state(config, single_process=True))
    return plain


def build_config(
    model: Union[str, Type],
    dataset: str,
    config_file_list: Optional[Iterable[str]] = None,
    config_dict: Optional[Dict[str, Any]] = None,
) -> PluginConfig:
    """Build the RecBole config for ``model`` (plugin or RecBole name, or a class) on ``dataset``.

    ``data_path`` defaults to the embedded dataset folder when ``dataset`` is embedded there.
    """
    model_class = get_model(model) if isinstance(model, str) else model
    user_files = list(config_file_list or [])
    for path in user_files:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"config file not found: {path}")
    config_dict = dict(config_dict or {})
    user_path = [entries["data_path"] for entries in map(yaml_entries, user_files) if "data_path" in entries]
    if "data_path" not in config_dict and not user_path and (embedded_data_path() / dataset).is_dir():
        config_dict["data_path"] = str(embedded_data_path())
    data_path = config_dict.get("data_path") or (user_path[-1] if user_path else RECBOLE_DATA_PATH)
    files = default_config_files(model_class.__name__, dataset, str(data_path)) + user_files
    return PluginConfig(
        model=model_class, dataset=dataset, config_file_list=files, config_dict=config_dict
    )


def yaml_entries(path: str) -> Dict[str, Any]:
    """A YAML file's top-level entries (empty when it holds no mapping)."""
    with open(path, encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle) or {}
    return loaded if isinstance(loaded, dict) else {}
