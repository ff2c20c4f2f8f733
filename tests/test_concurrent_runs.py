"""Runs side by side in one directory never share a checkpoint: each reports its own metrics and
names its own checkpoint (with a matching SHA-256); one live owner per run name; stale locks are
taken over."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch
import yaml

import recbole_llmrec  # noqa: F401  (registers the plugin's safe globals)
from model_helpers import REPO_DIR, base_config_dict, close_results
from recbole_llmrec.runs.quick_start import cli, run
from recbole_llmrec.runs.files import file_sha256
from recbole_llmrec.runs.lock import RunLock, RunLockedError, lock_path

COMPARED = ("best_valid_score", "best_valid_result", "test_result")


def _cli(config_file: Path, checkpoint_dir: Path, result: Path, seed: int) -> List[str]:
    return [sys.executable, str(REPO_DIR / "run_recbole_llmrec.py"), "--model=LLMRec",
            "--dataset=tiny_mixed", f"--config_files={config_file}", f"--seed={seed}",
            f"--checkpoint_dir={checkpoint_dir}", f"--result_file={result}"]


def _start(cmd: List[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    return out


def _wait_for_lock(checkpoint_dir: Path, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    """Return once ``proc`` holds a run-name lock in ``checkpoint_dir`` (its pid is the owner)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before it held a lock: {proc.communicate()[0][-3000:]}"
        for path in checkpoint_dir.glob("*.lock"):
            try:
                if json.loads(path.read_text() or "{}").get("pid") == proc.pid:
                    return
            except (OSError, ValueError):  # the lock file is being written or removed
                pass
        time.sleep(0.05)
    raise AssertionError(f"no run-name lock of pid {proc.pid} in {checkpoint_dir} after {timeout} s")


def test_two_runs_in_one_directory_keep_their_own_checkpoints(tmp_path, tiny_lms):
    config = base_config_dict(tiny_lms["opt"], epochs=3, stopping_step=10, topk=[10, 200],
                              metric_decimal_place=10)
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(config))

    solo: Dict[int, Dict[str, Any]] = {}
    for seed in (1, 2):  # each seed alone, in its own directory
        out = tmp_path / f"solo{seed}.json"
        _finish(_start(_cli(config_file, tmp_path / f"solo{seed}", out, seed), tmp_path))
        solo[seed] = json.loads(out.read_text())
    assert not close_results(solo[1]["test_result"], solo[2]["test_result"]), "seeds must differ"

    # the runs overlap for sure: the first is paused while it holds the default run name, and
    # goes on once the second has claimed a name of its own
    shared = tmp_path / "shared"
    procs = {1: _start(_cli(config_file, shared, tmp_path / "side1.json", 1), tmp_path)}
    _wait_for_lock(shared, procs[1])
    procs[1].send_signal(signal.SIGSTOP)
    try:
        procs[2] = _start(_cli(config_file, shared, tmp_path / "side2.json", 2), tmp_path)
        _wait_for_lock(shared, procs[2])
    finally:
        procs[1].send_signal(signal.SIGCONT)
    logs = {seed: _finish(proc) for seed, proc in procs.items()}
    side = {seed: json.loads((tmp_path / f"side{seed}.json").read_text()) for seed in (1, 2)}

    for seed in (1, 2):
        for key in COMPARED:
            assert close_results(side[seed][key], solo[seed][key]), (seed, key)
        checkpoint = side[seed]["checkpoint"]
        assert Path(checkpoint).parent == shared
        assert file_sha256(checkpoint) == side[seed]["checkpoint_sha256"]
        assert close_results(torch.load(checkpoint, weights_only=True)["best_valid_score"],
                      side[seed]["best_valid_score"])
    assert side[1]["checkpoint"] != side[2]["checkpoint"]
    # one run kept the default run name, the other took a unique one and said so
    lasts = sorted(p.name for p in shared.glob("*-last.pth"))
    assert len(lasts) == 2 and "LLMRec-tiny_mixed-last.pth" in lasts, lasts
    assert sum("this run is named" in log for log in logs.values()) == 1
    assert not list(shared.glob("*.lock")) and not list(shared.glob(".tmp-*"))


