"""Hyper-parameter search for any model (plugin or RecBole) through our :func:`run`: the search
and its summary (written as JSON).

With ``nproc > 1`` (``TuningJob.nproc``) every trial is a DDP job of N processes on a free local
port (gloo on CPU, nccl on the trial's GPUs; see :mod:`recbole_llmrec.distributed`).
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, Optional

from recbole_llmrec.utils.atomic import write_json_atomic
from recbole_llmrec.config.plugin_config import build_config
from recbole_llmrec.hyper.hyperopt_backend import search_hyperopt
from recbole_llmrec.hyper.params_file import TuningError, parse_params_file
from recbole_llmrec.hyper.ray_backend import search_ray
from recbole_llmrec.hyper.trials import RunFn, TuningJob, best_trial, trial_launch, trials_table

logger = logging.getLogger(__name__)

ALGOS = ("exhaustive", "random", "bayes")
TOOLS = ("hyperopt", "ray")


def tune_model(
    job: TuningJob,
    params_file: str,
    max_evals: int,
    algo: str = "exhaustive",
    tool: str = "hyperopt",
    output: Optional[str] = None,
    seed: int = 2020,
    early_stop: int = 10,
    cpus_per_trial: float = 1,
    gpus_per_trial: float = 0,
    max_concurrent: int = 1,
    ray_dir: str = "ray_results",
    run_fn: Optional[RunFn] = None,
) -> Dict[str, Any]:
    """Search ``params_file``'s space for ``job`` and return (and write to ``output``, JSON)
    ``{best_params, best_valid_score, best_valid_result, best_test_result, trials, ...}``.

    ``run_fn`` (hyperopt only) replaces :func:`run` for tests; Ray trials always call run().
    """
    if algo not in ALGOS:
        raise TuningError(f"unknown --algo {algo!r} (one of {', '.join(ALGOS)})")
    if tool not in TOOLS:
        raise TuningError(f"unknown --tool {tool!r} (one of {', '.join(TOOLS)})")
    if max_evals < 1:
        raise TuningError(f"--max_evals must be >= 1, got {max_evals}")
    trial_launch(job.nproc, lambda: 0)  # validates nproc
    if tool == "ray" and gpus_per_trial > 0 and job.nproc > gpus_per_trial:
        raise TuningError(f"--nproc={job.nproc} processes per trial need --gpus_per_trial >= "
                          f"{job.nproc} on GPUs (one GPU per process), got {gpus_per_trial}")
    params = parse_params_file(params_file)
    job = TuningJob(job.model, job.dataset, [os.path.abspath(f) for f in job.config_files],
                    dict(job.overrides or {}), job.nproc)
    config = build_config(job.model, job.dataset, list(job.config_files), job.overrides)
    bigger = bool(config["valid_metric_bigger"])
    logger.info("tuning %s on %s: %s search with %s, at most %d trials, %s (%s is better)",
                job.model, job.dataset, algo, tool, max_evals, config["valid_metric"],
                "bigger" if bigger else "smaller")
    if tool == "hyperopt":
        trials = search_hyperopt(job, params, algo, max_evals, bigger, seed, early_stop, run_fn)
    else:
        trials = search_ray(job, params, algo, max_evals, bigger, seed, cpus_per_trial,
                             gpus_per_trial, max_concurrent, ray_dir, config["checkpoint_dir"])
    best = best_trial(trials, bigger)
    logger.info("trials:\n%s", trials_table(trials, best["index"] if best else None))
    summary = {
        "model": job.model,
        "dataset": job.dataset,
        "tool": tool,
        "algo": algo,
        "params_file": os.path.abspath(params_file),
        "config_files": list(job.config_files),
        "overrides": job.overrides,
        "nproc": job.nproc,
        "valid_metric": config["valid_metric"],
        "valid_score_bigger": bigger,
        "best_params": best["params"] if best else None,
        "best_valid_score": best["best_valid_score"] if best else None,
        "best_valid_result": best["best_valid_result"] if best else None,
        "best_test_result": best["test_result"] if best else None,
        "trials": trials,
    }
    if best is None:
        logger.error("every trial failed")
    else:
        logger.info("best params: %s (valid %s = %.4f)", best["params"], config["valid_metric"],
                    best["best_valid_score"])
    if output:
        write_json_atomic(summary, output)
        logger.info("tuning result written to %s", output)
    return summary
