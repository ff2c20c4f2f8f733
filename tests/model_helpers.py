"""Shared helpers for the tests: tiny random LMs and the committed tiny RecBole dataset (the pytest
fixtures built from them live in ``conftest.py``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from recbole_llmrec.utils import tiny_lm

TESTS_DIR = Path(__file__).resolve().parent
REPO_DIR = TESTS_DIR.parent
ATOMIC_DIR = TESTS_DIR / "data" / "atomic"
TINY_DATASET = "tiny_mixed"
MODEL_YAML = REPO_DIR / "properties" / "model" / "LLMRec.yaml"
ARCHITECTURES = tiny_lm.ARCHITECTURES

logging.getLogger("transformers").setLevel(logging.ERROR)


def dataset_words() -> list[str]:
    """Lower-cased words of the tiny dataset's titles (vocabulary of the word-level test tokenizer)."""
    return tiny_lm.words_of((ATOMIC_DIR / TINY_DATASET / f"{TINY_DATASET}.item").read_text(encoding="utf-8"))


def build_tiny_lm(arch: str, folder: Path) -> Path:
    """A tiny random ``arch`` (bert | opt | t5) LM whose tokenizer knows the tiny dataset's words."""
    return tiny_lm.build_tiny_lm(arch, folder, dataset_words())


#: The default user encoder (sequence), small enough for the tiny LMs.
SEQUENCE_SETTINGS: dict[str, Any] = {
    "user_encoder": "sequence", "tuning": "frozen", "negative_sampling": "full_catalogue", "logit_scale": 1.0,
    "normalize_embeddings": False, "seq_hidden_size": 8, "seq_inner_size": 16, "seq_heads": 2, "seq_dropout": 0.0,
}


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


def train_steps(model: Any, batch: Any, steps: int, lr: float = 1e-2, dropout: bool = True) -> list[float]:
    """Run ``steps`` AdamW steps of ``model`` on one batch; returns the losses.

    ``dropout=False`` steps in eval mode (no dropout, so the loss on one batch must fall), dropping
    cached item tables after every step.
    """
    model.train(dropout)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    losses = []
    for _ in range(steps):
        loss = model.calculate_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if not dropout:
            model.items.invalidate()
        losses.append(float(loss))
    return losses


def close_results(a: Any, b: Any) -> bool:
    """Equal structure (result dicts), numbers within 1e-6."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close_results(a[k], b[k]) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-6
    return a == b
