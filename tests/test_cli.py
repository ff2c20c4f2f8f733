"""The CLI: RecBole baselines through our entry point, the result file, argument parsing."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from recbole_llmrec.config.overrides import parse_config_overrides
from recbole_llmrec.runs.quick_start import main, run
from conftest import TINY_YAML

REPO = Path(__file__).resolve().parent.parent
METRICS = {f"{m}@{k}" for m in ("recall", "ndcg", "mrr", "hit") for k in (10, 20)}


def test_result_file_has_contract_keys(tmp_path, tiny_config_dict):
    out = tmp_path / "pop.json"
    result = run("Pop", "tiny_mixed", [str(TINY_YAML)], tiny_config_dict, result_file=str(out))
    written = json.loads(out.read_text())
    for key in ("model", "dataset", "best_valid_result", "test_result", "wall_time_s"):
        assert key in written
    assert written["model"] == "Pop" and written["dataset"] == "tiny_mixed"
    assert set(written["test_result"]) == METRICS
    assert written["test_result"] == result["test_result"]
    assert written["wall_time_s"] > 0


def test_result_file_not_overwritten_without_flag(tmp_path, tiny_config_dict):
    out = tmp_path / "r.json"
    out.write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        run("Pop", "tiny_mixed", [str(TINY_YAML)], tiny_config_dict, result_file=str(out))
    assert out.read_text() == "mine"
    run("Pop", "tiny_mixed", [str(TINY_YAML)], tiny_config_dict, result_file=str(out),
        overwrite=True)
    assert json.loads(out.read_text())["model"] == "Pop"


@pytest.mark.parametrize("model", ["SASRec", "GRU4Rec", "BERT4Rec"])
def test_recbole_baselines_run_through_cli(tmp_path, tiny_config_dict, model, capsys):
    out = tmp_path / f"{model}.json"
    argv = [f"--model={model}", "--dataset=tiny_mixed", f"--config_files={TINY_YAML}",
            f"--result_file={out}"] + [f"--{k}={v}" for k, v in tiny_config_dict.items()]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert result["model"] == model
    assert all(0.0 <= v <= 1.0 for v in result["test_result"].values())
    # the end-of-run summary: the test metrics of the result file, and where things went
    summary = capsys.readouterr().out
    assert f"== {model} on tiny_mixed ==" in summary
    overall = next(line.split() for line in summary.splitlines() if line.strip().startswith("overall"))
    assert overall[1:] == [f"{result['test_result'][m]:.4f}" for m in ("ndcg@10", "recall@10")]
    assert f"result file: {out}" in summary and f"checkpoint:  {result['checkpoint']}" in summary


def test_overrides_are_yaml_typed():
    parsed = parse_config_overrides(
        ["--epochs=3", "--learning_rate=1e-4", "--topk=[5,10]", "--show_progress=false",
         "--eval_args={'mode': 'full'}", "--llm_path=some/folder"]
    )
    assert parsed == {"epochs": 3, "learning_rate": 1e-4, "topk": [5, 10],
                      "show_progress": False, "eval_args": {"mode": "full"},
                      "llm_path": "some/folder"}


def test_bad_override_is_a_clear_error():
    with pytest.raises(SystemExit, match="--key=value"):
        parse_config_overrides(["epochs"])


def test_script_runs_from_another_directory(tmp_path, tiny_config_dict):
    out = tmp_path / "pop.json"
    cmd = [sys.executable, str(REPO / "run_recbole_llmrec.py"), "--model=Pop",
           "--dataset=tiny_mixed", f"--config_files={TINY_YAML}", f"--result_file={out}"]
    cmd += [f"--{k}={v}" for k, v in tiny_config_dict.items()]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.read_text())["model"] == "Pop"


def test_old_spellings_warn_and_parse():
    """One convention: snake_case flags and --key=value; dashed flags and --set still work, with a warning."""
    from recbole_llmrec.runs.quick_start import parse_args

    with pytest.warns(DeprecationWarning) as warned:
        args, overrides = parse_args(["--model=Pop", "--result-file=r.json", "--set", "epochs=2", "--world-size=1"])
    assert args.result_file == "r.json" and args.world_size == 1 and overrides == {"epochs": 2}
    assert {str(w.message).split()[0] for w in warned} == {"--result-file", "--set", "--world-size"}
    args, overrides = parse_args(["--model=Pop", "--result_file=r.json", "--epochs=2"])
    assert args.result_file == "r.json" and overrides == {"epochs": 2}
