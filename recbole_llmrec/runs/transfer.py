"""Evaluate a trained checkpoint on another dataset (zero-shot transfer to an unseen domain).

The model's own settings (every key of its ``properties/model/<Model>.yaml`` layer, as the
checkpoint recorded them) are carried over; everything about the data (fields, split, metrics)
comes from the target dataset's layers, so the result is comparable with a normal run there.
Only models whose parameters do not depend on item ids can transfer: LLMRec scores items by
their titles, so it ranks the new dataset's items; id-embedding models (SASRec, ...) cannot.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple


from recbole_llmrec.runs.checkpoint import load_checkpoint
from recbole_llmrec.config.plugin_config import yaml_entries
from recbole_llmrec.model.folder_io import WEIGHTS_FILE, load_weights, read_config, read_tensors, saved_config
from recbole_llmrec.model.legacy_state import add_missing_settings
from recbole_llmrec.model.llmrec import LLMRec
from recbole_llmrec.model.pretrained import model_settings
from recbole_llmrec.runs.pipeline import Pipeline, build
from recbole_llmrec.utils.plain import plain_result

logger = logging.getLogger(__name__)


def read_model_file(model_file: str) -> Tuple[Dict[str, Any], Any]:
    """``(checkpoint, lm_prefix)`` of a checkpoint file or a model folder (its ``config``, ``state_dict``,
    ``other_parameter`` as a checkpoint holds them; ``lm_prefix``: state keys the folder leaves to the LM's
    own files, None for a checkpoint)."""
    if os.path.isdir(model_file):  # its config and weights: the model is bound to the dataset evaluated on
        document = read_config(model_file)
        checkpoint = {"config": saved_config(document, Path(model_file)),
                      "state_dict": read_tensors(Path(model_file) / WEIGHTS_FILE),
                      "other_parameter": document.get("other_parameter") or None}
        return checkpoint, document.get("lm", {}).get("prefix")
    if not os.path.isfile(model_file):
        raise FileNotFoundError(f"checkpoint not found: {model_file}")
    return load_checkpoint(model_file), None


def load_pipeline(
    model_file: str,
    dataset: str,
    config_file_list: Optional[Sequence[str]] = None,
    config_dict: Optional[Dict[str, Any]] = None,
) -> Tuple[Pipeline, Any]:
    """``(pipeline, saved_config)``: the checkpoint's (or model folder's) model bound to ``dataset`` (its
    items, titles and domains), weights loaded, with its trainer, ready to evaluate."""
    checkpoint, lm_prefix = read_model_file(model_file)
    saved = checkpoint["config"]
    add_missing_settings(saved)  # a key added since takes the value the checkpoint behaved with
    model_name = saved["model"]
    overrides = model_settings(saved, model_name)
    overrides.update(config_dict or {})
    built = build(model_name, dataset, config_file_list, overrides)
    model = built.model
    try:
        if os.path.isdir(model_file):  # a model folder: the LM's own weights come from its files
            load_weights(model, checkpoint["state_dict"], lm_prefix, os.path.join(model_file, WEIGHTS_FILE))
        else:
            model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        raise ValueError(
            f"{model_name} from {model_file} cannot be evaluated on {dataset!r}: its parameters "
            f"depend on the training dataset's items ({str(err).splitlines()[0]}). Only "
            "text-based models such as LLMRec transfer to unseen items."
        ) from None
    model.load_other_parameter(checkpoint.get("other_parameter"))
    _apply_explicit_scoring(model, built.config, config_file_list, config_dict)
    return built, saved


def _apply_explicit_scoring(model: Any, config: Any, config_file_list: Optional[Sequence[str]],
                            config_dict: Optional[Dict[str, Any]]) -> None:
    """Scoring values this evaluation sets itself (``--key=value`` or its config files) beat the
    values the checkpoint stored (fitted by calibration): e.g. ``--unseen_title_similarity_weight=0``
    evaluates the trained part alone."""
    if not isinstance(model, LLMRec):  # the models whose checkpoints store scoring values
        return
    explicit = set(config_dict or {}).union(*(yaml_entries(path) for path in config_file_list or []))
    chosen = {key: config[key] for key in model.scoring.values() if key in explicit}
    if chosen:
        model.scoring.set_values(chosen)
        logger.info("scoring values set for this evaluation (over the checkpoint's): %s", chosen)


def load_for_evaluation(
    model_file: str,
    dataset: str,
    config_file_list: Optional[Sequence[str]] = None,
    config_dict: Optional[Dict[str, Any]] = None,
) -> Tuple[Any, Any, Any, Any, Any]:
    """``(config, model, valid_data, test_data, saved_config)`` of :func:`load_pipeline`."""
    built, saved = load_pipeline(model_file, dataset, config_file_list, config_dict)
    return built.config, built.model, built.valid_data, built.test_data, saved


def evaluate_checkpoint(
    model_file: str,
    dataset: str,
    config_file_list: Optional[Sequence[str]] = None,
    config_dict: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Evaluate ``model_file`` on ``dataset`` without training; same keys as ``run()``'s result
    (``best_valid_result`` is the validation split's result) plus ``"trained_on"``."""
    start = time.perf_counter()
    built, saved = load_pipeline(model_file, dataset, config_file_list, config_dict)
    config, trainer, valid_data, test_data = built.config, built.trainer, built.valid_data, built.test_data
    valid_result = trainer.evaluate(valid_data, load_best_model=False,
                                    show_progress=config["show_progress"])
    valid_per_domain = trainer.last_per_domain
    test_result = trainer.evaluate(test_data, load_best_model=False,
                                   show_progress=config["show_progress"])
    result = {
        "model": config["model"],
        "dataset": dataset,
        "trained_on": saved["dataset"],
        "checkpoint": model_file,
        "best_valid_result": plain_result(valid_result),
        "test_result": plain_result(test_result),
        "wall_time_s": round(time.perf_counter() - start, 3),
    }
    if trainer.last_per_domain is not None:
        result["per_domain"] = {"valid": plain_result(valid_per_domain),
                                "test": plain_result(trainer.last_per_domain)}
    result.update(trainer.grouped_results(valid_from_history=False))
    logger.info("zero-shot %s (trained on %s) on %s: %s", config["model"], saved["dataset"],
                dataset, result["test_result"])
    return result
