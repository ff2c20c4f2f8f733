"""DDP: 2-process gloo training of LLMRec (spawned, or started by torchrun) equals a
single-process evaluation, its calibration included; launch helpers and torchrun's environment."""
import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from model_helpers import REPO_DIR, SEQUENCE_SETTINGS, TINY_DATASET, base_config_dict

from recbole_llmrec import distributed
from recbole_llmrec.distributed.torchrun import TORCHRUN_VARIABLES
from recbole_llmrec.evaluation.calibration import active_keys, calibrate, check_grid
from recbole_llmrec.runs.quick_start import cli, parse_args, run


def _single_process_eval(config_dict, checkpoint):
    """Valid/test metrics (and per-domain test metrics) of ``checkpoint`` in this process."""
    from recbole_llmrec.runs.pipeline import build

    built = build("LLMRec", TINY_DATASET, None, config_dict, init_logging=False)
    assert built.config["single_spec"]
    model, trainer, valid, test = built.model, built.trainer, built.valid_data, built.test_data
    test_result = trainer.evaluate(test, load_best_model=True, model_file=checkpoint)
    test_per_domain = trainer.last_per_domain
    # the run's best_valid_result was scored during training, with the configured scoring values
    fitted_values = model.scoring.values()
    model.scoring.set_values({key: built.config[key] for key in fitted_values})
    valid_result = trainer.evaluate(valid, load_best_model=False)
    digest = distributed.state_digest(model)
    # the checkpoint's weights calibrated again, here on every validation user (None: no term to fit)
    grid = check_grid(built.config["calibration_grid"], model.scoring.values())
    active = active_keys(model, list(grid))
    fitted = calibrate(model, valid, {k: grid[k] for k in active}, built.config["valid_metric"],
                       max_users=built.config["calibration_max_users"]) if active else None
    return {
        "digest": digest,
        "test": dict(test_result),
        "valid": dict(valid_result),
        "test_per_domain": test_per_domain,
        "calibration": fitted,
    }


def _close(a, b, tol=1e-4):
    assert set(a) == set(b)
    for key in a:
        assert abs(float(a[key]) - float(b[key])) <= tol, (key, a[key], b[key])


def _ddp_config_dict(tmp_path, tiny_lms, **overrides):
    """One epoch of LLMRec on the tiny dataset, sized so that DDP pads one rank."""
    return base_config_dict(
        tiny_lms["bert"], **overrides, checkpoint_dir=str(tmp_path / "saved"), epochs=1,
        train_batch_size=16, eval_batch_size=16, train_prefixes_per_user=2,
        # 29 users: the DistributedSampler pads rank 1 with a repeat of user 0 (counted once)
        user_inter_num_interval="[12,inf)",
        topk=[10, 300],  # a random tiny LM rarely hits the top 10: compare non-zero numbers too
    )


def _check_two_rank_result(result, config_dict):
    """A 2-rank gloo result: equal weights on both ranks, equal to its checkpoint, metrics equal to
    a single-process evaluation of that checkpoint, and ranking weights calibrated as one process would."""
    info = result["distributed"]
    assert info["world_size"] == 2 and info["backend"] == "gloo"
    digests = info["weight_digests"]
    assert len(digests) == 2 and digests[0] == digests[1], "ranks ended with different weights"

    single = _single_process_eval(config_dict, result["checkpoint"])
    assert single["test"]["hit@300"] > 0 and single["valid"]["mrr@300"] > 0
    # one epoch: the best checkpoint holds the weights both ranks trained
    assert single["digest"] == digests[0]
    _close(result["test_result"], single["test"])
    _close(result["best_valid_result"], single["valid"])
    # both ranks calibrated on their shards of the validation users, gathered: the values and the
    # score one process fits on every user (the padded repeat of user 0 counted once)
    fitted = single["calibration"]
    assert ("calibration" in result) == (fitted is not None)
    if fitted is not None:
        calibration = result["calibration"]
        assert calibration["users"] == fitted.users == 29
        assert calibration["values"] == fitted.values
        assert abs(calibration["valid_score"] - fitted.score) < 1e-9
    assert set(result["per_domain"]["test"]) == set(single["test_per_domain"]) == {
        "Beauty", "Toys_and_Games"}
    for domain, metrics in single["test_per_domain"].items():
        _close(result["per_domain"]["test"][domain], metrics)


def test_two_process_gloo_training_matches_single_process(tmp_path, tiny_lms):
    """The sequence default (its ranking weights calibrated after training); the torchrun test
    below runs the sentence encoder (the LM in the training graph, the item table sharded)."""
    config_dict = _ddp_config_dict(tmp_path, tiny_lms, **SEQUENCE_SETTINGS)
    out = tmp_path / "ddp.json"
    result = run("LLMRec", TINY_DATASET, config_dict=config_dict, result_file=str(out),
                 nproc=2, ip="127.0.0.1", port=distributed.find_free_port())

    assert json.loads(out.read_text()) == result
    assert "calibration" in result  # the sequence default's title similarity weights were fitted
    _check_two_rank_result(result, config_dict)


def test_torchrun_two_process_gloo_training_matches_single_process(tmp_path, tiny_lms):
    """``torchrun --standalone --nproc_per_node=2 run_recbole_llmrec.py ...``: each process is
    one rank (env:// init, nothing spawned); same result as the spawned job."""
    config_dict = _ddp_config_dict(tmp_path, tiny_lms)
    config_file = tmp_path / "ddp.yaml"
    config_file.write_text(yaml.safe_dump(config_dict))
    out = tmp_path / "torchrun.json"
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARIABLES}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(REPO_DIR / "run_recbole_llmrec.py"), "--model=LLMRec", f"--dataset={TINY_DATASET}",
           f"--config_files={config_file}", f"--result_file={out}"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count(f"LLMRec on {TINY_DATASET}") == 1, proc.stdout  # rank 0's summary

    result = json.loads(out.read_text())
    _check_two_rank_result(result, config_dict)


