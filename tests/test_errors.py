"""Config and model errors: a clear ValueError before any training starts (issue #6, part 2),
and the safe defaults of model loading (``trust_remote_code`` off)."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from model_helpers import base_config_dict, dataset_words
from recbole_llmrec.model.text.resolve import resolve_llm_path
from recbole_llmrec.model.settings import LMSettings
from recbole_llmrec.runs.quick_start import run

NO_TITLE_COLUMNS = {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "domain"]}


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if RecBole's training loop is ever entered."""
    from recbole.trainer import Trainer

    def fit(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("training started")

    monkeypatch.setattr(Trainer, "fit", fit)


@pytest.fixture
def no_dataset(monkeypatch):
    """Fail the test if the dataset is loaded (errors caught by the config check come first)."""
    import recbole_llmrec.runs.pipeline as pipeline

    def create_dataset(config: Any) -> None:
        raise AssertionError("dataset loaded before the config was checked")

    monkeypatch.setattr(pipeline, "create_dataset", create_dataset)


def _no_specials_lm(opt_folder: Path, folder: Path) -> Path:
    """A copy of the tiny OPT model whose tokenizer has neither a pad nor an EOS token."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    shutil.copytree(opt_folder, folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    vocab = {w: i for i, w in enumerate(["<unk>"] + dataset_words())}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>").save_pretrained(folder)
    return folder


# ------------------------------------------------------------------ caught by the config check
@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"max_history": 0}, "max_history must be >= 1"),
        ({"adaptor_experts": 0}, "adaptor_experts must be >= 1"),
        ({"pooling": "max"}, "pooling must be one of"),
        ({"tuning": "half"}, "tuning must be one of"),
        ({"llm_path": "/no/such/model/folder"}, "neither an existing local folder"),
        ({"llm_path": ""}, "llm_path must be a non-empty string"),
    ],
)
def test_config_errors_before_the_dataset_loads(tiny_lms, no_dataset, overrides, message):
    config = {**base_config_dict(tiny_lms["opt"]), **overrides}
    with pytest.raises(ValueError, match=message):
        run("LLMRec", "tiny_mixed", config_dict=config)


def test_hub_name_offline_fails_without_network(tiny_lms, no_dataset, monkeypatch, tmp_path):
    import socket

    import recbole_llmrec.model.text.resolve as resolve

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(resolve, "_hub_cache_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(ValueError, match="not in the local cache.*offline"):
        run("LLMRec", "tiny_mixed", config_dict=base_config_dict("nosuchorg/nosuchmodel"))
    # a cached hub name is fine offline (transformers reads the cache)
    (tmp_path / "hub" / "models--someorg--cached" / "snapshots" / "abc").mkdir(parents=True)
    assert resolve_llm_path("someorg/cached").source == "hub"
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "true")
    with pytest.raises(ValueError, match="offline"):
        resolve_llm_path("nosuchorg/nosuchmodel")


def test_hub_name_online_is_left_to_the_hub(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    import recbole_llmrec.model.text.resolve as resolve

    monkeypatch.setattr(resolve, "hub_offline", lambda: False)
    assert resolve_llm_path("nosuchorg/nosuchmodel").source == "hub"


# ------------------------------------------------------------------ caught when the model is built
def test_cls_pooling_on_a_decoder_before_training(tiny_lms, no_training):
    with pytest.raises(ValueError, match="pooling 'cls' needs an encoder-only"):
        run("LLMRec", "tiny_mixed", config_dict=base_config_dict(tiny_lms["opt"], pooling="cls"))


def test_dataset_without_titles_before_training(tiny_lms, no_training):
    config = base_config_dict(tiny_lms["opt"], load_col=NO_TITLE_COLUMNS)
    with pytest.raises(ValueError, match="no item field 'title'"):
        run("LLMRec", "tiny_mixed", config_dict=config)


def test_titles_all_empty_raise():
    from recbole_llmrec.data.titles import load_titles

    class Dataset:  # the parts of a RecBole dataset that load_titles reads
        dataset_name = "blank"
        iid_field = "item_id"
        item_num = 3

        def __init__(self) -> None:
            import torch

            self.item_feat = _Feat({"item_id": torch.tensor([1, 2]), "title": torch.tensor([0, 0])})
            self.field2id_token = {"title": ["[PAD]"]}

    with pytest.raises(ValueError, match="every item's 'title' is empty"):
        load_titles(Dataset())


class _Feat(dict):
    @property
    def interaction(self) -> dict:
        return self


def test_tokenizer_without_pad_and_eos_before_training(tiny_lms, tmp_path, no_training):
    folder = _no_specials_lm(tiny_lms["opt"], tmp_path / "no_specials")
    with pytest.raises(ValueError, match="neither a pad token nor an EOS token"):
        run("LLMRec", "tiny_mixed", config_dict=base_config_dict(folder))


def test_tokenizer_without_pad_uses_eos_and_logs_it(tiny_lms, caplog):
    from recbole_llmrec.model.text.text_encoder import TextEncoder

    with caplog.at_level(logging.INFO, logger="recbole_llmrec.model.text.text_encoder"):
        encoder = TextEncoder(LMSettings(llm_path=str(tiny_lms["opt"]), autocast_dtype="fp32"))
    assert encoder.tokenizer.pad_token_id == encoder.tokenizer.eos_token_id
    assert encoder.special.pad_id == encoder.tokenizer.eos_token_id
    assert "no pad token: using EOS" in caplog.text


# ------------------------------------------------------------------ safe defaults
def test_trust_remote_code_is_off_unless_set(tiny_lms, monkeypatch):
    import transformers

    from recbole_llmrec.model.text.text_encoder import TextEncoder

    seen: list = []
    for name in ("AutoConfig", "AutoTokenizer", "AutoModel"):
        cls = getattr(transformers, name)
        original = cls.from_pretrained.__func__

        def spy(klass, *args, _original=original, **kwargs):
            seen.append(kwargs.get("trust_remote_code", "missing"))
            return _original(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    TextEncoder(LMSettings(llm_path=str(tiny_lms["bert"])))
    assert len(seen) >= 3 and all(value is False for value in seen), seen
    seen.clear()
    TextEncoder(LMSettings(llm_path=str(tiny_lms["bert"]), trust_remote_code=True))
    assert seen and all(value is True for value in seen)
