"""Interrupted runs resume from the last checkpoint with the metrics of an uninterrupted run;
the same seed gives the same metrics twice."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict

import pytest
import torch
import yaml

import recbole_llmrec  # noqa: F401  (registers the plugin's safe globals)
from model_helpers import REPO_DIR, base_config_dict, close_results
from recbole_llmrec.runs.quick_start import run

EPOCHS = 4
LAST = "LLMRec-tiny_mixed-last.pth"
COMPARED = ("best_valid_score", "best_valid_result", "test_result", "per_domain")


def _config(llm_path: Path, checkpoint_dir: Path, **overrides: Any) -> Dict[str, Any]:
    values = {"epochs": EPOCHS, "stopping_step": 10, "metric_decimal_place": 10, **overrides}
    return base_config_dict(llm_path, checkpoint_dir=str(checkpoint_dir), **values)


def _assert_same_results(a: Dict[str, Any], b: Dict[str, Any]) -> None:
    for key in COMPARED:
        assert close_results(a.get(key), b.get(key)), (key, a.get(key), b.get(key))


def _same_weights(path_a: str, path_b: str) -> bool:
    a = torch.load(path_a, weights_only=True)["state_dict"]
    b = torch.load(path_b, weights_only=True)["state_dict"]
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def _cli(config_file: Path, checkpoint_dir: Path, result: Path, *extra: str) -> list:
    return [sys.executable, str(REPO_DIR / "run_recbole_llmrec.py"), "--model=LLMRec",
            "--dataset=tiny_mixed", f"--config_files={config_file}",
            f"--checkpoint_dir={checkpoint_dir}", f"--result_file={result}", *extra]


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path, tiny_lms):
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(_config(tiny_lms["opt"], tmp_path / "unused")))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    ref_out = tmp_path / "reference.json"
    done = subprocess.run(_cli(config_file, tmp_path / "ref", ref_out), cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]

    out, saved = tmp_path / "resumed.json", tmp_path / "killed"
    proc = subprocess.Popen(_cli(config_file, saved, out), cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (saved / LAST).exists():  # written at the start of epoch 1: kill mid-epoch
        assert proc.poll() is None and time.monotonic() < deadline, "no last checkpoint appeared"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert not out.exists()
    interrupted = torch.load(saved / LAST, weights_only=True)
    assert not interrupted["finished"] and interrupted["epoch"] < EPOCHS - 1

    resumed = subprocess.run(_cli(config_file, saved, out, "--resume"), cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    reference, result = json.loads(ref_out.read_text()), json.loads(out.read_text())
    _assert_same_results(reference, result)
    assert _same_weights(str(tmp_path / "ref" / LAST), str(saved / LAST))  # final weights
    assert _same_weights(reference["checkpoint"], result["checkpoint"])  # best weights
    finished = torch.load(saved / LAST, weights_only=True)
    assert finished["finished"] and finished["epoch"] == EPOCHS - 1


def test_interrupt_in_process_then_resume(tmp_path, tiny_lms, monkeypatch):
    """A KeyboardInterrupt (SIGINT) mid-run loses at most the current epoch."""
    reference = run("LLMRec", "tiny_mixed", None, _config(tiny_lms["opt"], tmp_path / "ref"))

    from recbole_llmrec.runs.trainer import LLMRecTrainer

    original = LLMRecTrainer._epoch_train_data

    def interrupt_at_epoch_2(self, train_data, epoch_idx):
        if epoch_idx == 2:
            raise KeyboardInterrupt
        return original(self, train_data, epoch_idx)

    config = _config(tiny_lms["opt"], tmp_path / "saved")
    with monkeypatch.context() as patch:
        patch.setattr(LLMRecTrainer, "_epoch_train_data", interrupt_at_epoch_2)
        with pytest.raises(KeyboardInterrupt):
            run("LLMRec", "tiny_mixed", None, config)
    last = torch.load(tmp_path / "saved" / LAST, weights_only=True)
    assert last["epoch"] == 1 and not last["finished"]
    assert {"state_dict", "optimizer", "rng", "train_generator", "best_checkpoint",
            "best_valid_result", "cur_step", "best_valid_score"} <= set(last)

    result = run("LLMRec", "tiny_mixed", None, config, resume=True)
    _assert_same_results(reference, result)
    assert _same_weights(str(tmp_path / "ref" / LAST), str(tmp_path / "saved" / LAST))

    # resuming a finished run trains nothing and reports the same result
    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(LLMRecTrainer, "_train_epoch", no_training)
    again = run("LLMRec", "tiny_mixed", None, config, resume=True)
    _assert_same_results(reference, again)


def test_same_seed_same_metrics(tmp_path, tiny_lms):
    # a deep cut-off, so that a tiny random model's metrics are not all zero
    first = run("LLMRec", "tiny_mixed", None,
                _config(tiny_lms["opt"], tmp_path / "a", epochs=2, topk=[10, 200]))
    second = run("LLMRec", "tiny_mixed", None,
                 _config(tiny_lms["opt"], tmp_path / "b", epochs=2, topk=[10, 200]))
    assert any(value > 0 for value in first["test_result"].values())
    for key in COMPARED:
        assert first[key] == second[key], key
    assert _same_weights(first["checkpoint"], second["checkpoint"])


def test_resume_without_last_checkpoint_starts_afresh(tmp_path, tiny_config_dict, caplog):
    from conftest import TINY_YAML

    with caplog.at_level("WARNING"):
        result = run("Pop", "tiny_mixed", [str(TINY_YAML)], tiny_config_dict, resume=True)
    assert "starting from scratch" in caplog.text
    assert result["test_result"]
    with pytest.raises(FileNotFoundError, match="no-such.pth"):
        run("Pop", "tiny_mixed", [str(TINY_YAML)], tiny_config_dict,
            resume_from=str(tmp_path / "no-such.pth"))


def test_resume_refuses_another_models_checkpoint(tmp_path, tiny_config_dict):
    from conftest import TINY_YAML

    result = run("Pop", "tiny_mixed", [str(TINY_YAML)], tiny_config_dict)
    with pytest.raises(ValueError, match="written for model 'Pop'"):
        run("SASRec", "tiny_mixed", [str(TINY_YAML)], tiny_config_dict,
            resume_from=result["checkpoint"])


def test_last_checkpoint_of_recbole_models_loads_weights_only(tmp_path, tiny_config_dict):
    from conftest import TINY_YAML

    result = run("SASRec", "tiny_mixed", [str(TINY_YAML)], {**tiny_config_dict, "epochs": 2,
                                                              "run_name": "my run/1"})
    last = Path(tiny_config_dict["checkpoint_dir"]) / "my_run_1-last.pth"
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["finished"] and checkpoint["epoch"] == 1
    assert checkpoint["best_checkpoint"] == result["checkpoint"]
    assert isinstance(checkpoint["rng"]["torch"], torch.Tensor)
    assert isinstance(checkpoint["train_generator"], torch.Tensor)


def test_resume_from_pickled_code_is_refused(tmp_path, tiny_config_dict):
    import pickle

    from conftest import TINY_YAML

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.makedirs, (str(marker),))

    evil = tmp_path / "evil.pth"
    torch.save({"config": Evil(), "epoch": 0}, evil)
    with pytest.raises(pickle.UnpicklingError):
        run("Pop", "tiny_mixed", [str(TINY_YAML)], tiny_config_dict, resume_from=str(evil))
    assert not marker.exists()


def test_cli_resume_options(tmp_path):
    from recbole_llmrec.runs.quick_start import main, parse_args

    args, overrides = parse_args(["--resume", "--resume_from=x.pth", "--run_name=a"])
    assert args.resume and args.resume_from == "x.pth" and overrides == {"run_name": "a"}
    with pytest.raises(SystemExit, match="cannot be combined"):
        main(["--evaluate_checkpoint=x.pth", "--resume"])
