"""run_benchmark.py: report files, resume, mean ± std over seeds, the manifest guard."""
import csv
import json
import os
from pathlib import Path

import pytest

from recbole_llmrec.comparison import BenchmarkSpec, run_benchmark
from recbole_llmrec.comparison.aggregate import NO_PER_DOMAIN, aggregate, mean_std
from recbole_llmrec.comparison.cli import main
from recbole_llmrec.comparison.manifest import BenchmarkDirError
from recbole_llmrec.comparison.runner import MissingPerDomainError
from recbole_llmrec.runs.quick_start import run
from conftest import TINY_YAML

MODELS = ["SASRec", "Pop"]  # deliberately not alphabetical: the report keeps this order


class CountingRun:
    """The real run(), counting calls per (model, seed)."""

    def __init__(self):
        self.calls = []

    def __call__(self, model, dataset, config_file_list=None, config_dict=None, **kwargs):
        self.calls.append((model, config_dict["seed"]))
        return run(model, dataset, config_file_list, config_dict, **kwargs)


def _spec(tiny_config_dict, seeds=(), **extra):
    overrides = {k: v for k, v in tiny_config_dict.items() if k != "seed"}
    overrides.update(extra)
    return BenchmarkSpec("tiny_mixed", MODELS, seeds, [str(TINY_YAML)], overrides)


def test_reports_list_every_model_with_per_domain(tmp_path, tiny_config_dict):
    out = tmp_path / "bench"
    argv = ["--dataset=tiny_mixed", f"--models={','.join(MODELS)}", f"--config_files={TINY_YAML}",
            f"--output={out}"] + [f"--{k}={v}" for k, v in tiny_config_dict.items()]
    assert main(argv) == 0
    for name in ("results.md", "results.csv", "results.json", "results.png", "manifest.json"):
        assert (out / name).is_file(), name
    assert sorted(os.listdir(out / "runs")) == ["Pop__seed2020.json", "SASRec__seed2020.json"]
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    summary = json.loads((out / "results.json").read_text())
    assert summary["models"] == MODELS and summary["seeds"] == [2020]
    assert list(summary["overall"]["test"]) == MODELS
    assert summary["domains"] == ["Beauty", "Toys_and_Games"]
    for domain in summary["domains"]:
        assert list(summary["per_domain"]["test"][domain]) == MODELS
        assert summary["per_domain"]["test"][domain]["SASRec"]["ndcg@10"]["n"] == 1
    assert summary["overall"]["test"]["Pop"]["ndcg@10"]["std"] is None  # one seed

    md = (out / "results.md").read_text()
    assert md.index("| SASRec |") < md.index("| Pop |")
    assert "## Domain `Beauty` (test)" in md and "## Domain `Toys_and_Games` (test)" in md
    assert "ndcg@10" in md and "wall time (s)" in md and "±" not in md

    # popularity buckets of the target item (properties/overall.yaml's popularity_buckets)
    buckets = summary["buckets"]
    assert buckets and set(buckets) <= {"0", "1-4", "5-19", "20+"}
    assert buckets == sorted(buckets, key=lambda b: ["0", "1-4", "5-19", "20+"].index(b))
    for bucket in buckets:
        assert list(summary["per_popularity"]["test"][bucket]) == MODELS
        assert f"## Target item with `{bucket}` training interactions (test)" in md

    rows = list(csv.DictReader((out / "results.csv").open()))
    test_rows = [(r["domain"], r["popularity"], r["model"]) for r in rows if r["split"] == "test"]
    assert test_rows == ([(d, "", m) for d in ("overall", "Beauty", "Toys_and_Games") for m in MODELS]
                         + [("", b, m) for b in buckets for m in MODELS])
    assert {"ndcg@10", "ndcg@10_std", "recall@10", "wall_time_s"} <= set(rows[0])
    # a bucket may hold no row of one split (empty cells); overall and domains always do
    assert all(r["ndcg@10"] for r in rows if not r["popularity"])
    assert all(0.0 <= float(r["ndcg@10"]) <= 1.0 for r in rows if r["ndcg@10"])


def test_resume_reruns_only_missing_runs(tmp_path, tiny_config_dict, caplog):
    out = str(tmp_path / "bench")
    first = CountingRun()
    run_benchmark(_spec(tiny_config_dict), out, run_fn=first)
    assert first.calls == [("SASRec", 2020), ("Pop", 2020)]
    kept = Path(out, "runs", "Pop__seed2020.json")
    kept_bytes = kept.read_bytes()
    os.remove(Path(out, "runs", "SASRec__seed2020.json"))
    os.remove(Path(out, "results.md"))

    second = CountingRun()
    with caplog.at_level("INFO", logger="recbole_llmrec.comparison.runner"):
        summary = run_benchmark(_spec(tiny_config_dict), out, run_fn=second)
    assert second.calls == [("SASRec", 2020)]
    assert "Pop seed=2020: skip, already done" in caplog.text
    assert kept.read_bytes() == kept_bytes
    assert Path(out, "results.md").is_file()  # aggregates rebuilt from runs/
    assert summary["models"] == MODELS

    third = CountingRun()
    run_benchmark(_spec(tiny_config_dict), out, run_fn=third)
    assert third.calls == []