def test_second_run_with_the_same_run_name_is_refused(tmp_path, tiny_config_dict, capsys):
    from conftest import TINY_YAML

    checkpoint_dir = tiny_config_dict["checkpoint_dir"]
    with RunLock(lock_path(checkpoint_dir, "mine"), "mine"):
        with pytest.raises(RunLockedError, match=f"held by pid {os.getpid()}"):
            run("Pop", "tiny_mixed", [str(TINY_YAML)], {**tiny_config_dict, "run_name": "mine"})
        assert not list(Path(checkpoint_dir).glob("*.pth")) and not Path("log").exists()
        status = cli(["--model=Pop", "--dataset=tiny_mixed", f"--config_files={TINY_YAML}",
                      f"--data_path={tiny_config_dict['data_path']}",
                      f"--checkpoint_dir={checkpoint_dir}", "--run_name=mine"])
        assert status == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: run 'mine' is in use")
        assert f"pid {os.getpid()}" in err[0]
    # the lock is gone with its owner: the same run now goes ahead
    result = run("Pop", "tiny_mixed", [str(TINY_YAML)], {**tiny_config_dict, "run_name": "mine"})
    assert (Path(checkpoint_dir) / "mine-last.pth").is_file()
    assert file_sha256(result["checkpoint"]) == result["checkpoint_sha256"]


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    path = tmp_path / "run.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from recbole_llmrec.runs.lock import RunLock; "
         "RunLock(sys.argv[1], 'r').acquire(); print('held', flush=True); time.sleep(600)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            RunLock(str(path), "r").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert path.exists()  # a dead owner leaves its file behind
    lock = RunLock(str(path), "r").acquire()
    assert lock.took_over is not None and lock.took_over["pid"] == holder.pid
    assert json.loads(path.read_text())["pid"] == os.getpid()
    lock.release()
    assert not path.exists()


def test_waiting_for_a_lock_blocks_until_its_owner_ends(tmp_path):
    path = tmp_path / "run.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from recbole_llmrec.runs.lock import RunLock; "
         "lock = RunLock(sys.argv[1], 'r').acquire(); print('held', flush=True); time.sleep(1.5); "
         "lock.release()", str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    start = time.monotonic()
    with RunLock(str(path), "r").acquire(wait=True) as lock:
        assert lock.held and lock.took_over is None  # released cleanly, not taken over
    assert time.monotonic() - start > 0.5
    holder.wait(timeout=30)


def test_changed_checkpoint_is_refused_at_test_time(tmp_path, tiny_config_dict):
    """The test evaluation verifies the best checkpoint's digest before loading it."""
    from conftest import TINY_YAML
    from recbole_llmrec.runs.pipeline import build
    from recbole_llmrec.runs.files import DigestMismatchError

    built = build("Pop", "tiny_mixed", [str(TINY_YAML)], tiny_config_dict)
    built.trainer.fit(built.train_data, built.valid_data, saved=True)
    path = built.trainer.saved_model_file
    assert file_sha256(path) == built.trainer.saved_model_sha256
    state = torch.load(path, weights_only=True)
    state["best_valid_score"] = -1.0  # another run's file under the same name
    torch.save(state, path)
    with pytest.raises(DigestMismatchError, match="changed after this run wrote it"):
        built.trainer.evaluate(built.test_data, load_best_model=True)


_CACHE_WRITER = """
import sys, torch
from recbole_llmrec.model.text.vector_cache import VectorCache
torch.manual_seed(0)
vectors = torch.randn(20000, 64)  # 5 MB: long enough writes for the two writers to overlap
print('ready', flush=True)
sys.stdin.readline()
for _ in range(5):
    VectorCache(sys.argv[1]).save('k' * 32, {'vectors': vectors}, {'n': 20000})
"""


def test_two_processes_writing_one_vector_cache_leave_one_valid_file(tmp_path):
    from recbole_llmrec.model.text.vector_cache import VectorCache

    writers = [subprocess.Popen([sys.executable, "-c", _CACHE_WRITER, str(tmp_path / "cache")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    for writer in writers:
        assert writer.stdout.readline().strip() == "ready"
    for writer in writers:  # release both at once
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers:
        writer.stdin.close()
        assert writer.wait(timeout=120) == 0
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["k" * 32 + ".safetensors"]
    torch.manual_seed(0)
    loaded = VectorCache(tmp_path / "cache").load("k" * 32)
    assert loaded is not None and torch.equal(loaded["vectors"], torch.randn(20000, 64))
