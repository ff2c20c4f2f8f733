"""The experiments' own harness tasks run on the tiny dataset (each in its child process, as the
experiments run them): a user fraction's training, a run with its parameter count, a zero-shot
validation grid of a checkpoint."""
from conftest import TINY_YAML
from model_helpers import SEQUENCE_SETTINGS, base_config_dict
from recbole_llmrec.runs import harness
from recbole_llmrec.runs.harness import RunSpec


def test_user_fraction_and_parameter_count(tmp_path, tiny_config_dict):
    config = dict(tiny_config_dict, show_progress=False)
    half = harness.run(RunSpec("SASRec-half", "SASRec", "tiny_mixed", (str(TINY_YAML),), config,
                               task="experiments.data_fraction:train_user_fraction",
                               options={"fraction": 0.5}), tmp_path)
    assert half["train_users"] == round(0.5 * half["all_train_users"]) and 0 < half["train_rows"]
    assert 0 <= half["test_result"]["ndcg@10"] <= 1 and half["peak_rss_mib"] > 0
    counted = harness.run(RunSpec("SASRec-count", "SASRec", "tiny_mixed", (str(TINY_YAML),), config,
                                  task="experiments.tuning_modes:train_and_count"), tmp_path)
    assert counted["params"]["trainable"] == counted["params"]["total"] > 0
    assert counted["test_result"] and counted["timing"]["train_epochs"]


def test_zero_shot_validation_grid_of_a_checkpoint(tmp_path, tiny_lms):
    config = base_config_dict(tiny_lms["bert"], **SEQUENCE_SETTINGS, epochs=1, checkpoint_dir=str(tmp_path / "saved"))
    trained = harness.run(RunSpec("LLMRec", "LLMRec", "tiny_mixed", config=config), tmp_path)
    grid = harness.run(RunSpec("grid", "LLMRec", "tiny_mixed", config={"data_path": config["data_path"]},
                               task="experiments.leave_one_domain_out:validation_grid",
                               options={"checkpoint": trained["checkpoint"], "grid": [0.0, 4.0]}), tmp_path)
    weights = [p["weight"] for p in grid["grid"]]  # the grid and the configured weight
    assert {0.0, 4.0} <= set(weights) and grid["best_weight"] in weights
    assert grid["trained_on"] == "tiny_mixed" and grid["users"] > 0
