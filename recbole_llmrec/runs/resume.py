"""Resumable runs: where a run's "last" checkpoint lives and the random state it carries.

Every epoch the trainer writes ``<checkpoint_dir>/<run_name>-last.pth`` (``run_name`` defaults to
``<model>-<dataset>``); ``run(..., resume=True)`` / ``--resume`` continues from it. Random states
are stored as tensors, lists and numbers only, so the file loads with ``weights_only=True``.
"""
from __future__ import annotations

import logging
import os
import random
import re
from typing import Any, Dict, Optional

import numpy as np
import torch

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def run_name(config: Any) -> str:
    """The run's name: the ``run_name`` config key, else ``<model>-<dataset>`` (file-name safe)."""
    name = config["run_name"] or f"{config['model']}-{config['dataset']}"
    cleaned = _UNSAFE.sub("_", str(name)).strip("._")
    if not cleaned:
        raise ValueError(f"run_name {name!r} has no usable characters (letters, digits, . _ -)")
    return cleaned


def last_checkpoint_path(config: Any) -> str:
    """Deterministic path of the run's last-epoch checkpoint: ``<checkpoint_dir>/<run_name>-last.pth``."""
    return os.path.join(config["checkpoint_dir"], f"{run_name(config)}-last.pth")


def find_resume_file(config: Any, resume: bool = False, resume_from: Optional[str] = None) -> Optional[str]:
    """The checkpoint to resume from, or None to start afresh.

    ``resume_from`` must exist (``FileNotFoundError`` otherwise). ``resume`` uses the run's last
    checkpoint when there is one and starts from scratch (logged) when there is none, so the same
    command can simply be re-run after an interruption.
    """
    if resume_from:
        if not os.path.isfile(resume_from):
            raise FileNotFoundError(f"--resume_from: checkpoint {resume_from!r} does not exist")
        return resume_from
    if not resume:
        return None
    path = last_checkpoint_path(config)
    if os.path.isfile(path):
        return path
    logger.warning("--resume: no last checkpoint at %s; starting from scratch", path)
    return None


def capture_rng_state() -> Dict[str, Any]:
    """Random states of torch (CPU and CUDA), numpy and python as tensors, lists and numbers."""
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: Dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": str(np_name),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_gauss),
        },
        "python": {"version": int(py_version), "state": list(py_state), "gauss_next": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    np_state = state["numpy"]
    np.random.set_state((
        np_state["name"], np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
        np_state["has_gauss"], np_state["cached_gaussian"],
    ))
    py_state = state["python"]
    random.setstate((py_state["version"], tuple(py_state["state"]), py_state["gauss_next"]))
    cuda = state.get("cuda")
    if cuda is not None:
        if torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
        else:
            logger.warning("checkpoint holds CUDA random states for %d devices; not restored here", len(cuda))
