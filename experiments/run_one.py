"""One experiment run in its own process (so its peak memory is its own): train + test
(``recbole_llmrec.run``) or evaluate a checkpoint (``evaluate_checkpoint``), as a JSON spec says.

``python experiments/run_one.py SPEC.json RESULT.json``; the result is ``run()``'s dict plus
``peak_rss_mb``, ``trainable_params`` (when ``count_params``), ``load_avg``, ``wall_s`` and ``machine``
(the CPU it ran on: a report rebuilt elsewhere still names it).
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, Dict


def count_trainable(spec: Dict[str, Any]) -> Dict[str, int]:
    """Trainable and total parameters of the model the spec builds (built once more, not trained)."""
    from recbole_llmrec.runs.pipeline import build

    model = build(spec["model"], spec["dataset"], spec.get("config_files"), dict(spec.get("config_dict") or {}),
                  init_logging=False, with_trainer=False).model
    return {"trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total": sum(p.numel() for p in model.parameters())}


def run_user_fraction(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Train on the training rows of a seeded ``train_user_fraction`` of the users only; validate
    and test on every user (each test row keeps its full history as input)."""
    import numpy as np
    from recbole.data.utils import get_dataloader

    from recbole_llmrec.runs.pipeline import build
    from recbole_llmrec.utils.plain import plain_result

    built = build(spec["model"], spec["dataset"], spec.get("config_files"),
                  dict(spec.get("config_dict") or {}))
    config, trainer, train_data = built.config, built.trainer, built.train_data
    train_ds = train_data._dataset
    users = np.unique(train_ds.inter_feat[train_ds.uid_field].numpy())
    rng = np.random.default_rng(int(spec.get("fraction_seed", 0)))
    keep = rng.choice(users, size=max(1, int(round(spec["train_user_fraction"] * len(users)))),
                      replace=False)
    mask = np.isin(train_ds.inter_feat[train_ds.uid_field].numpy(), keep)
    subset = train_ds.copy(train_ds.inter_feat[mask])
    train_data = get_dataloader(config, "train")(config, subset, train_data._sampler,
                                                 shuffle=config["shuffle"])
    best_score, best_valid = trainer.fit(train_data, built.valid_data, saved=True,
                                         show_progress=False)
    test_result = trainer.evaluate(built.test_data, load_best_model=True)
    result = {"model": config["model"], "dataset": config["dataset"],
              "best_valid_score": plain_result(best_score),
              "best_valid_result": plain_result(best_valid),
              "test_result": plain_result(test_result),
              "train_users": int(len(keep)), "all_train_users": int(len(users)),
              "train_rows": int(mask.sum()), "checkpoint": trainer.saved_model_file}
    result.update(trainer.grouped_results())
    return result


def main(spec_path: str, result_path: str) -> int:
    """Run the spec, write the result atomically."""
    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    load_start = os.getloadavg()
    start = time.perf_counter()
    if spec["kind"] == "evaluate":
        from recbole_llmrec.runs.transfer import evaluate_checkpoint

        result = evaluate_checkpoint(spec["checkpoint"], spec["dataset"], spec.get("config_files"),
                                     dict(spec.get("config_dict") or {}))
    elif spec.get("train_user_fraction") is not None:
        result = run_user_fraction(spec)
    else:
        from recbole_llmrec.runs.quick_start import run

        result = run(spec["model"], spec["dataset"], spec.get("config_files"),
                     dict(spec.get("config_dict") or {}), saved=spec.get("saved", True))
    result["wall_s"] = round(time.perf_counter() - start, 1)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["load_avg"] = {"start": list(load_start), "end": list(os.getloadavg())}
    result["spec"] = spec
    if spec.get("count_params"):
        result["params"] = count_trainable(spec)
    from common import write_run  # experiments/ is this script's folder, so on sys.path

    write_run(result, Path(result_path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
