"""Helpers of the serving tests: tiny checkpoints trained the RecBole way, and their model folders."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import TINY_YAML
from model_helpers import ATOMIC_DIR, build_tiny_lm
from recbole_llmrec.runs.quick_start import run

AMAZON_LAYOUT = str(TINY_YAML.parent.parent / "properties" / "dataset" / "amazon.yaml")


def train_tiny(root: Path, model: str = "LLMRec", lm: Any = None, **overrides: Any) -> dict:
    """``model`` trained one epoch on tiny_mixed (a tiny BERT under ``root`` unless ``lm`` is given);
    returns ``run()``'s result (``checkpoint``, ``test_result``, ...)."""
    config = {"data_path": str(ATOMIC_DIR), "checkpoint_dir": str(root / "saved"), "epochs": 1,
              "seed": 2020, "show_progress": False}
    if model in ("LLMRec", "TitleKNN"):
        lm = lm or build_tiny_lm("bert", root / "bert")
        config.update(llm_path=str(lm), autocast_dtype="fp32", max_title_tokens=8, MAX_ITEM_LIST_LENGTH=5)
        if model == "LLMRec":
            config.update(max_history=5)
        else:
            config.update(epochs=0)
    config.update(overrides)
    return run(model, "tiny_mixed", [str(TINY_YAML)], config)
