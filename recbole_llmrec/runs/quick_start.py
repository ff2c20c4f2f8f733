"""Train and evaluate any model (plugin or RecBole) under RecBole's evaluator; the CLI behind
``run_recbole_llmrec.py``."""
from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from recbole_llmrec.utils.atomic import write_json_atomic
from recbole_llmrec.utils.cli_errors import run_cli
from recbole_llmrec.utils.cli_spellings import modernize
from recbole_llmrec.utils.overwrite import refuse_existing
from recbole_llmrec.config.plugin_config import build_config
from recbole_llmrec.distributed import collectives
from recbole_llmrec.distributed.launch import launch
from recbole_llmrec.distributed.process_group import check_launch
from recbole_llmrec.distributed.torchrun import torchrun_environment, torchrun_rank_config
from recbole_llmrec.config.overrides import parse_config_overrides
from recbole_llmrec.runs.pipeline import build, check_config
from recbole_llmrec.utils.plain import plain_result
from recbole_llmrec.runs.resume import find_resume_file, run_name
from recbole_llmrec.runs.lock import RunLock, claim_run_name
from recbole_llmrec.runs.summary import format_summary
from recbole_llmrec.runs.transfer import evaluate_checkpoint
from recbole_llmrec.utils.events import recording

logger = logging.getLogger(__name__)


def run(
    model: str,
    dataset: str,
    config_file_list: Optional[Sequence[str]] = None,
    config_dict: Optional[Dict[str, Any]] = None,
    saved: bool = True,
    result_file: Optional[str] = None,
    overwrite: bool = False,
    resume: bool = False,
    resume_from: Optional[str] = None,
    nproc: int = 1,
    world_size: int = -1,
    ip: str = "localhost",
    port: Union[int, str] = 5678,
    group_offset: int = 0,
) -> Optional[Dict[str, Any]]:
    """Train ``model`` on ``dataset``, evaluate the best checkpoint on the test split.

    Returns ``{"model", "dataset", "best_valid_score", "best_valid_result", "test_result",
    "wall_time_s", "timing"}`` (``timing``: seconds of the trainer's events, :class:`~recbole_llmrec.utils.events.Timings`) plus ``"per_domain": {"valid": {domain: metrics}, "test": {...}}`` when
    the dataset names item domains and ``"checkpoint"`` when saved; with ``result_file`` the
    same is written there as JSON.

    ``resume`` continues from the run's last checkpoint when it exists (see
    :mod:`recbole_llmrec.runs.resume`); ``resume_from`` continues from that checkpoint file. Config
    and model errors (``ValueError``) are raised before the dataset is loaded where possible and
    always before training starts.

    ``nproc > 1`` or ``world_size > 0`` trains with DDP (gloo on CPU, nccl on CUDA): ``nproc``
    processes here, ranks ``group_offset ..`` of ``world_size`` (default ``nproc``), meeting at
    ``ip:port``. The result (with ``"distributed"``: world size, backend and each rank's weight
    digest) comes from global rank 0; on a node without it, ``run`` returns None.

    In a process started by ``torchrun`` (:mod:`recbole_llmrec.distributed.torchrun`) this
    process is one rank of torchrun's job: nothing is spawned, ``ip``/``port`` are ignored, and
    ``nproc``/``world_size``/``group_offset`` must be left at their defaults or agree with
    torchrun (else ``ValueError``); the result comes from global rank 0 (None on other ranks).
    """
    refuse_existing(result_file, overwrite)  # before any work
    torchrun = torchrun_rank_config(nproc, world_size, group_offset)
    if torchrun is not None:  # started by torchrun: this process is one rank, nothing is spawned
        config_dict = {**(config_dict or {}), **torchrun}
    # a torchrun rank joins its process group here (PluginConfig._init_device)
    config = build_config(model, dataset, config_file_list, config_dict)
    lock = None
    try:
        check_config(config)
        if saved:  # one owner per run name (its <run_name>-last.pth): see recbole_llmrec.runs.lock
            lock, name = _claim_run_name(
                config, explicit=bool(config["run_name"]) or resume or bool(resume_from))
            if name != run_name(config):
                config["run_name"] = name
                config_dict = {**(config_dict or {}), "run_name": name}
        if torchrun is not None:
            result = _run_torchrun_rank(model, dataset, config_file_list, config_dict, saved,
                                        resume, resume_from, config=config)
        elif nproc == 1 and (world_size is None or world_size <= 0):
            result = _run_single(model, dataset, config_file_list, config_dict, saved, resume,
                                 resume_from, config=config)
        else:
            result = _run_distributed(model, dataset, config_file_list, config_dict, saved, nproc,
                                      world_size, ip, port, group_offset, resume, resume_from,
                                      config=config)
        if result_file and result is not None:
            write_json_atomic(result, result_file)
    finally:
        if lock is not None:
            lock.release()
        if torchrun is not None and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return result


