"""experiments/common.py: a report names the machine its runs were measured on, not the one that rebuilt it;
options follow the CLI convention (``--key=value`` overrides; ``--set`` warned)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import common

INTEL = {"cpu": "Intel(R) Xeon(R)", "cores": 2, "avx512_bf16": True, "torch": "2.13.0"}
AMD = {"cpu": "AMD EPYC", "cores": 2, "avx512_bf16": False, "torch": "2.13.0"}


def _run(out: Path, name: str, machine=None) -> None:
    result = {"test_result": {"ndcg@10": 0.05, "recall@10": 0.1}, "spec": {"model": "LLMRec"}}
    if machine is not None:
        result["machine"] = machine
    (out / "runs").mkdir(parents=True, exist_ok=True)
    (out / "runs" / f"{name}.json").write_text(json.dumps(result))


def test_report_names_the_runs_machine_when_rebuilt_elsewhere(tmp_path, monkeypatch):
    _run(tmp_path, "a", INTEL)
    _run(tmp_path, "b", INTEL)
    (tmp_path / "runs" / "b.cpu.json").write_text(json.dumps({"cpu_s": 1.0, "wall_s": 2.0}))  # no run
    (tmp_path / "runs" / "x-size.json").write_text(json.dumps({"users": 3}))  # no run either
    monkeypatch.setattr(common, "cpu_kind", lambda: AMD)
    common.write_report(tmp_path, "T", "body", [{"x": 1}], {})
    md = (tmp_path / "results.md").read_text()
    assert "Runs measured on: Intel(R) Xeon(R), 2 cores, avx512_bf16: True" in md
    assert "AMD" not in md
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["run_machines"] == {"machines": [INTEL], "runs": 2, "unrecorded": 0}


def test_report_says_which_runs_have_no_recorded_machine(tmp_path, monkeypatch):
    _run(tmp_path, "old")
    _run(tmp_path, "new", INTEL)
    monkeypatch.setattr(common, "cpu_kind", lambda: AMD)
    common.write_report(tmp_path, "T", "body", [], {})
    md = (tmp_path / "results.md").read_text()
    assert "Report built on: AMD EPYC" in md
    assert "1 of 2 runs were measured before runs kept their machine" in md
    assert "The other runs were measured on: Intel(R) Xeon(R)" in md


@pytest.mark.parametrize("machines", [[INTEL, AMD]])
def test_report_lists_every_machine_of_its_runs(tmp_path, monkeypatch, machines):
    for i, machine in enumerate(machines):
        _run(tmp_path, f"r{i}", machine)
    monkeypatch.setattr(common, "cpu_kind", lambda: AMD)
    common.write_report(tmp_path, "T", "body", [], {})
    md = (tmp_path / "results.md").read_text()
    assert "Runs measured on: Intel(R) Xeon(R)" in md and "; AMD EPYC" in md


def test_options_take_key_value_overrides_and_warn_on_set(tmp_path):
    parser = common.base_parser("q", "doc")
    args = common.parse_args(parser, ["--output", str(tmp_path), "--epochs=3", "--learning_rate=1e-4"])
    assert common.overrides(args) == {"epochs": 3, "learning_rate": 1e-4}
    with pytest.warns(DeprecationWarning, match="--set epochs=2 is deprecated.*--epochs=2"):
        args = common.parse_args(parser, ["--set", "epochs=2", "--report-only"])
    assert common.overrides(args) == {"epochs": 2} and args.report_only
    spec = common.spec(args, "r", "SASRec", "d", task="train", hidden_size=8)
    assert spec.config == {"epochs": 2, "data_path": args.data_path, "hidden_size": 8} and spec.seed == 2020


def test_an_existing_report_is_not_replaced(tmp_path):
    (tmp_path / "results.json").write_text("{}")
    with pytest.raises(FileExistsError, match="--overwrite"):
        common.prepare_output(str(tmp_path), overwrite=False)
    assert common.prepare_output(str(tmp_path), overwrite=True) == tmp_path
