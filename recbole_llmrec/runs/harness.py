"""One harness for every measured run: a run described as data (:class:`RunSpec`), run once in a child
process of its own, cached as ``<runs_dir>/<name>.json``.

* **Cached by content**: the stored result keeps its spec and the spec's digest (``spec_sha256``); a stored
  result is reused (with a warning when its spec differs: delete the file to run it again), so an
  interrupted benchmark or experiment resumes.
* **Locked per run** (:mod:`recbole_llmrec.runs.lock`): one process runs it, another one wanting the same run
  waits for its result.
* **Measured in a child process** (``python -m recbole_llmrec.runs.harness SPEC RESULT``), so that its
  memory and CPU time are its own: the result records the CPU kind (:func:`~recbole_llmrec.utils.machine.cpu_kind`),
  threads, wall seconds, CPU seconds (the child's own and its children's, e.g. DDP ranks), peak memory
  (``VmHWM`` read inside the child at exit: see :func:`peak_rss_mib`) and the trainer's event timings
  (:mod:`recbole_llmrec.utils.events`).

A spec's ``task`` says what the child runs: ``"train"`` (:func:`recbole_llmrec.runs.quick_start.run`: train,
calibrate, test), ``"evaluate"`` (:func:`recbole_llmrec.runs.transfer.evaluate_checkpoint` of
``options["checkpoint"]``) or ``"package.module:function"``, a function taking the :class:`RunSpec` and
returning the result dict (the lab's own measurements)::

    spec = RunSpec(name="SASRec-amazon_mixed", model="SASRec", dataset="amazon_mixed", config={"epochs": 5})
    result = harness.run(spec, "out/runs")
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from recbole_llmrec.distributed import find_free_port
from recbole_llmrec.runs.lock import LOCK_SUFFIX, RunLock
from recbole_llmrec.runs.quick_start import run as train_and_test
from recbole_llmrec.runs.transfer import evaluate_checkpoint
from recbole_llmrec.utils import events
from recbole_llmrec.utils.atomic import write_json_atomic
from recbole_llmrec.utils.machine import cpu_kind
from recbole_llmrec.utils.result_files import read_result, write_result

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
#: What the harness adds to a task's result.
MEASURED = ("timing", "wall_s", "cpu_s", "peak_rss_mib", "ru_maxrss_mib", "torch_threads", "load_avg", "machine",
            "spec", "spec_sha256")


@dataclass(frozen=True)
class RunSpec:
    """One measured run.

    ``name``: its file name under the runs folder; ``task``: what the child runs (module docstring);
    ``config``: config entries over ``config_files`` (RecBole's layering), ``seed`` (when set) and
    ``threads`` (torch and OpenMP threads of the child; None: the environment's) on top; ``options``:
    the task's other arguments (``checkpoint``, ``saved``, ``nproc``, ...).
    """

    name: str
    model: str = ""
    dataset: str = ""
    config_files: Sequence[str] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    seed: Optional[int] = None
    threads: Optional[int] = None
    task: str = "train"
    options: Mapping[str, Any] = field(default_factory=dict)

    def content(self) -> Dict[str, Any]:
        """The spec as plain JSON (what the result stores as ``spec``)."""
        return json.loads(json.dumps(dict(asdict(self), config_files=list(self.config_files)), default=str))

    def digest(self) -> str:
        """SHA-256 of the spec's content, name left out: two names for one run share it."""
        content = {k: v for k, v in self.content().items() if k != "name"}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    def config_dict(self) -> Dict[str, Any]:
        """The config entries of the run: ``config`` with ``seed`` when set."""
        return dict(self.config, **({} if self.seed is None else {"seed": self.seed}))

    @classmethod
    def from_content(cls, content: Mapping[str, Any]) -> "RunSpec":
        return cls(**dict(content, config_files=tuple(content.get("config_files") or ())))


def result_path(spec: RunSpec, runs_dir: PathLike) -> Path:
    """Where ``spec``'s result is stored."""
    return Path(runs_dir) / f"{spec.name}.json"


def stored(spec: RunSpec, runs_dir: PathLike) -> Optional[Dict[str, Any]]:
    """``spec``'s stored result, or None when it has not run."""
    path = result_path(spec, runs_dir)
    if not path.exists():
        return None
    result = read_result(str(path))
    if "spec_sha256" in result and result["spec_sha256"] != spec.digest():
        logger.warning("run %s: reusing a stored result of another spec (delete %s to run it again)",
                       spec.name, path)
    return result


Task = Callable[[RunSpec], Dict[str, Any]]


def run(spec: RunSpec, runs_dir: PathLike, live: bool = True, wait: bool = True,
        cwd: Optional[PathLike] = None, in_process: Optional[Task] = None) -> Optional[Dict[str, Any]]:
    """The result of ``spec``: stored in ``runs_dir``, else (when ``live``) run in a child process
    (working directory ``cwd``, default this one's) and stored; None when missing and not ``live``.
    ``wait`` False: raise :class:`~recbole_llmrec.runs.lock.RunLockedError` when another live process
    is running it, instead of waiting for its result. ``in_process``: run this function in this process
    instead of the spec's task in a child (tests; its memory and CPU figures are then this process's)."""
    found = stored(spec, runs_dir)
    if found is not None or not live:
        if found is None:
            logger.warning("run %s: not run yet", spec.name)
        return found
    path = result_path(spec, runs_dir)
    with RunLock(str(path.with_suffix(LOCK_SUFFIX)), spec.name).acquire(wait=wait):
        if not path.exists() and in_process is not None:
            write_result(str(path), measure(spec, in_process))
        elif not path.exists():
            run_child(spec, path, cwd)
    return read_result(str(path))


def run_once(spec: RunSpec, cwd: Optional[PathLike] = None) -> Dict[str, Any]:
    """``spec``'s result, run in a child process now and not stored (a measurement repeated on purpose)."""
    with tempfile.TemporaryDirectory(prefix="recbole-llmrec-run-") as folder:
        path = Path(folder) / f"{spec.name}.json"
        run_child(spec, path, cwd)
        return read_result(str(path))


def _task_root(task: str) -> Optional[str]:
    """The folder holding the top-level package of a ``package.module:function`` task (e.g. the repository root
    for the lab's ``experiments.``), as this process finds it; None for a built-in task."""
    if task in TASKS:
        return None
    module, _ = split_task(task)
    found = importlib.util.find_spec(module.split(".")[0])
    if found is None or not (found.submodule_search_locations or found.origin):
        raise ValueError(f"task {task!r}: its module cannot be imported here")
    where = list(found.submodule_search_locations or [])
    return str(Path(where[0]).parent if where else Path(found.origin).parent)


def run_child(spec: RunSpec, path: PathLike, cwd: Optional[PathLike] = None) -> None:
    """Run ``spec`` in a child process that writes its result to ``path``; raise when it fails."""
    path = Path(path)
    spec_path = path.with_name(f".{path.stem}.spec.json")
    write_json_atomic(spec.content(), str(spec_path))
    env = dict(os.environ)
    if spec.threads is not None:
        env.update(OMP_NUM_THREADS=str(spec.threads), MKL_NUM_THREADS=str(spec.threads))
    task_root = _task_root(spec.task)
    if task_root is not None:  # the child imports the task's module from where this process finds it
        env["PYTHONPATH"] = os.pathsep.join(p for p in (task_root, env.get("PYTHONPATH")) if p)
    logger.info("run %s: %s", spec.name, json.dumps(spec.content()))
    try:
        proc = subprocess.run([sys.executable, "-m", __name__, str(spec_path), str(path)],
                              cwd=None if cwd is None else str(cwd), env=env, check=False)
    finally:
        spec_path.unlink(missing_ok=True)
    if proc.returncode != 0 or not path.exists():
        raise RuntimeError(f"run {spec.name} failed (exit {proc.returncode}); see its log above")


# ----------------------------------------------------------------------------------- the child
def peak_rss_mib() -> float:
    """Peak resident set size of this process image, MiB: ``VmHWM`` of ``/proc/self/status``.

    Not ``ru_maxrss``: Linux carries the peak of the process that started this one across ``exec``
    (``subprocess`` starts children with vfork + exec), so a child's ``ru_maxrss`` is at least its
    parent's peak. ``ru_maxrss`` where ``/proc`` is missing."""
    try:
        with open("/proc/self/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return ru_maxrss_mib()


def ru_maxrss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """``getrusage(who).ru_maxrss`` in MiB (Linux reports KiB)."""
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def task_train(spec: RunSpec) -> Dict[str, Any]:
    """A whole run: train, calibrate, test (``options``: ``saved`` (default True), ``nproc``)."""
    nproc = int(spec.options.get("nproc", 1))
    extra = {"ip": "127.0.0.1", "port": find_free_port()} if nproc > 1 else {}
    result = train_and_test(spec.model, spec.dataset, list(spec.config_files) or None, spec.config_dict(),
                            saved=bool(spec.options.get("saved", True)), nproc=nproc, **extra)
    if nproc > 1:  # the largest rank's ru_maxrss: an upper bound (it includes this process's peak at the spawn)
        result["peak_rss_ranks_mib"] = ru_maxrss_mib(resource.RUSAGE_CHILDREN)
    return result


def task_evaluate(spec: RunSpec) -> Dict[str, Any]:
    """``--evaluate_checkpoint`` of ``options["checkpoint"]`` on the spec's dataset."""
    return evaluate_checkpoint(spec.options["checkpoint"], spec.dataset, list(spec.config_files) or None,
                               spec.config_dict())


TASKS: Dict[str, Task] = {"train": task_train, "evaluate": task_evaluate}


def split_task(task: str) -> Tuple[str, str]:
    """``(module, function)`` of a ``package.module:function`` task; ``ValueError`` for anything else."""
    module, sep, name = task.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"task {task!r} is neither one of {sorted(TASKS)} nor 'package.module:function'")
    return module, name


def resolve_task(task: str) -> Task:
    """The function a spec's ``task`` names: one of :data:`TASKS` or ``package.module:function``."""
    if task in TASKS:
        return TASKS[task]
    module, name = split_task(task)
    return getattr(importlib.import_module(module), name)


def measure(spec: RunSpec, task: Optional[Task] = None) -> Dict[str, Any]:
    """Run ``spec`` (its task, or ``task``) in this process and return its result with the measurements
    (module docstring)."""
    if spec.threads is not None:
        torch.set_num_threads(int(spec.threads))
    task = task or resolve_task(spec.task)
    load_start, start = os.getloadavg(), time.perf_counter()
    with events.recording() as timings:
        result = task(spec)
    result.setdefault("timing", timings.as_dict())
    result.update(wall_s=round(time.perf_counter() - start, 1), cpu_s=round(cpu_seconds(), 1),
                  peak_rss_mib=peak_rss_mib(), ru_maxrss_mib=ru_maxrss_mib(), torch_threads=torch.get_num_threads(),
                  load_avg={"start": list(load_start), "end": list(os.getloadavg())}, machine=cpu_kind(),
                  spec=spec.content(), spec_sha256=spec.digest())
    return result


def child_main(argv: List[str]) -> int:
    """``python -m recbole_llmrec.runs.harness SPEC.json RESULT.json``: run the spec, write its result."""
    if len(argv) != 2:
        raise SystemExit("usage: python -m recbole_llmrec.runs.harness SPEC.json RESULT.json")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    events.subscribe(events.log_progress)
    with open(argv[0], encoding="utf-8") as handle:
        spec = RunSpec.from_content(json.load(handle))
    write_result(argv[1], measure(spec))
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
