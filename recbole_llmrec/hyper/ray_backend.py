"""The Ray Tune back end: a local Ray instance (CPU-only allowed); one trial = one ``run()``, with
the trial's Ray resources (``--cpus_per_trial``, ``--gpus_per_trial``): the trial sees only the
GPUs Ray gave it (none: CPU). Ray is imported only when this back end runs (an optional extra)."""
from __future__ import annotations

import math
import os
import time
from typing import Any, Dict, List, Optional, Sequence

from recbole_llmrec.distributed.process_group import find_free_port
from recbole_llmrec.hyper.hyperopt_backend import hyperopt_space
from recbole_llmrec.hyper.params_file import Param, grid
from recbole_llmrec.hyper.trials import RunFn, TuningJob, trial_launch, trial_record, trial_score
from recbole_llmrec.runs.quick_start import run

_GRID_KEY = "__grid_params__"


def ray_space(params: Sequence[Param]) -> Dict[str, Any]:
    """The same space for Ray Tune's random search."""
    from ray import tune

    space: Dict[str, Any] = {}
    for p in params:
        if p.kind == "choice":
            space[p.name] = tune.choice(list(p.args))
        elif p.kind == "uniform":
            space[p.name] = tune.uniform(*p.args)
        elif p.kind == "loguniform":  # RecBole/hyperopt bounds are natural logs
            space[p.name] = tune.loguniform(math.exp(p.args[0]), math.exp(p.args[1]))
        else:
            space[p.name] = tune.quniform(*p.args)
    return space


def ray_trial(config: Dict[str, Any], job: TuningJob, checkpoint_root: str, trial_id: str,
              gpu_ids: Sequence[Any], run_fn: Optional[RunFn] = None) -> Dict[str, Any]:
    """One Ray Tune trial without Ray: ``run()`` with the sampled params, on the GPUs Ray
    assigned (``gpu_id`` = their ids, so RecBole's ``CUDA_VISIBLE_DEVICES`` keeps Ray's choice;
    none: CPU), as ``job.nproc`` processes. Returns what the trial reports. Each trial saves
    under its own ``checkpoint_root/<trial id>``."""
    run_fn = run_fn or run
    params = config.get(_GRID_KEY, config)
    config_dict = job.config_dict(params)
    config_dict["checkpoint_dir"] = os.path.join(checkpoint_root, trial_id)
    config_dict["gpu_id"] = ",".join(str(g) for g in gpu_ids)
    result = run_fn(job.model, job.dataset, list(job.config_files) or None, config_dict,
                    **trial_launch(job.nproc, find_free_port))
    return {
        "score": float(trial_score(result)),
        "run_result": {k: result.get(k) for k in
                       ("best_valid_result", "test_result", "wall_time_s", "calibration")},
    }


def _ray_trainable(config: Dict[str, Any], job: TuningJob, checkpoint_root: str) -> None:
    """The Ray Tune trainable: :func:`ray_trial` with the trial's id and GPUs."""
    import ray
    from ray.air import session

    session.report(ray_trial(config, job, checkpoint_root, session.get_trial_id(),
                             ray.get_gpu_ids()))


def search_ray(job: TuningJob, params: List[Param], algo: str, max_evals: int, bigger: bool,
                seed: int, cpus_per_trial: float, gpus_per_trial: float, max_concurrent: int,
                storage_dir: str, checkpoint_dir: str) -> List[Dict[str, Any]]:
    import ray
    from ray import air, tune

    mode = "max" if bigger else "min"
    search_alg = None
    num_samples = max_evals
    if algo == "exhaustive":
        combos = grid(params)[:max_evals]
        param_space: Dict[str, Any] = {_GRID_KEY: tune.grid_search(combos)}
        num_samples = 1
    elif algo == "random":
        from ray.tune.search.basic_variant import BasicVariantGenerator

        param_space = ray_space(params)
        search_alg = BasicVariantGenerator(random_state=seed, max_concurrent=max_concurrent)
    else:
        from ray.tune.search import ConcurrencyLimiter
        from ray.tune.search.hyperopt import HyperOptSearch

        param_space = {}
        search_alg = ConcurrencyLimiter(
            HyperOptSearch(space=hyperopt_space(params), metric="score", mode=mode,
                           random_state_seed=seed),
            max_concurrent=max_concurrent,
        )

    started_here = not ray.is_initialized()
    if started_here:
        package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        pythonpath = os.pathsep.join(
            p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p
        )
        ray.init(
            num_cpus=max(1, int(math.ceil(cpus_per_trial * max_concurrent))),
            num_gpus=int(math.ceil(gpus_per_trial * max_concurrent)),
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
        )
    try:
        trainable = tune.with_resources(
            tune.with_parameters(_ray_trainable, job=job,
                                 checkpoint_root=os.path.abspath(checkpoint_dir)),
            {"cpu": cpus_per_trial, "gpu": gpus_per_trial},
        )
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                metric="score", mode=mode, num_samples=num_samples, search_alg=search_alg,
                max_concurrent_trials=max_concurrent, chdir_to_trial_dir=False,
            ),
            run_config=air.RunConfig(
                storage_path=os.path.abspath(storage_dir),
                name=f"{job.model}_{job.dataset}_{time.strftime('%Y%m%d-%H%M%S')}",
                verbose=0,
            ),
        )
        results = tuner.fit()
        rows = []
        for result in results:
            metrics = result.metrics or {}
            config = result.config or {}
            trial_params = config.get(_GRID_KEY, config)
            run_result = dict(metrics.get("run_result") or {})
            if "score" in metrics:
                run_result["best_valid_score"] = metrics["score"]
            error = f"{type(result.error).__name__}: {result.error}" if result.error else None
            rows.append((str(metrics.get("trial_id", result.path)), trial_params, run_result, error))
    finally:
        if started_here:
            ray.shutdown()
    rows.sort(key=lambda row: row[0])  # trial ids end in a creation counter
    return [trial_record(i, p, r, e) for i, (_, p, r, e) in enumerate(rows)]
