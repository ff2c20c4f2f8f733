"""run_hyper.py: params files, RecBole's HyperTuning through our run(), Ray Tune."""
import json
from pathlib import Path

import pytest
import yaml

from recbole_llmrec.config.plugin_config import build_config, properties_dir
from recbole_llmrec.hyper import (
    TuningError, TuningJob, cli, main, parse_params_file, trials_table, tune_model,
)
from recbole_llmrec.hyper.cli import parse_args
from conftest import TINY_YAML

REPO = Path(__file__).resolve().parent.parent


def _space(tmp_path, text):
    path = tmp_path / "space.hyper"
    path.write_text(text)
    return str(path)


def _job(model, tiny_config_dict):
    return TuningJob(model, "tiny_mixed", [str(TINY_YAML)], dict(tiny_config_dict))


def test_params_file_with_comments(tmp_path):
    params = parse_params_file(_space(tmp_path, (
        "# a comment line\n\n"
        "learning_rate choice [5e-5, 1e-4]   # trailing comment\n"
        "dropout uniform 0.1,0.5\n"
        "lr loguniform -9 -6\n"
        "hidden quniform 32,128,32\n"
    )))
    assert [(p.name, p.kind, p.args) for p in params] == [
        ("learning_rate", "choice", (5e-5, 1e-4)),
        ("dropout", "uniform", (0.1, 0.5)),
        ("lr", "loguniform", (-9.0, -6.0)),
        ("hidden", "quniform", (32.0, 128.0, 32.0)),
    ]


@pytest.mark.parametrize("text, message", [
    ("lr choice", "expected 'name kind values'"),
    ("lr normal 0,1", "unknown kind"),
    ("lr choice [1,", "literal list"),
    ("lr uniform 1", "takes 2 numbers"),
    ("lr uniform 2,1", "low < high"),
    ("lr choice [1]\nlr choice [2]", "given twice"),
    ("# only comments\n", "no parameters"),
])
def test_bad_params_file_is_a_clear_error(tmp_path, text, message):
    with pytest.raises(TuningError, match=message):
        parse_params_file(_space(tmp_path, text))


def test_shipped_search_spaces_use_real_keys():
    hyper = properties_dir() / "hyper"
    sasrec = {p.name for p in parse_params_file(str(hyper / "SASRec.hyper"))}
    assert sasrec == {"learning_rate", "hidden_dropout_prob", "attn_dropout_prob",
                      "MAX_ITEM_LIST_LENGTH", "hidden_size"}
    config = build_config("SASRec", "tiny_mixed", [str(TINY_YAML)], {"data_path": "unused"})
    assert all(config[name] is not None for name in sasrec)

    known = set(yaml.safe_load((properties_dir() / "model" / "LLMRec.yaml").read_text()))
    trainer_src = (REPO / "recbole_llmrec" / "runs" / "trainer.py").read_text()
    spaces = {"LLMRec": {"learning_rate", "seq_dropout", "seq_hidden_size", "seq_layers",
                         "id_dropout", "max_history", "epochs"},
              "LLMRec-sentence": {"learning_rate", "max_history", "max_title_tokens",
                                  "train_prefixes_per_user", "train_batch_size"}}
    for name, keys in spaces.items():
        params = parse_params_file(str(hyper / f"{name}.hyper"))
        assert {p.name for p in params} == keys, name
        for p in params:
            assert p.name in known or f'"{p.name}"' in trainer_src, (name, p.name)
        layer = yaml.safe_load((properties_dir() / "model" / f"{name}.yaml").read_text())
        max_history = next(p for p in params if p.name == "max_history")
        assert max(max_history.args) <= layer["MAX_ITEM_LIST_LENGTH"], name  # the model's layer


def test_hyperopt_exhaustive_two_trials_sasrec(tmp_path, tiny_config_dict):
    out = tmp_path / "hyper.json"
    space = _space(tmp_path, "learning_rate choice [0.001,0.01]  # two points\n")
    summary = tune_model(_job("SASRec", tiny_config_dict), space, max_evals=10,
                         algo="exhaustive", output=str(out))
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(summary))
    assert written["model"] == "SASRec" and written["tool"] == "hyperopt"
    assert written["valid_metric"] == "NDCG@10" and written["valid_score_bigger"] is True
    trials = written["trials"]
    assert sorted(t["params"]["learning_rate"] for t in trials) == [0.001, 0.01]
    assert all(t["error"] is None and 0.0 <= t["best_valid_score"] <= 1.0 for t in trials)
    assert all(set(t["test_result"]) >= {"ndcg@10", "recall@10"} for t in trials)
    best = max(trials, key=lambda t: (t["best_valid_score"], -t["index"]))
    assert written["best_params"] == best["params"]
    assert written["best_valid_score"] == best["best_valid_score"]


