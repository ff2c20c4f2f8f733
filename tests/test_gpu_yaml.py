"""properties/model/LLMRec-gpu.yaml: a documented config layer that builds and validates on any machine."""
import re

from conftest import ATOMIC_DIR
from recbole_llmrec.config.plugin_config import build_config, properties_dir
from recbole_llmrec.model.settings import LLMRecSettings

GPU_YAML = properties_dir() / "model" / "LLMRec-gpu.yaml"


def test_every_key_is_documented_with_a_type():
    keys = [line for line in GPU_YAML.read_text().splitlines() if re.match(r"^\w", line)]
    assert keys
    for line in keys:
        assert re.search(r"# \((bool|int|float|str|dict|list)[^)]*\) \S", line), line


def test_gpu_layer_builds_and_validates_without_a_gpu(tmp_path):
    config = build_config("LLMRec", "tiny_mixed", [str(GPU_YAML)],
                          {"data_path": str(ATOMIC_DIR), "checkpoint_dir": str(tmp_path)})
    assert config["train_batch_size"] == 128 and config["pack_min_efficiency"] == 0.75
    settings = LLMRecSettings.from_config(config)
    assert settings.lm.autocast_dtype == "auto" and settings.lm.max_title_tokens == 40



def test_paper_layer_builds():
    path = properties_dir() / "model" / "LLMRec-paper.yaml"
    config = build_config("LLMRec", "amazon_mixed", [str(path)])
    assert config["negative_sampling"] == "in_domain" and config["max_history"] == 10
    assert config["train_prefixes_per_user"] is None