_TORCHRUN_ENV = {"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2",
                 "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}


def test_torchrun_environment_is_parsed_into_a_rank_config():
    assert distributed.torchrun_environment(_TORCHRUN_ENV) == {
        "rank": 3, "local_rank": 1, "world_size": 4, "local_world_size": 2,
        "master_addr": "10.0.0.1", "master_port": 29500}
    assert distributed.torchrun_rank_config(environ=_TORCHRUN_ENV) == {
        "local_rank": 1, "nproc": 2, "world_size": 4, "offset": 2, "ip": "10.0.0.1",
        "port": 29500, "init_method": "env://"}
    # options equal to torchrun's are accepted
    assert distributed.torchrun_rank_config(2, 4, 2, environ=_TORCHRUN_ENV)["offset"] == 2
    # not torchrun: a variable missing; one rank only: a plain single-process run
    partial = {k: v for k, v in _TORCHRUN_ENV.items() if k != "LOCAL_WORLD_SIZE"}
    assert distributed.torchrun_environment(partial) is None
    assert distributed.torchrun_environment({}) is None
    single = {**_TORCHRUN_ENV, "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1",
              "LOCAL_WORLD_SIZE": "1"}
    assert distributed.torchrun_rank_config(environ=single) is None
    with pytest.raises(ValueError, match="RANK='x' is not an integer"):
        distributed.torchrun_environment({**_TORCHRUN_ENV, "RANK": "x"})
    with pytest.raises(ValueError, match="outside WORLD_SIZE=4"):
        distributed.torchrun_environment({**_TORCHRUN_ENV, "RANK": "4"})


@pytest.mark.parametrize("option, message", [
    ("--nproc=4", "--nproc=4 conflicts with torchrun's --nproc_per_node=2"),
    ("--world_size=8", "--world_size=8 conflicts with torchrun's WORLD_SIZE=4"),
    ("--group_offset=1", "--group_offset=1 conflicts with torchrun's ranks"),
])
def test_launch_options_that_contradict_torchrun_are_a_one_line_error(
        option, message, monkeypatch, capsys):
    for key, value in _TORCHRUN_ENV.items():
        monkeypatch.setenv(key, value)
    assert cli(["--model=Pop", f"--dataset={TINY_DATASET}", option]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: " + message), err
    assert not torch.distributed.is_initialized()


def test_merge_shards_undoes_distributed_sampler_padding():
    from torch.utils.data.distributed import DistributedSampler

    samples = list(range(5))
    shards = [list(DistributedSampler(samples, num_replicas=2, rank=r, shuffle=False))
              for r in range(2)]
    assert shards == [[0, 2, 4], [1, 3, 0]]  # rank 1 repeats sample 0
    rows = [torch.tensor([[10, 1], [12, 1], [14, 1]]), torch.tensor([[11, 1], [13, 1], [10, 1]])]
    merged = distributed.merge_shards(rows, [torch.tensor(s) for s in shards])
    assert merged[:, 0].tolist() == [10, 11, 12, 13, 14]


@pytest.mark.parametrize(
    "nproc, world_size, offset, message",
    [(0, -1, 0, "--nproc must be >= 1"), (2, 3, 2, "outside --world_size=3"),
     (2, -1, 1, "outside --world_size=2")],
)
def test_bad_launch_options_are_value_errors(nproc, world_size, offset, message):
    with pytest.raises(ValueError, match=message):
        distributed.check_launch(nproc, world_size, offset, gpu_id="")


def test_check_launch_defaults_world_size_to_nproc():
    assert distributed.check_launch(4, -1, 0, gpu_id="") == 4
    assert distributed.check_launch(8, 16, 8, gpu_id="0,1,2,3,4,5,6,7") == 16


def test_torchrun_rank_0_claims_the_run_name_for_every_rank(tmp_path):
    from recbole_llmrec.runs.quick_start import _claim_run_name
    from recbole_llmrec.runs.lock import RunLockedError

    config = {"single_spec": False, "checkpoint_dir": str(tmp_path), "run_name": "",
              "model": "LLMRec", "dataset": "tiny_mixed"}
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{distributed.find_free_port()}", rank=0, world_size=1)
    try:
        lock, name = _claim_run_name(config, explicit=False)
        assert name == "LLMRec-tiny_mixed" and lock.held
        with pytest.raises(RunLockedError, match="is in use"):
            _claim_run_name(config, explicit=True)
        other, unique = _claim_run_name(config, explicit=False)  # a default name gives way
        assert unique.startswith("LLMRec-tiny_mixed-") and other.held
        other.release()
        lock.release()
    finally:
        torch.distributed.destroy_process_group()


def test_too_few_gpus_for_torchrun_name_nproc_per_node(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(ValueError, match="torchrun --nproc_per_node=8 processes but gpu_id='0'"):
        distributed.check_launch(8, 8, 0, gpu_id="0", nproc_option="torchrun --nproc_per_node")


def test_cli_parses_recbole_launch_options():
    args, overrides = parse_args(["--model=LLMRec", "--nproc=8", "--world_size=16",
                                  "--ip=10.0.0.1", "--port=29500", "--group_offset=8",
                                  "--epochs=2"])
    assert (args.nproc, args.world_size, args.ip, args.port, args.group_offset) == (
        8, 16, "10.0.0.1", "29500", 8)
    assert overrides == {"epochs": 2}
