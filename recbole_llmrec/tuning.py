"""Hyper-parameter search for any model (plugin or RecBole) through our :func:`run`.

Two back ends:

* ``hyperopt`` (default): RecBole's :class:`recbole.trainer.HyperTuning`, in process, with
  ``exhaustive`` / ``random`` / ``bayes`` (TPE) search. RecBole's own ``objective_function``
  finds models by name inside RecBole only; ours calls :func:`recbole_llmrec.quick_start.run`.
* ``ray``: Ray Tune on a local Ray instance (CPU-only allowed); one trial = one ``run()``,
  with the trial's Ray resources (``--cpus_per_trial``, ``--gpus_per_trial``): the trial sees
  only the GPUs Ray gave it (none: CPU).

With ``--nproc=N`` (``TuningJob.nproc``) every trial is a DDP job of N processes on a free local
port (gloo on CPU, nccl on the trial's GPUs; see :mod:`recbole_llmrec.distributed`).

Search spaces use RecBole's params-file format, one parameter a line, plus ``#`` comments::

    learning_rate choice [5e-5,1e-4]   # a list of values (any Python literals)
    dropout uniform 0.1,0.5            # low,high
    lr loguniform -9.2,-6.9            # natural-log bounds: exp(uniform(low, high))
    hidden quniform 32,128,32          # low,high,q
"""
from __future__ import annotations

import ast
import itertools
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from recbole_llmrec.distributed import find_free_port
from recbole_llmrec.quick_start import write_json_atomic

logger = logging.getLogger(__name__)

ALGOS = ("exhaustive", "random", "bayes")
TOOLS = ("hyperopt", "ray")
_KINDS = {"choice": None, "uniform": 2, "loguniform": 2, "quniform": 3}
_COMMENT = re.compile(r"(^|\s)#.*$")
_GRID_KEY = "__grid_params__"

RunFn = Callable[..., Dict[str, Any]]


class TuningError(ValueError):
    """A bad params file or an impossible search request."""


@dataclass(frozen=True)
class Param:
    """One line of a params file: ``name kind args`` (args: values for choice, bounds else)."""

    name: str
    kind: str
    args: Tuple[Any, ...]


def parse_params_file(path: str) -> List[Param]:
    """Read a RecBole params file (``#`` comments and blank lines allowed), in file order."""
    params: List[Param] = []
    with open(path, encoding="utf-8") as handle:
        for lineno, raw in enumerate(handle, start=1):
            line = _COMMENT.sub("", raw).strip()
            if not line:
                continue
            parts = line.split(None, 2)
            where = f"{path}:{lineno}"
            if len(parts) < 3:
                raise TuningError(f"{where}: expected 'name kind values', got {raw.strip()!r}")
            name, kind, rest = parts
            if kind not in _KINDS:
                raise TuningError(f"{where}: unknown kind {kind!r} (one of {', '.join(_KINDS)})")
            if kind == "choice":
                try:
                    values = ast.literal_eval(rest.strip())
                except (ValueError, SyntaxError) as err:
                    raise TuningError(f"{where}: choice needs a literal list: {err}") from None
                if not isinstance(values, (list, tuple)) or not values:
                    raise TuningError(f"{where}: choice needs a non-empty list, got {rest!r}")
                args = tuple(values)
            else:
                try:
                    args = tuple(float(x) for x in re.split(r"[,\s]+", rest.strip()) if x)
                except ValueError:
                    raise TuningError(f"{where}: {kind} needs numbers, got {rest!r}") from None
                if len(args) != _KINDS[kind]:
                    raise TuningError(f"{where}: {kind} takes {_KINDS[kind]} numbers, got {rest!r}")
                if args[0] >= args[1]:
                    raise TuningError(f"{where}: {kind} needs low < high, got {rest!r}")
            if any(p.name == name for p in params):
                raise TuningError(f"{where}: parameter {name!r} given twice")
            params.append(Param(name, kind, args))
    if not params:
        raise TuningError(f"{path}: no parameters")
    return params


def hyperopt_space(params: Sequence[Param]) -> Dict[str, Any]:
    """The hyperopt space RecBole's ``HyperTuning._build_space_from_file`` would build."""
    from hyperopt import hp

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


def grid(params: Sequence[Param]) -> List[Dict[str, Any]]:
    """Every combination of choice parameters, the last parameter varying fastest."""
    loose = [p.name for p in params if p.kind != "choice"]
    if loose:
        raise TuningError(
            f"exhaustive search needs choice parameters only; {', '.join(loose)} are continuous "
            "(use --algo=random or --algo=bayes)"
        )
    names = [p.name for p in params]
    return [dict(zip(names, combo)) for combo in itertools.product(*(p.args for p in params))]


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


