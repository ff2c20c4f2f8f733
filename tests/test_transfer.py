"""Zero-shot transfer: a checkpoint trained on tiny_mixed evaluated on unseen Video_Games items."""
import json

import pytest

from model_helpers import ATOMIC_DIR, build_tiny_lm
from recbole_llmrec.runs.quick_start import main, run
from recbole_llmrec.runs.transfer import evaluate_checkpoint, load_for_evaluation
from conftest import TINY_YAML

AMAZON_LAYOUT = str(TINY_YAML.parent.parent / "properties" / "dataset" / "amazon.yaml")


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return build_tiny_lm("bert", tmp_path_factory.mktemp("lm") / "bert")


def _llmrec_config(tiny_config_dict, llm_path):
    return dict(tiny_config_dict, llm_path=str(llm_path), autocast_dtype="fp32",
                max_title_tokens=8, max_history=5, MAX_ITEM_LIST_LENGTH=5, num_negatives=3)


def test_zero_shot_ranks_only_new_items(tiny_config_dict, tiny_bert, tmp_path):
    trained = run("LLMRec", "tiny_mixed", [str(TINY_YAML)], _llmrec_config(tiny_config_dict, tiny_bert))
    config, model, valid, test, saved = load_for_evaluation(
        trained["checkpoint"], "tiny_videogames", [AMAZON_LAYOUT],
        {"data_path": str(ATOMIC_DIR), "checkpoint_dir": str(tmp_path / "saved")})
    new_items = test._dataset.item_num
    assert saved["dataset"] == "tiny_mixed"
    assert model.n_items == new_items == 160            # 159 Video_Games items + padding
    assert config["max_history"] == 5                    # model settings come from the checkpoint
    batch = next(iter(test))[0]
    assert model.eval().full_sort_predict(batch).shape[1] == new_items
    titles = test._dataset.field2id_token["title"]
    assert any("PlayStation" in t or "Xbox" in t or "Nintendo" in t for t in titles)


def test_zero_shot_cli_writes_result_file(tiny_config_dict, tiny_bert, tmp_path):
    trained = run("LLMRec", "tiny_mixed", [str(TINY_YAML)], _llmrec_config(tiny_config_dict, tiny_bert))
    out = tmp_path / "zs.json"
    argv = [f"--evaluate_checkpoint={trained['checkpoint']}", "--dataset=tiny_videogames",
            f"--config_files={AMAZON_LAYOUT}", f"--data_path={ATOMIC_DIR}",
            f"--result_file={out}"]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert result["dataset"] == "tiny_videogames" and result["trained_on"] == "tiny_mixed"
    assert set(result["per_domain"]["test"]) == {"Video_Games"}
    assert result["test_result"].keys() == trained["test_result"].keys()


def test_id_models_refuse_to_transfer(tiny_config_dict, tmp_path):
    trained = run("SASRec", "tiny_mixed", [str(TINY_YAML)], tiny_config_dict)
    with pytest.raises(ValueError, match="Only text-based models"):
        evaluate_checkpoint(trained["checkpoint"], "tiny_videogames", [AMAZON_LAYOUT],
                            {"data_path": str(ATOMIC_DIR)})
