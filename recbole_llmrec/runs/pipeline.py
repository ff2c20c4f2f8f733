"""One way from settings to a ready trainer: config -> dataset -> splits -> model -> trainer.

Used by every entry point (training runs, zero-shot transfer, the speed benchmark, the tests), so
that seeding, logging, the evaluation-negative scope and the model/trainer lookup happen in the
same order everywhere.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Type, Union

from recbole.data import create_dataset, data_preparation
from recbole.utils import init_logger, init_seed

from recbole_llmrec.config.plugin_config import build_config
from recbole_llmrec.evaluation.domain_sampling import apply_eval_neg_scope
from recbole_llmrec.evaluation.score_bound import bound_eval_batch
from recbole_llmrec.config.registry import get_model
from recbole_llmrec.runs.trainer import get_trainer

logger = logging.getLogger(__name__)


@dataclass
class Pipeline:
    """What :func:`build` returns: everything a run needs."""

    config: Any
    dataset: Any
    train_data: Any
    valid_data: Any
    test_data: Any
    model: Any
    trainer: Optional[Any]


def check_config(config: Any) -> None:
    """Run the model class's own cheap config check (``check_config``), if it has one."""
    checker = getattr(config.model_class, "check_config", None)
    if callable(checker):
        checker(config)


def build(
    model: Union[str, Type],
    dataset: str,
    config_file_list: Optional[Sequence[str]] = None,
    config_dict: Optional[Dict[str, Any]] = None,
    config: Any = None,
    init_logging: bool = True,
    with_trainer: bool = True,
) -> Pipeline:
    """Build ``model`` (a name or class) on ``dataset`` with its trainer.

    ``config`` (a config built earlier, e.g. to fail before spawning processes) replaces
    ``build_config(model, dataset, config_file_list, config_dict)``. The model's
    ``check_config`` runs before the dataset is loaded; the data splits are seeded with
    ``seed``, the model with ``seed + local_rank``. ``init_logging`` sets up RecBole's logger
    (console and ``log/`` file) as RecBole's own runs do. ``with_trainer=False`` leaves
    ``trainer`` None (tools that only need the model and the dataset: ``recommend``, parameter counts).
    """
    if config is None:
        config = build_config(model, dataset, config_file_list, config_dict)
    check_config(config)
    init_seed(config["seed"], config["reproducibility"])
    if init_logging:
        init_logger(config)
        logger.info("config:%s", config)

    data = create_dataset(config)
    logger.info("%s", data)
    bound_eval_batch(config, data.item_num)  # full_sort_max_entries: users x items per evaluation batch
    train_data, valid_data, test_data = data_preparation(config, data)
    apply_eval_neg_scope(config, valid_data, test_data)

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model_obj = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    logger.info("%s", model_obj)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model_obj) if with_trainer else None
    return Pipeline(config, data, train_data, valid_data, test_data, model_obj, trainer)