@dataclass
class TuningJob:
    """What to tune: ``model`` on ``dataset`` with fixed ``config_files`` and ``overrides``;
    sampled params are layered over ``overrides``."""

    model: str
    dataset: str
    config_files: Sequence[str] = ()
    overrides: Optional[Dict[str, Any]] = None
    nproc: int = 1  # processes per trial (> 1: a DDP job)

    def config_dict(self, params: Dict[str, Any]) -> Dict[str, Any]:
        """The config entries of one trial."""
        return {**(self.overrides or {}), **params}


def trial_launch(nproc: int, port: Callable[[], int]) -> Dict[str, Any]:
    """:func:`run` keyword arguments of one trial: a single process, or a DDP job of ``nproc``
    processes meeting on a free local port (trials running at once must not share one)."""
    if nproc < 1:
        raise TuningError(f"--nproc must be >= 1, got {nproc}")
    if nproc == 1:
        return {}
    return {"nproc": nproc, "ip": "127.0.0.1", "port": port()}


def _plain_params(params: Dict[str, Any]) -> Dict[str, Any]:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()}


def _trial_record(index: int, params: Dict[str, Any], result: Optional[Dict[str, Any]],
                  error: Optional[str] = None) -> Dict[str, Any]:
    result = result or {}
    return {
        "index": index,
        "params": _plain_params(params),
        "best_valid_score": result.get("best_valid_score"),
        "best_valid_result": result.get("best_valid_result"),
        "test_result": result.get("test_result"),
        "wall_time_s": result.get("wall_time_s"),
        "error": error,
    }


def make_objective(job: TuningJob, bigger: bool, trials: List[Dict[str, Any]],
                   run_fn: Optional[RunFn] = None) -> Callable:
    """An ``objective_function(config_dict, fixed_config_file_list)`` for RecBole's
    ``HyperTuning`` that trains through our :func:`run` and appends a record to ``trials``.

    A failing trial is logged and recorded with its error, and scores as the worst value, so
    one bad combination does not end the search.
    """
    if run_fn is None:
        from recbole_llmrec.quick_start import run as run_fn

    def objective(config_dict: Dict[str, Any], fixed_config_file_list=None) -> Dict[str, Any]:
        params = _plain_params(config_dict)
        files = list(job.config_files) + list(fixed_config_file_list or [])
        index = len(trials)
        try:
            launch = trial_launch(job.nproc, find_free_port)
            result = run_fn(job.model, job.dataset, files or None, job.config_dict(params),
                            **launch)
        except Exception as err:  # noqa: BLE001 - recorded, the search goes on
            logger.exception("trial %d %s failed", index, params)
            trials.append(_trial_record(index, params, None, f"{type(err).__name__}: {err}"))
            worst = -math.inf if bigger else math.inf
            return {"model": job.model, "best_valid_score": worst, "valid_score_bigger": bigger,
                    "best_valid_result": {}, "test_result": {}}
        trials.append(_trial_record(index, params, result))
        return {
            "model": job.model,
            "best_valid_score": result["best_valid_score"],
            "valid_score_bigger": bigger,
            "best_valid_result": result["best_valid_result"],
            "test_result": result["test_result"],
        }

    return objective


def _search_hyperopt(job: TuningJob, params: List[Param], algo: str, max_evals: int,
                     bigger: bool, seed: int, early_stop: int,
                     run_fn: Optional[RunFn]) -> List[Dict[str, Any]]:
    import numpy as np
    from hyperopt import fmin
    from recbole.trainer import HyperTuning

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


def ray_trial(config: Dict[str, Any], job: TuningJob, checkpoint_root: str, trial_id: str,
              gpu_ids: Sequence[Any], run_fn: Optional[RunFn] = None) -> Dict[str, Any]:
    """One Ray Tune trial without Ray: ``run()`` with the sampled params, on the GPUs Ray
    assigned (``gpu_id`` = their ids, so RecBole's ``CUDA_VISIBLE_DEVICES`` keeps Ray's choice;
    none: CPU), as ``job.nproc`` processes. Returns what the trial reports. Each trial saves
    under its own ``checkpoint_root/<trial id>``."""
    if run_fn is None:
        from recbole_llmrec.quick_start import run as run_fn

    params = config.get(_GRID_KEY, config)
    config_dict = job.config_dict(params)
    config_dict["checkpoint_dir"] = os.path.join(checkpoint_root, trial_id)
    config_dict["gpu_id"] = ",".join(str(g) for g in gpu_ids)
    result = run_fn(job.model, job.dataset, list(job.config_files) or None, config_dict,
                    **trial_launch(job.nproc, find_free_port))
    return {
        "score": float(result["best_valid_score"]),
        "run_result": {k: result.get(k) for k in
                       ("best_valid_result", "test_result", "wall_time_s")},
    }