def test_two_seeds_give_mean_and_std(tmp_path, tiny_config_dict):
    out = tmp_path / "bench"
    spec = BenchmarkSpec("tiny_mixed", ["Pop"], [2020, 2021], [str(TINY_YAML)],
                         {k: v for k, v in tiny_config_dict.items() if k != "seed"})
    summary = run_benchmark(spec, str(out))
    stat = summary["overall"]["test"]["Pop"]["ndcg@10"]
    assert stat["n"] == 2 and len(stat["values"]) == 2
    assert stat["mean"] == pytest.approx(sum(stat["values"]) / 2)
    assert stat["std"] is not None and stat["std"] >= 0.0
    assert sorted(os.listdir(out / "runs")) == ["Pop__seed2020.json", "Pop__seed2021.json"]
    assert "±" in (out / "results.md").read_text()
    assert "mean ± sample std over seeds" in (out / "results.md").read_text()


def test_mean_std_is_sample_std():
    stat = mean_std([0.1, 0.3])
    assert stat["mean"] == pytest.approx(0.2)
    assert stat["std"] == pytest.approx(0.1414213, rel=1e-5)
    assert mean_std([0.5])["std"] is None


def test_other_config_in_same_dir_is_refused(tmp_path, tiny_config_dict):
    out = str(tmp_path / "bench")
    fake = CountingRun()
    spec = BenchmarkSpec("tiny_mixed", ["Pop"], (), [str(TINY_YAML)],
                         {k: v for k, v in tiny_config_dict.items() if k != "seed"})
    run_benchmark(spec, out, run_fn=fake)
    changed = BenchmarkSpec("tiny_mixed", ["Pop"], (), [str(TINY_YAML)],
                            dict(spec.overrides, topk=[5], valid_metric="NDCG@5"))
    with pytest.raises(BenchmarkDirError, match="different dataset/config.*--overwrite"):
        run_benchmark(changed, out, run_fn=fake)
    assert fake.calls == [("Pop", 2020)]
    run_benchmark(changed, out, overwrite=True, run_fn=fake)
    assert fake.calls == [("Pop", 2020), ("Pop", 2020)]
    summary = json.loads(Path(out, "results.json").read_text())
    assert summary["metrics"] == ["hit@5", "mrr@5", "ndcg@5", "recall@5"]


def test_cli_reports_refusal_as_exit_code(tmp_path, tiny_config_dict, capsys):
    out = tmp_path / "bench"
    (out / "runs").mkdir(parents=True)
    (out / "runs" / "Pop__seed2020.json").write_text("{}")
    argv = ["--dataset=tiny_mixed", "--models=Pop", f"--config_files={TINY_YAML}",
            f"--output={out}"] + [f"--{k}={v}" for k, v in tiny_config_dict.items()]
    assert main(argv) == 2
    assert "without a manifest.json" in capsys.readouterr().out


def _fake_result(model, per_domain=True):
    result = {"model": model, "dataset": "d", "best_valid_score": 0.1, "wall_time_s": 1.0,
              "best_valid_result": {"ndcg@10": 0.1}, "test_result": {"ndcg@10": 0.2}}
    if per_domain:
        result["per_domain"] = {"valid": {"A": {"ndcg@10": 0.1}}, "test": {"A": {"ndcg@10": 0.3}}}
    return result


def test_no_domain_field_says_no_per_domain_metrics(tmp_path):
    records = [{"model": "Pop", "seed": 1, "result": _fake_result("Pop", per_domain=False)}]
    summary = aggregate(records, ["Pop"], [1], dataset="d")
    assert summary["per_domain"] is None and summary["per_domain_note"] == NO_PER_DOMAIN

    from recbole_llmrec.comparison.plot import write_plot
    from recbole_llmrec.comparison.report import write_reports

    write_reports(summary, str(tmp_path))
    write_plot(summary, str(tmp_path / "results.png"))
    assert "no per-domain metrics" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "results.png").stat().st_size > 0


def test_missing_per_domain_with_domain_field_is_an_error(tmp_path, tiny_config_dict):
    def no_domains(model, dataset, config_file_list=None, config_dict=None, **kwargs):
        return _fake_result(model, per_domain=False)

    with pytest.raises(MissingPerDomainError, match="domain_field='domain'"):
        run_benchmark(_spec(tiny_config_dict), str(tmp_path / "b"), run_fn=no_domains)
    assert os.listdir(tmp_path / "b" / "runs") == []

    # Without a domain field the same result is fine and the report says so.
    summary = run_benchmark(_spec(tiny_config_dict, domain_field=None),
                            str(tmp_path / "c"), run_fn=no_domains)
    assert summary["per_domain"] is None
    assert "no per-domain metrics" in (tmp_path / "c" / "results.md").read_text()


def test_cli_passes_config_keys_and_does_not_abbreviate():
    from recbole_llmrec.comparison.cli import parse_args

    args, spec = parse_args(["--output=o", "--models=Pop, SASRec", "--seed=7", "--epochs=2",
                             "--learning_rate=1e-4"])
    assert spec.seeds == [] and spec.models == ["Pop", "SASRec"]
    assert spec.overrides == {"seed": 7, "epochs": 2, "learning_rate": 1e-4}
    _, spec = parse_args(["--output=o", "--seeds=1,2"])
    assert spec.seeds == [1, 2]


def test_cli_old_spellings_warn_and_parse():
    from recbole_llmrec.comparison.cli import parse_args

    with pytest.warns(DeprecationWarning, match="--config-files is deprecated"):
        args, spec = parse_args(["--output=o", "--config-files=a.yaml", "--set=epochs=2"])
    assert spec.config_files == ["a.yaml"] and spec.overrides == {"epochs": 2}
