"""The benchmark loop: every (model, seed) run once through the harness (:mod:`recbole_llmrec.runs.harness`:
a child process each, its result in its own file, locked, resumable)."""
from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from recbole_llmrec.comparison.aggregate import aggregate
from recbole_llmrec.comparison.manifest import build_manifest, prepare_output_dir
from recbole_llmrec.comparison.plot import write_plot
from recbole_llmrec.comparison.report import write_reports
from recbole_llmrec.config.plugin_config import build_config
from recbole_llmrec.runs import harness
from recbole_llmrec.runs.harness import RunSpec
from recbole_llmrec.runs.lock import RunLockedError
from recbole_llmrec.runs.quick_start import run as train_and_test

logger = logging.getLogger(__name__)

RunFn = Callable[..., Dict[str, Any]]


class MissingPerDomainError(RuntimeError):
    """run() returned no ``per_domain`` block although the config names a domain field."""


@dataclass(frozen=True)
class BenchmarkSpec:
    """What to run: ``models`` (in report order) x ``seeds`` on ``dataset`` with one config.

    ``seeds`` empty: one run per model with the configured ``seed``.
    """

    dataset: str
    models: Sequence[str]
    seeds: Sequence[int] = ()
    config_files: Sequence[str] = ()
    overrides: Dict[str, Any] = field(default_factory=dict)


def run_name(model: str, seed: int) -> str:
    """Name of one run (its result: ``DIR/runs/<name>.json``)."""
    return f"{model}__seed{seed}"


def resolve_seeds(spec: BenchmarkSpec) -> List[int]:
    """The seeds to run: ``spec.seeds``, else the one the config sets (``--seed`` or YAML)."""
    if spec.seeds:
        if "seed" in spec.overrides:
            raise ValueError("give either --seeds or --seed, not both")
        return [int(s) for s in spec.seeds]
    config = build_config(spec.models[0], spec.dataset, list(spec.config_files), spec.overrides)
    return [int(config["seed"])]


def run_benchmark(
    spec: BenchmarkSpec,
    output_dir: str,
    overwrite: bool = False,
    run_fn: Optional[RunFn] = None,
) -> Dict[str, Any]:
    """Run every missing (model, seed) of ``spec`` into ``output_dir/runs/`` and rebuild the
    aggregate files (md, csv, json, png). Returns the aggregated summary.

    Several benchmark processes may share ``output_dir``: each (model, seed) is run by one of
    them (``runs/<model>__seed<seed>.lock``), the others read its result when it is done.

    Each run is a child process running :func:`recbole_llmrec.runs.quick_start.run`; ``run_fn`` (tests:
    a wrapper with ``run``'s signature) runs in this process instead.
    """
    if not spec.models:
        raise ValueError("no models given")
    if len(set(spec.models)) != len(spec.models):
        raise ValueError(f"models listed twice: {list(spec.models)}")
    seeds = resolve_seeds(spec)
    overrides = {k: v for k, v in spec.overrides.items() if k != "seed"}
    manifest = build_manifest(spec.dataset, spec.config_files, overrides)
    prepare_output_dir(output_dir, manifest, overwrite)

    pairs = [(m, s) for m in spec.models for s in seeds]
    records: Dict[Tuple[str, int], Dict[str, Any]] = {}
    # Runs another benchmark process in this folder is running are left to it and read last.
    deferred = [p for p in pairs
                if not _run_or_read(spec, output_dir, p, pairs, overrides, run_fn, records, False)]
    for pair in deferred:
        _run_or_read(spec, output_dir, pair, pairs, overrides, run_fn, records, True)

    summary = aggregate([records[p] for p in pairs], list(spec.models), seeds, dataset=spec.dataset)
    summary["manifest"] = manifest
    write_reports(summary, output_dir)
    write_plot(summary, os.path.join(output_dir, "results.png"))
    logger.info("benchmark written to %s", output_dir)
    return summary


def _run_or_read(spec: BenchmarkSpec, output_dir: str, pair: Tuple[str, int],
                 pairs: List[Tuple[str, int]], overrides: Dict[str, Any], run_fn: Optional[RunFn],
                 records: Dict[Tuple[str, int], Dict[str, Any]], wait: bool) -> bool:
    """Read or run one (model, seed) (the harness, under its lock ``runs/<name>.lock``); False when
    another live process is running it and ``wait`` is off."""
    model, seed = pair
    tag = f"[{pairs.index(pair) + 1}/{len(pairs)}] {model} seed={seed}"
    run = RunSpec(run_name(model, seed), model, spec.dataset, tuple(spec.config_files),
                  overrides, seed=seed, task="recbole_llmrec.comparison.runner:benchmark_record")
    runs = os.path.join(output_dir, "runs")
    path = harness.result_path(run, runs)
    record = harness.stored(run, runs)
    if record is not None:
        logger.info("%s: skip, already done (%s)", tag, path)
        records[pair] = checked_run(record, str(path), model, seed)
        return True
    logger.info("%s: running", tag)
    in_process = None if run_fn is None else functools.partial(benchmark_record, run_fn=run_fn)
    try:
        record = harness.run(run, runs, wait=wait, in_process=in_process)
    except RunLockedError as err:
        logger.info("%s: %s; left to it", tag, err)
        return False
    records[pair] = checked_run(record, str(path), model, seed)
    logger.info("%s: done in %.1f s", tag, records[pair]["result"].get("wall_time_s", float("nan")))
    return True


def benchmark_record(run: RunSpec, run_fn: RunFn = train_and_test) -> Dict[str, Any]:
    """The harness task of one (model, seed): ``run_fn``'s result in a record naming the run."""
    config_dict = run.config_dict()
    domain_field = build_config(run.model, run.dataset, list(run.config_files), config_dict)["domain_field"]
    result = run_fn(run.model, run.dataset, list(run.config_files) or None, config_dict)
    if "per_domain" not in result and domain_field:
        raise MissingPerDomainError(
            f"{run.model} seed={run.seed}: run() returned no 'per_domain' metrics although "
            f"domain_field={domain_field!r} is configured; update recbole_llmrec.runs.quick_start.run "
            "or set --domain_field=~ for a dataset without domains"
        )
    return {"model": run.model, "seed": run.seed, "dataset": run.dataset, "domain_field": domain_field,
            "result": result}


def checked_run(record: Dict[str, Any], path: str, model: str, seed: int) -> Dict[str, Any]:
    """A run record read from ``path``, checked to be the (model, seed) its name says."""
    if record.get("model") != model or record.get("seed") != seed or "result" not in record:
        raise ValueError(f"{path} is not the result of {model} seed={seed}; remove it to re-run")
    return record