def _ray_trainable(config: Dict[str, Any], job: TuningJob, checkpoint_root: str) -> None:
    """The Ray Tune trainable: :func:`ray_trial` with the trial's id and GPUs."""
    import ray
    from ray.air import session

    session.report(ray_trial(config, job, checkpoint_root, session.get_trial_id(),
                             ray.get_gpu_ids()))


def _search_ray(job: TuningJob, params: List[Param], algo: str, max_evals: int, bigger: bool,
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
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
    return [_trial_record(i, p, r, e) for i, (_, p, r, e) in enumerate(rows)]


def best_trial(trials: Sequence[Dict[str, Any]], bigger: bool) -> Optional[Dict[str, Any]]:
    """The trial with the best valid score (the earliest one on ties); None if all failed."""
    scored = [t for t in trials if t["error"] is None and t["best_valid_score"] is not None]
    if not scored:
        return None
    sign = 1.0 if bigger else -1.0
    return max(scored, key=lambda t: (sign * t["best_valid_score"], -t["index"]))


def trials_table(trials: Sequence[Dict[str, Any]], best_index: Optional[int]) -> str:
    """A plain-text table of the trials for the log."""
    names = sorted({k for t in trials for k in t["params"]})
    header = ["#"] + names + ["valid score", ""]
    rows = []
    for t in trials:
        score = "failed" if t["error"] else f"{t['best_valid_score']:.4f}"
        rows.append([str(t["index"])] + [str(t["params"].get(n)) for n in names]
                    + [score, "<- best" if t["index"] == best_index else ""])
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header] + rows
    )


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
    from recbole_llmrec.config import build_config

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
        trials = _search_hyperopt(job, params, algo, max_evals, bigger, seed, early_stop, run_fn)
    else:
        trials = _search_ray(job, params, algo, max_evals, bigger, seed, cpus_per_trial,
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


def parse_args(argv: Optional[Sequence[str]] = None):
    """Our options, plus every other ``--key=value`` as a fixed config entry of every trial."""
    import argparse

    from recbole_llmrec.quick_start import parse_config_overrides

    parser = argparse.ArgumentParser(
        # No prefix matching: --seed (a config key) must not be read as --seeds.
        allow_abbrev=False,
        description="Hyper-parameter search through recbole_llmrec's run(). Any other "
        "--key=value is a fixed config entry of every trial (e.g. --epochs=5)."
    )
    parser.add_argument("--model", "-m", required=True, help="model name (plugin or RecBole)")
    parser.add_argument("--dataset", "-d", default="amazon_mixed", help="dataset name")
    parser.add_argument("--params_file", required=True,
                        help="search space in RecBole's format (see properties/hyper/)")
    parser.add_argument("--max_evals", type=int, default=10, help="most trials")
    parser.add_argument("--algo", choices=ALGOS, default="exhaustive", help="search algorithm")
    parser.add_argument("--tool", choices=TOOLS, default="hyperopt", help="search back end")
    parser.add_argument("--output", default=None, help="write the result JSON here")
    parser.add_argument("--config_files", default=None,
                        help="space-separated YAML files layered over the plugin's properties")
    parser.add_argument("--search_seed", type=int, default=2020,
                        help="seed of the search algorithm (the model's is --seed)")
    parser.add_argument("--early_stop", type=int, default=10,
                        help="hyperopt: stop after this many trials without improvement")
    parser.add_argument("--cpus_per_trial", type=float, default=1, help="ray: CPUs per trial")
    parser.add_argument("--gpus_per_trial", type=float, default=0,
                        help="ray: GPUs per trial (0: trials run on CPU)")
    parser.add_argument("--nproc", type=int, default=1,
                        help="processes per trial (> 1: each trial is a DDP job; on GPUs give "
                        "--gpus_per_trial >= --nproc)")
    parser.add_argument("--max_concurrent", type=int, default=1, help="ray: trials at once")
    parser.add_argument("--ray_dir", default="ray_results", help="ray: experiment folder")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    args, rest = parser.parse_known_args(argv)
    return args, parse_config_overrides(rest)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``run_hyper.py``; returns the process exit code."""
    args, overrides = parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.output and os.path.exists(args.output) and not args.overwrite:
        print(f"error: {args.output} exists; pass --overwrite to replace it")
        return 2
    job = TuningJob(args.model, args.dataset,
                    args.config_files.split() if args.config_files else [], overrides,
                    args.nproc)
    try:
        summary = tune_model(
            job, args.params_file, args.max_evals, algo=args.algo, tool=args.tool,
            output=args.output, seed=args.search_seed, early_stop=args.early_stop,
            cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
            max_concurrent=args.max_concurrent, ray_dir=args.ray_dir,
        )
    except (TuningError, FileNotFoundError) as err:
        print(f"error: {err}")
        return 2
    return 0 if summary["best_params"] is not None else 1
