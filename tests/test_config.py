"""Config layering, resource lookup and the plugin-first registry."""
import sys

import pytest
from recbole.utils import get_model as recbole_get_model

from recbole_llmrec.config.plugin_config import build_config, default_config_files, embedded_data_path, properties_dir
from recbole_llmrec.config.registry import get_model
from conftest import TINY_YAML


def test_resources_found_independent_of_cwd():
    assert (properties_dir() / "overall.yaml").is_file()
    assert (embedded_data_path() / "amazon_mixed" / "amazon_mixed.inter").is_file()


def test_layers_order_model_then_dataset_then_user(tmp_path, tiny_config_dict):
    files = default_config_files("SASRec", "amazon_mixed")
    assert [f.split("properties")[-1] for f in files] == [
        "/overall.yaml", "/model/SASRec.yaml", "/dataset/amazon_mixed.yaml"]
    assert [f.split("properties")[-1] for f in default_config_files("Pop", "amazon_clothing")] == [
        "/overall.yaml", "/dataset/amazon.yaml"]
    user = tmp_path / "user.yaml"
    user.write_text("MAX_ITEM_LIST_LENGTH: 7\n")
    config = build_config("SASRec", "tiny_mixed", [str(TINY_YAML), str(user)],
                          dict(tiny_config_dict, hidden_size=32))
    assert config["MAX_ITEM_LIST_LENGTH"] == 7       # user file beats the model layer
    assert config["hidden_size"] == 32               # config_dict beats files
    assert config["loss_type"] == "CE"               # model layer beats RecBole's default
    assert config["valid_metric"] == "NDCG@10"       # overall layer


def test_embedded_dataset_is_default_data_path():
    config = build_config("Pop", "amazon_mixed")
    assert config["data_path"].startswith(str(embedded_data_path()))


def test_command_line_of_host_process_is_ignored(monkeypatch, tiny_config_dict):
    monkeypatch.setattr(sys, "argv", ["prog", "--hidden_size=999", "--epochs=77"])
    config = build_config("SASRec", "tiny_mixed", [str(TINY_YAML)], tiny_config_dict)
    assert config["hidden_size"] != 999 and config["epochs"] == 1


def test_registry_plugin_first_then_recbole():
    assert get_model("LLMRec").__module__ == "recbole_llmrec.model.llmrec"
    assert get_model("SASRec") is recbole_get_model("SASRec")
    with pytest.raises(ValueError, match="unknown model 'NoSuchModel'"):
        get_model("NoSuchModel")


def test_recbole_own_lookup_finds_plugin_model():
    import recbole_llmrec  # noqa: F401  (registers the plugin)

    assert recbole_get_model("LLMRec") is get_model("LLMRec")


def test_missing_config_file_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        build_config("Pop", "amazon_mixed", [str(tmp_path / "nope.yaml")])


def test_converted_dataset_gets_the_converter_layout_under_any_name(tmp_path, tiny_config_dict):
    """A dataset the converter wrote works under a name that is not amazon_* (no --config_files)."""
    import shutil

    from recbole.data import create_dataset

    from conftest import ATOMIC_DIR

    target = tmp_path / "data" / "beauty_toys_all"
    target.mkdir(parents=True)
    for suffix in ("inter", "item"):
        shutil.copy(ATOMIC_DIR / "tiny_mixed" / f"tiny_mixed.{suffix}", target / f"beauty_toys_all.{suffix}")
    config = build_config("Pop", "beauty_toys_all", None,
                          dict(tiny_config_dict, data_path=str(tmp_path / "data")))
    assert config["load_col"] == {"inter": ["user_id", "item_id", "timestamp"],
                                  "item": ["item_id", "title", "domain"]}
    assert len(create_dataset(config).inter_feat) > 0
    # a dataset in another layout gets RecBole's defaults, as before
    (target / "beauty_toys_all.inter").write_text("user_id:token\titem_id:token\trating:float\n")
    config = build_config("Pop", "beauty_toys_all", None,
                          dict(tiny_config_dict, data_path=str(tmp_path / "data")))
    assert config["load_col"] != {"inter": ["user_id", "item_id", "timestamp"],
                                  "item": ["item_id", "title", "domain"]}