class FakeRun:
    """Scores trials without training: valid score = learning_rate; lr 0.5 fails."""

    def __init__(self):
        self.configs = []

    def __call__(self, model, dataset, config_file_list=None, config_dict=None, **kwargs):
        self.configs.append(dict(config_dict))
        lr = config_dict["learning_rate"]
        if lr == 0.5:
            raise RuntimeError("diverged")
        return {"model": model, "best_valid_score": lr, "best_valid_result": {"ndcg@10": lr},
                "test_result": {"ndcg@10": lr / 2}, "wall_time_s": 0.1}


def test_failed_trial_is_recorded_and_search_goes_on(tmp_path, tiny_config_dict):
    fake = FakeRun()
    space = _space(tmp_path, "learning_rate choice [0.1,0.5,0.3]\n")
    summary = tune_model(_job("Pop", tiny_config_dict), space, max_evals=3, run_fn=fake)
    assert len(summary["trials"]) == 3
    failed = [t for t in summary["trials"] if t["error"]]
    assert len(failed) == 1 and "diverged" in failed[0]["error"]
    assert summary["best_params"] == {"learning_rate": 0.3}
    assert summary["best_test_result"] == {"ndcg@10": 0.15}
    assert all(c["epochs"] == 1 for c in fake.configs)  # fixed overrides reach every trial
    assert "<- best" in trials_table(summary["trials"], 2) and "failed" in trials_table(
        summary["trials"], None)


def test_max_evals_caps_exhaustive_and_search_is_seeded(tmp_path, tiny_config_dict):
    space = _space(tmp_path, "learning_rate choice [0.1,0.2,0.3,0.4]\n")
    orders = []
    for _ in range(2):
        fake = FakeRun()
        summary = tune_model(_job("Pop", tiny_config_dict), space, max_evals=2, run_fn=fake)
        assert len(summary["trials"]) == 2
        orders.append([t["params"]["learning_rate"] for t in summary["trials"]])
    assert orders[0] == orders[1]


def test_random_and_bayes_sample_continuous_spaces(tmp_path, tiny_config_dict):
    space = _space(tmp_path, "learning_rate loguniform -9.2,-2.3\n")
    for algo in ("random", "bayes"):
        summary = tune_model(_job("Pop", tiny_config_dict), space, max_evals=3, algo=algo,
                             run_fn=FakeRun())
        lrs = [t["params"]["learning_rate"] for t in summary["trials"]]
        assert len(lrs) == 3 and all(1e-4 < lr < 0.11 for lr in lrs)


def test_exhaustive_refuses_continuous_space(tmp_path, tiny_config_dict):
    space = _space(tmp_path, "learning_rate uniform 0.001,0.01\n")
    with pytest.raises(TuningError, match="choice parameters only"):
        tune_model(_job("Pop", tiny_config_dict), space, max_evals=2, run_fn=FakeRun())


def test_cli_writes_result_and_keeps_existing_file(tmp_path, tiny_config_dict, capsys):
    out = tmp_path / "pop.json"
    space = _space(tmp_path, "learning_rate choice [0.001,0.01]\n")
    argv = ["--model=Pop", "--dataset=tiny_mixed", f"--params_file={space}", "--max_evals=2",
            f"--config_files={TINY_YAML}", f"--output_file={out}"]
    argv += [f"--{k}={v}" for k, v in tiny_config_dict.items()]
    assert main(argv) == 0
    assert len(json.loads(out.read_text())["trials"]) == 2
    out.write_text("mine")
    capsys.readouterr()
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--overwrite" in err[0]
    assert out.read_text() == "mine"


def test_cli_old_spellings_warn_and_work():
    """RecBole's --output_file; the old --output, dashed flags and --set still parse, with a warning."""
    with pytest.warns(DeprecationWarning) as warned:
        args, overrides = parse_args(["--model=Pop", "--params_file=p", "--output=o.json", "--max-evals=3",
                                      "--set", "epochs=2"])
    assert args.output_file == "o.json" and args.max_evals == 3 and overrides == {"epochs": 2}
    assert {str(w.message).split()[0] for w in warned} == {"--output", "--max-evals", "--set"}


def test_ray_tune_two_trials(tmp_path, tiny_config_dict):
    pytest.importorskip("ray.tune", reason="ray[tune] is not installed (pip install -e '.[ray]')")
    pytest.importorskip("pyarrow", reason="Ray Tune 2.6 needs pyarrow to store results")
    out = tmp_path / "ray.json"
    space = _space(tmp_path, "learning_rate choice [0.001,0.01]\n")
    summary = tune_model(_job("Pop", tiny_config_dict), space, max_evals=2, tool="ray",
                         output=str(out), ray_dir=str(tmp_path / "ray_results"))
    written = json.loads(out.read_text())
    assert written["tool"] == "ray" and written == json.loads(json.dumps(summary))
    trials = written["trials"]
    assert [t["params"]["learning_rate"] for t in trials] == [0.001, 0.01]
    assert all(t["error"] is None and 0.0 <= t["best_valid_score"] <= 1.0 for t in trials)
    assert all("ndcg@10" in t["test_result"] for t in trials)
    assert written["best_params"] in [t["params"] for t in trials]