def _claim_run_name(config: Any, explicit: bool) -> Tuple[Optional[RunLock], str]:
    """:func:`claim_run_name` for this run; in a torchrun rank, global rank 0 claims and every
    rank takes its name (or fails with its error)."""
    if config["single_spec"]:
        return claim_run_name(config["checkpoint_dir"], run_name(config), explicit=explicit)
    lock, name, error = None, None, None
    if torch.distributed.get_rank() == 0:
        try:
            lock, name = claim_run_name(config["checkpoint_dir"], run_name(config),
                                        explicit=explicit)
        except OSError as err:  # RunLockedError included
            error = err
    name, message = collectives.broadcast_object((name, None if error is None else str(error)))
    if error is not None:
        raise error
    if message is not None:
        raise OSError(f"rank 0 could not claim the run name: {message}")
    return lock, name


def _run_torchrun_rank(model: str, dataset: str, config_file_list: Optional[Sequence[str]],
                       config_dict: Optional[Dict[str, Any]], saved: bool, resume: bool,
                       resume_from: Optional[str], config: Any) -> Optional[Dict[str, Any]]:
    """This process as one rank of a torchrun job (``config`` built, so the group is joined):
    :func:`_run_single`, as a spawned rank runs it; the result on global rank 0, else None."""
    # RecBole's ensure_dir (check, then makedirs) races between ranks: create the folders first.
    os.makedirs(os.path.join("log", config["model"]), exist_ok=True)
    os.makedirs(config["checkpoint_dir"], exist_ok=True)
    result = _run_single(model, dataset, config_file_list, config_dict, saved, resume, resume_from,
                         config=config)
    return result if torch.distributed.get_rank() == 0 else None


def _run_distributed(model: str, dataset: str, config_file_list: Optional[Sequence[str]],
                     config_dict: Optional[Dict[str, Any]], saved: bool, nproc: int,
                     world_size: int, ip: str, port: Union[int, str], group_offset: int,
                     resume: bool = False, resume_from: Optional[str] = None,
                     config: Any = None) -> Optional[Dict[str, Any]]:
    """Spawn this node's DDP ranks, each running :func:`_run_single`; global rank 0's result.
    ``config``: the run's config, built and checked before spawning."""
    world = check_launch(nproc, world_size, group_offset, config["gpu_id"])
    # RecBole's ensure_dir (check, then makedirs) races between ranks: create the folders first.
    os.makedirs(os.path.join("log", config["model"]), exist_ok=True)
    os.makedirs(config["checkpoint_dir"], exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="recbole-llmrec-ddp-") as tmp:
        result_path = os.path.join(tmp, "result.json")
        launch(
            _run_single, (model, dataset, list(config_file_list or []) or None),
            {"saved": saved, "config_dict": dict(config_dict or {}), "resume": resume,
             "resume_from": resume_from},
            nproc=nproc, world_size=world, ip=ip, port=port, group_offset=group_offset,
            result_path=result_path,
        )
        if not os.path.exists(result_path):
            return None  # global rank 0 runs on another node
        with open(result_path, encoding="utf-8") as handle:
            return json.load(handle)


def _run_single(
    model: str,
    dataset: str,
    config_file_list: Optional[Sequence[str]] = None,
    config_dict: Optional[Dict[str, Any]] = None,
    saved: bool = True,
    resume: bool = False,
    resume_from: Optional[str] = None,
    config: Any = None,
) -> Dict[str, Any]:
    """One process's train + test run (a whole single-process run, or one DDP rank);
    ``config``: one built already (else built from the other arguments)."""
    start = time.perf_counter()
    built = build(model, dataset, config_file_list, config_dict, config=config)
    config, trainer = built.config, built.trainer
    train_data, valid_data, test_data = built.train_data, built.valid_data, built.test_data
    resume_file = find_resume_file(config, resume, resume_from)
    if resume_file:
        trainer.resume_checkpoint(resume_file)

    with recording() as timings:  # the trainer's events: epochs, validation, calibration, test
        best_valid_score, best_valid_result = trainer.fit(
            train_data, valid_data, saved=saved, show_progress=config["show_progress"]
        )
        digests = None
        if not config["single_spec"]:  # each rank's trained weights, before the best is reloaded
            digests = collectives.gather_objects(collectives.state_digest(trainer.model))
        test_result = trainer.evaluate(
            test_data, load_best_model=saved, show_progress=config["show_progress"]
        )
    result = {
        "model": config["model"],
        "dataset": config["dataset"],
        "best_valid_score": plain_result(best_valid_score),
        "best_valid_result": plain_result(best_valid_result),
        "test_result": plain_result(test_result),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "timing": timings.as_dict(),
    }
    if trainer.last_per_domain is not None:
        result["per_domain"] = {
            "valid": plain_result(trainer.best_valid_per_domain()),
            "test": plain_result(trainer.last_per_domain),
        }
    result.update(trainer.grouped_results())
    if getattr(trainer, "calibration", None) is not None:
        result["calibration"] = trainer.calibration.as_dict()
    if saved:
        result["checkpoint"] = trainer.saved_model_file
        result["checkpoint_sha256"] = trainer.saved_model_sha256
    if digests is not None:
        result["distributed"] = {
            "world_size": config["world_size"],
            "backend": torch.distributed.get_backend(),
            "weight_digests": digests,
        }
    logger.info("best valid: %s", result["best_valid_result"])
    logger.info("test result: %s", result["test_result"])
    return result


