"""The manifest that ties a benchmark folder to one dataset and one configuration."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any, Dict, Optional, Sequence

from recbole_llmrec.utils.atomic import write_json_atomic

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
#: Files in a benchmark folder that ``--overwrite`` removes (besides ``runs/*.json``).
AGGREGATE_NAMES = ("results.md", "results.csv", "results.json", "results.png")


class BenchmarkDirError(RuntimeError):
    """The output folder holds results of another dataset or configuration."""


def build_manifest(
    dataset: str, config_files: Sequence[str], overrides: Dict[str, Any]
) -> Dict[str, Any]:
    """Dataset, config files (absolute path + SHA-256 of their content) and ``--key=value``
    overrides: everything but the model and seed that decides what a run computes."""
    files = []
    for path in config_files:
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        files.append({"path": os.path.abspath(path), "sha256": digest})
    return {
        "dataset": dataset,
        "config_files": files,
        "overrides": json.loads(json.dumps(overrides, sort_keys=True, default=str)),
    }


def read_manifest(output_dir: str) -> Optional[Dict[str, Any]]:
    """The stored manifest, or None when the folder has none."""
    path = os.path.join(output_dir, MANIFEST_NAME)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _diff(old: Dict[str, Any], new: Dict[str, Any]) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return "; ".join(f"{k}: stored {old.get(k)!r} != requested {new.get(k)!r}" for k in keys)


def prepare_output_dir(output_dir: str, manifest: Dict[str, Any], overwrite: bool) -> None:
    """Create ``output_dir`` or check that it belongs to ``manifest``; with ``overwrite`` remove
    earlier results (only files this module writes) and start afresh."""
    runs_dir = os.path.join(output_dir, "runs")
    stored = read_manifest(output_dir)
    if overwrite:
        _clear(output_dir)
    elif stored is not None and stored != manifest:
        raise BenchmarkDirError(
            f"{output_dir} holds results of a different dataset/config ({_diff(stored, manifest)}); "
            "use another --output or pass --overwrite to discard them"
        )
    elif stored is None and os.path.isdir(runs_dir) and os.listdir(runs_dir):
        raise BenchmarkDirError(
            f"{output_dir}/runs holds results without a {MANIFEST_NAME}, so their config is "
            "unknown; use another --output or pass --overwrite to discard them"
        )
    os.makedirs(runs_dir, exist_ok=True)
    write_json_atomic(manifest, os.path.join(output_dir, MANIFEST_NAME))


def _clear(output_dir: str) -> None:
    runs_dir = os.path.join(output_dir, "runs")
    if os.path.isdir(runs_dir):
        for name in sorted(os.listdir(runs_dir)):
            if name.endswith(".json"):
                os.remove(os.path.join(runs_dir, name))
    for name in (MANIFEST_NAME,) + AGGREGATE_NAMES:
        path = os.path.join(output_dir, name)
        if os.path.exists(path):
            os.remove(path)
    logger.info("--overwrite: removed earlier results in %s", output_dir)
