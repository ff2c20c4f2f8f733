"""The hyperopt back end: RecBole's :class:`recbole.trainer.HyperTuning`, in process, with
``exhaustive`` / ``random`` / ``bayes`` (TPE) search. RecBole's own ``objective_function`` finds
models by name inside RecBole only; ours trains through :func:`recbole_llmrec.runs.quick_start.run`."""
from __future__ import annotations

import logging
import math
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
from hyperopt import fmin, hp
from recbole.trainer import HyperTuning

from recbole_llmrec.distributed.process_group import find_free_port
from recbole_llmrec.hyper.params_file import Param, grid
from recbole_llmrec.hyper.trials import RunFn, TuningJob, plain_params, trial_launch, trial_record, trial_score
from recbole_llmrec.runs.quick_start import run

logger = logging.getLogger(__name__)


def hyperopt_space(params: Sequence[Param]) -> Dict[str, Any]:
    """The hyperopt space RecBole's ``HyperTuning._build_space_from_file`` would build."""
    space: Dict[str, Any] = {}
    for p in params:
        if p.kind == "choice":
            space[p.name] = hp.choice(p.name, list(p.args))
        elif p.kind == "uniform":
            space[p.name] = hp.uniform(p.name, *p.args)
        elif p.kind == "loguniform":
            space[p.name] = hp.loguniform(p.name, *p.args)
        else:
            space[p.name] = hp.quniform(p.name, *p.args)
    return space


def make_objective(job: TuningJob, bigger: bool, trials: List[Dict[str, Any]],
                   run_fn: Optional[RunFn] = None) -> Callable:
    """An ``objective_function(config_dict, fixed_config_file_list)`` for RecBole's
    ``HyperTuning`` that trains through our :func:`run` and appends a record to ``trials``.

    A failing trial is logged and recorded with its error, and scores as the worst value, so
    one bad combination does not end the search.
    """
    run_fn = run_fn or run

    def objective(config_dict: Dict[str, Any], fixed_config_file_list=None) -> Dict[str, Any]:
        params = plain_params(config_dict)
        files = list(job.config_files) + list(fixed_config_file_list or [])
        index = len(trials)
        try:
            launch = trial_launch(job.nproc, find_free_port)
            result = run_fn(job.model, job.dataset, files or None, job.config_dict(params),
                            **launch)
        except Exception as err:  # noqa: BLE001 - recorded, the search goes on
            logger.exception("trial %d %s failed", index, params)
            trials.append(trial_record(index, params, None, f"{type(err).__name__}: {err}"))
            worst = -math.inf if bigger else math.inf
            return {"model": job.model, "best_valid_score": worst, "valid_score_bigger": bigger,
                    "best_valid_result": {}, "test_result": {}}
        trials.append(trial_record(index, params, result))
        return {
            "model": job.model,
            "best_valid_score": trial_score(result),
            "valid_score_bigger": bigger,
            "best_valid_result": result["best_valid_result"],
            "test_result": result["test_result"],
        }

    return objective


def search_hyperopt(job: TuningJob, params: List[Param], algo: str, max_evals: int,
                     bigger: bool, seed: int, early_stop: int,
                     run_fn: Optional[RunFn]) -> List[Dict[str, Any]]:
    trials: List[Dict[str, Any]] = []
    space = hyperopt_space(params)
    if algo == "exhaustive":
        grid(params)  # only choice parameters
    tuner = HyperTuning(make_objective(job, bigger, trials, run_fn), space=space, algo=algo,
                        max_evals=max_evals, early_stop=early_stop)
    # HyperTuning's exhaustive search runs the whole grid; honour --max_evals as a cap.
    tuner.max_evals = min(int(tuner.max_evals), max_evals)
    # HyperTuning.run() draws from an unseeded RandomState; same loop, seeded.
    fmin(tuner.trial, tuner.space, algo=tuner.algo, max_evals=tuner.max_evals,
         early_stop_fn=tuner.early_stop_fn, rstate=np.random.RandomState(seed),
         show_progressbar=False)
    return trials