def parse_args(argv: Optional[Sequence[str]] = None) -> Tuple[argparse.Namespace, Dict[str, Any]]:
    """Our options, plus every other ``--key=value`` as a RecBole config entry (YAML-typed); old
    spellings (dashed flags, ``--set KEY=VALUE``) are accepted with a deprecation warning."""
    parser = argparse.ArgumentParser(
        allow_abbrev=False,  # --res=... must not silently become --result_file / --resume
        description="Run LLMRec or any RecBole model under RecBole's evaluator. Any other "
        "--key=value is passed to RecBole's config (e.g. --epochs=5 --learning_rate=1e-4)."
    )
    parser.add_argument("--model", "-m", default="LLMRec", help="model name (plugin or RecBole)")
    parser.add_argument("--dataset", "-d", default="amazon_mixed", help="dataset name")
    parser.add_argument(
        "--config_files", default=None,
        help="space-separated YAML files layered over the plugin's properties",
    )
    parser.add_argument("--result_file", default=None, help="write the result JSON here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing result file")
    parser.add_argument(
        "--evaluate_checkpoint", default=None, metavar="PATH",
        help="no training: evaluate this checkpoint or model folder on --dataset (zero-shot transfer "
        "for LLMRec); the model and its settings come from it",
    )
    parser.add_argument(
        "--resume", action="store_true",
        help="continue from this run's last checkpoint (<checkpoint_dir>/<run_name>-last.pth; "
        "run_name defaults to <model>-<dataset>) when it exists, else start afresh",
    )
    parser.add_argument("--resume_from", default=None, help="continue from this checkpoint file")
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the Python traceback instead of one 'error:' line")
    add_distributed_args(parser)
    args, rest = parser.parse_known_args(modernize(argv))
    return args, parse_config_overrides(rest)


def add_distributed_args(parser: argparse.ArgumentParser) -> None:
    """RecBole's DDP launch options (``--nproc``, ``--world_size``, ``--ip``, ``--port``,
    ``--group_offset``)."""
    group = parser.add_argument_group(
        "distributed training (DDP; gloo on CPU, nccl on CUDA). Under torchrun leave these out: "
        "each process is the rank torchrun's environment names")
    group.add_argument("--nproc", type=int, default=1, help="processes on this node (1: no DDP)")
    group.add_argument("--world_size", type=int, default=-1,
                       help="processes on all nodes (default: --nproc)")
    group.add_argument("--ip", default="localhost", help="address of the node with rank 0")
    group.add_argument("--port", default="5678", help="free TCP port on the node with rank 0")
    group.add_argument("--group_offset", type=int, default=0,
                       help="global rank of this node's first process (0, 8, ... for 8 per node)")


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point (errors raise); prints the end-of-run summary, returns 0."""
    args, overrides = parse_args(argv)
    config_files = args.config_files.split() if args.config_files else None
    if args.evaluate_checkpoint and (args.resume or args.resume_from):
        raise SystemExit("--evaluate_checkpoint does not train: it cannot be combined with "
                         "--resume / --resume_from")
    if args.evaluate_checkpoint:
        torchrun = torchrun_environment()
        if torchrun is not None and torchrun["world_size"] > 1:
            raise SystemExit("--evaluate_checkpoint runs in one process: start it with python, "
                             f"not torchrun (WORLD_SIZE={torchrun['world_size']})")
        refuse_existing(args.result_file, args.overwrite)
        result = evaluate_checkpoint(args.evaluate_checkpoint, args.dataset, config_files, overrides)
        if args.result_file:
            write_json_atomic(result, args.result_file)
        print(format_summary(result, args.result_file), flush=True)
        return 0
    result = run(
        args.model,
        args.dataset,
        config_file_list=config_files,
        config_dict=overrides,
        result_file=args.result_file,
        overwrite=args.overwrite,
        resume=args.resume,
        resume_from=args.resume_from,
        nproc=args.nproc,
        world_size=args.world_size,
        ip=args.ip,
        port=args.port,
        group_offset=args.group_offset,
    )
    if result is not None:  # None: global rank 0 runs on another node
        print(format_summary(result, args.result_file), flush=True)
    return 0


def cli(argv: Optional[List[str]] = None) -> int:
    """``run_recbole_llmrec.py``: :func:`main` with one ``error: ...`` line and exit status 2 on
    bad input (``--debug``: the traceback)."""
    return run_cli(main, argv)
