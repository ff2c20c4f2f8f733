"""DDP: 2-process gloo training of LLMRec equals a single-process evaluation; launch helpers."""
import json

import pytest
import torch
from model_helpers import TINY_DATASET, base_config_dict

from recbole_llmrec import distributed
from recbole_llmrec.quick_start import parse_args, run


def _single_process_eval(config_dict, checkpoint):
    """Valid/test metrics (and per-domain test metrics) of ``checkpoint`` in this process."""
    from recbole_llmrec.pipeline import build

    built = build("LLMRec", TINY_DATASET, None, config_dict, init_logging=False)
    assert built.config["single_spec"]
    model, trainer, valid, test = built.model, built.trainer, built.valid_data, built.test_data
    test_result = trainer.evaluate(test, load_best_model=True, model_file=checkpoint)
    test_per_domain = trainer.last_per_domain
    valid_result = trainer.evaluate(valid, load_best_model=False)
    return {
        "digest": distributed.state_digest(model),
        "test": dict(test_result),
        "valid": dict(valid_result),
        "test_per_domain": test_per_domain,
    }


def _close(a, b, tol=1e-4):
    assert set(a) == set(b)
    for key in a:
        assert abs(float(a[key]) - float(b[key])) <= tol, (key, a[key], b[key])


def test_two_process_gloo_training_matches_single_process(tmp_path, tiny_lms):
    config_dict = base_config_dict(
        tiny_lms["bert"], checkpoint_dir=str(tmp_path / "saved"), epochs=1,
        train_batch_size=16, eval_batch_size=16, train_prefixes_per_user=2,
        # 29 users: the DistributedSampler pads rank 1 with a repeat of user 0 (counted once)
        user_inter_num_interval="[12,inf)",
        topk=[10, 300],  # a random tiny LM rarely hits the top 10: compare non-zero numbers too
    )
    out = tmp_path / "ddp.json"
    result = run("LLMRec", TINY_DATASET, config_dict=config_dict, result_file=str(out),
                 nproc=2, ip="127.0.0.1", port=distributed.find_free_port())

    assert json.loads(out.read_text()) == result
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
    assert set(result["per_domain"]["test"]) == set(single["test_per_domain"]) == {
        "Beauty", "Toys_and_Games"}
    for domain, metrics in single["test_per_domain"].items():
        _close(result["per_domain"]["test"][domain], metrics)


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


def test_cli_parses_recbole_launch_options():
    args, overrides = parse_args(["--model=LLMRec", "--nproc=8", "--world_size=16",
                                  "--ip=10.0.0.1", "--port=29500", "--group_offset=8",
                                  "--epochs=2"])
    assert (args.nproc, args.world_size, args.ip, args.port, args.group_offset) == (
        8, 16, "10.0.0.1", "29500", 8)
    assert overrides == {"epochs": 2}