class RecordingRun(FakeRun):
    """FakeRun that also keeps run()'s keyword arguments (the launch options)."""

    def __init__(self):
        super().__init__()
        self.kwargs = []

    def __call__(self, model, dataset, config_file_list=None, config_dict=None, **kwargs):
        self.kwargs.append(kwargs)
        return super().__call__(model, dataset, config_file_list, config_dict)


def test_ray_trial_runs_ddp_on_its_gpus(tmp_path, tiny_config_dict):
    from recbole_llmrec.hyper.ray_backend import ray_trial

    fake = RecordingRun()
    job = TuningJob("Pop", "tiny_mixed", [str(TINY_YAML)], dict(tiny_config_dict), nproc=2)
    report = ray_trial({"learning_rate": 0.01}, job, str(tmp_path), "trial_1", [3, 5], fake)
    assert report["score"] == 0.01 and report["run_result"]["test_result"] == {"ndcg@10": 0.005}
    assert fake.configs[0]["gpu_id"] == "3,5"  # Ray's GPUs, not RecBole's default "0"
    assert fake.configs[0]["checkpoint_dir"] == str(tmp_path / "trial_1")
    launch = fake.kwargs[0]
    assert launch["nproc"] == 2 and launch["ip"] == "127.0.0.1" and launch["port"] > 0

    single = TuningJob("Pop", "tiny_mixed", [str(TINY_YAML)], dict(tiny_config_dict))
    ray_trial({"learning_rate": 0.01}, single, str(tmp_path), "trial_2", [], fake)
    assert fake.configs[1]["gpu_id"] == "" and fake.kwargs[1] == {}  # CPU, one process


def test_hyperopt_trials_pass_nproc_to_run(tmp_path, tiny_config_dict):
    fake = RecordingRun()
    job = TuningJob("Pop", "tiny_mixed", [str(TINY_YAML)], dict(tiny_config_dict), nproc=2)
    space = _space(tmp_path, "learning_rate choice [0.01,0.02]\n")
    summary = tune_model(job, space, max_evals=2, run_fn=fake)
    assert summary["nproc"] == 2 and len(fake.kwargs) == 2
    assert all(k["nproc"] == 2 and k["port"] > 0 for k in fake.kwargs)


def test_nproc_checks(tmp_path, tiny_config_dict):
    space = _space(tmp_path, "learning_rate choice [0.01]\n")
    job = TuningJob("Pop", "tiny_mixed", [str(TINY_YAML)], dict(tiny_config_dict), nproc=4)
    with pytest.raises(TuningError, match="--gpus_per_trial >= 4"):
        tune_model(job, space, max_evals=1, tool="ray", gpus_per_trial=2)
    job0 = TuningJob("Pop", "tiny_mixed", [str(TINY_YAML)], dict(tiny_config_dict), nproc=0)
    with pytest.raises(TuningError, match="--nproc must be >= 1"):
        tune_model(job0, space, max_evals=1)


def test_cli_nproc_and_resources():
    from recbole_llmrec.hyper import parse_args

    args, overrides = parse_args(["--model=LLMRec", "--params_file=x.hyper", "--tool=ray",
                                  "--nproc=2", "--cpus_per_trial=2", "--gpus_per_trial=2",
                                  "--epochs=1"])
    assert (args.nproc, args.cpus_per_trial, args.gpus_per_trial) == (2, 2.0, 2.0)
    assert overrides == {"epochs": 1}


def test_ray_trial_as_two_process_ddp_job(tmp_path, tiny_config_dict):
    """A real Ray trial that spawns a 2-process gloo job (about 25 s on 2 CPU cores)."""
    pytest.importorskip("ray.tune", reason="ray[tune] is not installed (pip install -e '.[ray]')")
    pytest.importorskip("pyarrow", reason="Ray Tune 2.6 needs pyarrow to store results")
    space = _space(tmp_path, "learning_rate choice [0.001]\n")
    job = TuningJob("SASRec", "tiny_mixed", [str(TINY_YAML)],
                    {**tiny_config_dict, "train_batch_size": 64}, nproc=2)
    summary = tune_model(job, space, max_evals=1, tool="ray", cpus_per_trial=2,
                         ray_dir=str(tmp_path / "ray_results"))
    (trial,) = summary["trials"]
    assert trial["error"] is None and summary["nproc"] == 2
    assert set(trial["test_result"]) >= {"ndcg@10", "recall@20"}


def test_trials_are_scored_with_their_fitted_ranking_weights():
    from recbole_llmrec.hyper.trials import best_trial, trial_record, trial_score

    calibrated = {"best_valid_score": 0.050, "calibration": {"valid_score": 0.055}}
    plain = {"best_valid_score": 0.052}
    assert trial_score(calibrated) == 0.055
    assert trial_score(plain) == 0.052
    trials = [trial_record(0, {"lr": 1}, plain), trial_record(1, {"lr": 2}, calibrated)]
    assert best_trial(trials, bigger=True)["index"] == 1
    assert trials[1]["calibration"] == {"valid_score": 0.055}
